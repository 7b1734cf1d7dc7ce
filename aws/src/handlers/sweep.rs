//! sweep: runs every minute (EventBridge schedule). Moves indexed timers due within 15
//! minutes onto the delay queue with their exact remaining delay (date triggers are timers
//! too), and works through `enroll_existing` fan-outs a bounded page at a time.

use crate::app::Aws;
use crate::queues::MAX_DELAY_SECONDS;
use chrono::{DateTime, Duration, Utc};
use kairos_core::engine::Input;
use kairos_core::ports::{PortError, WorkItem, WorkQueue};
use serde::Serialize;

/// Contacts enrolled per fan-out per sweep: bounded so one run stays well inside its timeout.
pub const FANOUT_PAGE: i32 = 500;

/// The sweep function.
pub struct Sweep {
    /// The AWS ports.
    pub aws: Aws,
}

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
/// What one sweep did (its answer, and its log line).
pub struct Swept {
    /// Timers moved onto the delay queue.
    pub timers: usize,
    /// Contacts offered to `enroll_existing` workflows.
    pub enrolled: usize,
}

impl Sweep {
    /// One sweep at `now`.
    pub async fn run(&self, now: DateTime<Utc>) -> Result<Swept, PortError> {
        let mut swept = Swept::default();
        for timer in self
            .aws
            .table
            .take_timers(now + Duration::seconds(MAX_DELAY_SECONDS))
            .await?
        {
            self.aws.queues.send_to_delay_queue(&timer, now).await?;
            swept.timers += 1;
        }
        for (workflow, cursor) in self.aws.table.fanouts().await? {
            let (contacts, next) = self.aws.table.contacts_after(&cursor, FANOUT_PAGE).await?;
            for contact in contacts {
                let input = Input::EnrollExisting {
                    workflow: workflow.clone(),
                };
                self.aws
                    .queues
                    .push(WorkItem {
                        contact,
                        input,
                        at: now,
                    })
                    .await?;
                swept.enrolled += 1;
            }
            self.aws.table.advance_fanout(&workflow, next).await?;
        }
        Ok(swept)
    }
}
