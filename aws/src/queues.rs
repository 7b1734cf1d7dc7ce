//! SQS: the per-contact work queue (FIFO, message group = contact), the delay queue for
//! timers due within 15 minutes (exact `DelaySeconds`), and the dispatch queue. Bodies
//! carry keys; payloads live in the contact's partition (see `table`).

use aws_sdk_sqs::Client;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::names::Names;
use super::port_error;
use super::table::Table;
use kairos_core::keys::short_hash;
use kairos_core::model::effect::Timer;
use kairos_core::ports::{DispatchJob, DispatchQueue, PortError, TimerQueue, WorkItem, WorkQueue};

/// SQS delays stop at 15 minutes; later timers wait in the table's index for the sweep.
pub const MAX_DELAY_SECONDS: i64 = 900;

/// A work-queue or dispatch-queue message body: whose, and which stored payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadRef {
    /// Whose payload.
    pub contact: String,
    /// The payload's key in the contact's partition.
    pub key: String,
}

/// A delay-queue message body: the timer itself (ids and a time, nothing personal).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerMessage {
    /// The timer to wake.
    pub timer: Timer,
}

#[derive(Clone)]
/// The three queues, and the table their payloads and far timers live in.
pub struct Queues {
    /// SQS.
    pub sqs: Client,
    /// Where payloads and the timer index are.
    pub table: Table,
    /// Where the queues are.
    pub names: Names,
}

fn body_error(what: &str, e: serde_json::Error) -> PortError {
    PortError::Failed {
        what: what.into(),
        detail: e.to_string(),
    }
}

impl Queues {
    /// Puts a timer on the delay queue with the exact remaining delay (at most 15 minutes).
    pub async fn send_to_delay_queue(
        &self,
        timer: &Timer,
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        // Rounded up to the next whole second (SQS delays are whole seconds): a wake-up may
        // be up to a second late, never early.
        let millis = (timer.due - now).num_milliseconds().max(0);
        let delay = ((millis + 999) / 1000).min(MAX_DELAY_SECONDS) as i32;
        let body = serde_json::to_string(&TimerMessage {
            timer: timer.clone(),
        })
        .map_err(|e| body_error("timer", e))?;
        self.sqs
            .send_message()
            .queue_url(&self.names.delay_queue_url)
            .message_body(body)
            .delay_seconds(delay)
            .send()
            .await
            .map_err(|e| port_error("send to the delay queue", e))?;
        Ok(())
    }

    /// Receives one message from a queue and deletes it (in-process polling for `kairos
    /// serve --aws-endpoint`; on Lambda the event source mapping does this).
    pub async fn receive_one(&self, queue_url: &str) -> Result<Option<String>, PortError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(1)
            .send()
            .await
            .map_err(|e| port_error("receive", e))?;
        let Some(message) = out.messages.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        if let Some(handle) = message.receipt_handle() {
            self.sqs
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .map_err(|e| port_error("delete a message", e))?;
        }
        Ok(message.body)
    }
}

impl WorkQueue for Queues {
    async fn push(&self, item: WorkItem) -> Result<(), PortError> {
        let key = item.key();
        self.table.put_payload(&item.contact, &key, &item).await?;
        let body = serde_json::to_string(&PayloadRef {
            contact: item.contact.clone(),
            key: key.clone(),
        })
        .map_err(|e| body_error("work item", e))?;
        self.sqs
            .send_message()
            .queue_url(&self.names.work_queue_url)
            .message_body(body)
            .message_group_id(short_hash(&item.contact))
            .message_deduplication_id(key)
            .send()
            .await
            .map_err(|e| port_error("send to the work queue", e))?;
        Ok(())
    }

    async fn pop(&self) -> Result<Option<WorkItem>, PortError> {
        let Some(body) = self.receive_one(&self.names.work_queue_url).await? else {
            return Ok(None);
        };
        let reference: PayloadRef =
            serde_json::from_str(&body).map_err(|e| body_error("work message", e))?;
        let item = self
            .table
            .payload(&reference.contact, &reference.key)
            .await?;
        self.table
            .delete_payload(&reference.contact, &reference.key)
            .await?;
        Ok(item)
    }
}

impl DispatchQueue for Queues {
    async fn push(
        &self,
        job: DispatchJob,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<(), PortError> {
        let (contact, key) = match &job {
            DispatchJob::Message(m) => (m.contact.clone(), format!("m-{}", short_hash(&m.key))),
            DispatchJob::Webhook(w) => (w.contact.clone(), format!("h-{}", short_hash(&w.key))),
        };
        self.table.put_payload(&contact, &key, &job).await?;
        let delay = not_before.map_or(0, |t| {
            (t - Utc::now()).num_seconds().clamp(0, MAX_DELAY_SECONDS)
        }) as i32;
        let body = serde_json::to_string(&PayloadRef { contact, key })
            .map_err(|e| body_error("dispatch job", e))?;
        self.sqs
            .send_message()
            .queue_url(&self.names.dispatch_queue_url)
            .message_body(body)
            .delay_seconds(delay)
            .send()
            .await
            .map_err(|e| port_error("send to the dispatch queue", e))?;
        Ok(())
    }

    async fn pop_due(&self, _now: DateTime<Utc>) -> Result<Option<DispatchJob>, PortError> {
        let Some(body) = self.receive_one(&self.names.dispatch_queue_url).await? else {
            return Ok(None);
        };
        let reference: PayloadRef =
            serde_json::from_str(&body).map_err(|e| body_error("dispatch message", e))?;
        self.table.payload(&reference.contact, &reference.key).await
    }

    async fn next_held(&self) -> Result<Option<DateTime<Utc>>, PortError> {
        // SQS holds delayed messages itself and hands them out when due.
        Ok(None)
    }
}

impl TimerQueue for Queues {
    async fn schedule(&self, timer: Timer) -> Result<(), PortError> {
        let now = Utc::now();
        if (timer.due - now).num_seconds() <= MAX_DELAY_SECONDS {
            self.send_to_delay_queue(&timer, now).await
        } else {
            self.table.put_timer(&timer).await
        }
    }

    async fn take_due(&self, now: DateTime<Utc>) -> Result<Vec<Timer>, PortError> {
        self.table.take_timers(now).await
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, PortError> {
        self.table.next_timer().await
    }
}
