//! wakeup: consumes the delay queue. A timer is still live when its contact exists and
//! (for a run's wait) the run still waits at that wait; a live timer becomes work for the
//! contact (the FIFO work queue keeps it in order with everything else). A stale one is
//! dropped. A timer that arrives early (rounding) goes back with its remaining delay.

use super::record;
use crate::app::Aws;
use crate::queues::TimerMessage;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use kairos_core::engine::Input;
use kairos_core::model::contact::ContactState;
use kairos_core::ports::{ContactStore, PortError, WorkItem, WorkQueue};
use kairos_core::Timer;

/// The wakeup function.
pub struct Wakeup {
    /// The AWS ports.
    pub aws: Aws,
}

/// What became of a timer.
#[derive(Debug, PartialEq, Eq)]
pub enum Fate {
    /// Live: handed to the contact's work queue.
    Handed,
    /// Nothing waits for it any more (or the contact is gone): dropped.
    Stale,
    /// Arrived before its time: back on the delay queue with the rest of its delay.
    Early,
}

impl Wakeup {
    /// One batch of delay-queue records.
    pub async fn handle(&self, event: SqsEvent, now: DateTime<Utc>) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for record in &event.records {
            let outcome = match record::body::<TimerMessage>(record) {
                Ok(message) => self
                    .one(message.timer, now)
                    .await
                    .map_err(|e| e.to_string()),
                Err(poison) => Err(poison),
            };
            match outcome {
                Ok(fate) => tracing::info!(message_id = ?record.message_id, ?fate, "timer"),
                Err(reason) => record::fail(&mut response, record, &reason),
            }
        }
        response
    }

    /// One timer, and what became of it.
    pub async fn one(&self, timer: Timer, now: DateTime<Utc>) -> Result<Fate, PortError> {
        if timer.due > now {
            self.aws.queues.send_to_delay_queue(&timer, now).await?;
            return Ok(Fate::Early);
        }
        // A filter before the engine, which decides again on its own read: a recent read
        // that shows the timer live hands it on (a contact deleted meanwhile, or a run
        // moved on, is found so there); one that does not is confirmed, as the timer
        // may belong to a save of the last moment. No tombstone to read: a deleted contact
        // is not found, and one created again lifted it — the engine's check of the run's
        // wait and due time is the same either way.
        let live =
            |state: &Option<ContactState>| state.as_ref().is_some_and(|s| s.timer_is_live(&timer));
        if !live(&self.aws.table.peek(&timer.contact).await?)
            && !live(&self.aws.table.load(&timer.contact).await?)
        {
            return Ok(Fate::Stale);
        }
        let item = WorkItem {
            contact: timer.contact.clone(),
            at: timer.due,
            input: Input::Timer(timer),
        };
        self.aws.queues.push(item).await?;
        Ok(Fate::Handed)
    }
}
