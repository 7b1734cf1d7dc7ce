//! sweep: runs every minute (EventBridge schedule). Moves indexed timers due within 15
//! minutes onto the delay queue with their exact remaining delay (date triggers are timers
//! too), works through `enroll_existing` fan-outs a bounded page at a time, fires
//! broadcasts whose time has come and fans out broadcast runs the same way.

use crate::app::Aws;
use crate::queues::MAX_DELAY_SECONDS;
use crate::table::TIMER_SHARDS;
use chrono::{DateTime, Duration, Utc};
use kairos_core::engine::Input;
use kairos_core::ports::{CatalogStore, PortError, WorkItem, WorkQueue};
use kairos_core::service::{broadcasts, experiments};
use serde::Serialize;

/// Contacts enrolled per fan-out per sweep: bounded so one run stays well inside its timeout.
pub const FANOUT_PAGE: i32 = 500;
/// Broadcast fan-out pages per sweep (of `broadcasts::PAGE` contacts each).
const BROADCAST_PAGES_PER_SWEEP: usize = 20;
/// How long a sweep moves timers before it stops paging (the function's timeout is 50 s;
/// the fan-outs come after).
const SWEEP_BUDGET: std::time::Duration = std::time::Duration::from_secs(35);

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
    /// Experiments whose winner was decided.
    pub winners: usize,
    /// Broadcast fan-out pages worked.
    pub broadcast_pages: usize,
}

impl Sweep {
    /// One sweep at `now`.
    pub async fn run(&self, now: DateTime<Utc>) -> Result<Swept, PortError> {
        let mut swept = Swept::default();
        // Every due timer, page by page, within the time budget: each is put on the delay
        // queue first and removed from the index after, so neither a failure part-way nor
        // the timeout loses one (a crash in between sends it twice; the engine takes a
        // timer once, and a stale one does nothing). What the budget leaves waits for the
        // next minute.
        let until = now + Duration::seconds(MAX_DELAY_SECONDS);
        let deadline = std::time::Instant::now() + SWEEP_BUDGET;
        'shards: for shard in 0..TIMER_SHARDS {
            let mut start = None;
            loop {
                if std::time::Instant::now() >= deadline {
                    break 'shards;
                }
                let (page, next) = self.aws.table.due_timers(shard, until, start).await?;
                for (timer, key) in page {
                    self.aws.queues.send_to_delay_queue(&timer, now).await?;
                    self.aws.table.remove_timer(key).await?;
                    swept.timers += 1;
                }
                match next {
                    Some(next) => start = Some(next),
                    None => break,
                }
            }
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
        // Broadcasts: those whose time has come fire, running runs fan out a page at a
        // time within what is left of the budget (the rest next minute).
        let pages = BROADCAST_PAGES_PER_SWEEP;
        let (worked, _) = broadcasts::work(
            &self.aws.table,
            &self.aws.table,
            &self.aws.queues,
            now,
            pages,
        )
        .await?;
        swept.broadcast_pages = worked;
        // Experiments with `winner:` that are due are decided here, once a minute.
        let catalog = self.aws.table.catalog().await?;
        let decisions = experiments::due_decisions(&self.aws.table, &catalog, now).await?;
        experiments::record(&self.aws.table, &self.aws.table, &decisions).await?;
        swept.winners = decisions.len();
        Ok(swept)
    }
}
