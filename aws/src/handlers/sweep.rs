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
        // Every due timer, page by page, the shards in parallel, within the time budget:
        // each batch of ten is put on the delay queue first and removed from the index
        // after (only what SQS took), so neither a failure part-way nor the timeout loses
        // one (a crash in between sends some twice; the engine takes a timer once, and a
        // stale one does nothing). What the budget leaves waits for the next minute; a
        // shard that fails stops, the others go on, and the sweep reports the failure.
        let until = now + Duration::seconds(MAX_DELAY_SECONDS);
        let deadline = std::time::Instant::now() + SWEEP_BUDGET;
        let mut shards = tokio::task::JoinSet::new();
        for shard in 0..TIMER_SHARDS {
            let aws = self.aws.clone();
            shards.spawn(async move { sweep_shard(&aws, shard, now, until, deadline).await });
        }
        let mut failure = None;
        while let Some(joined) = shards.join_next().await {
            match joined {
                Ok((moved, result)) => {
                    swept.timers += moved;
                    if let Err(e) = result {
                        failure.get_or_insert(e);
                    }
                }
                Err(e) => {
                    failure.get_or_insert(PortError::Failed {
                        what: "sweep a timer shard".into(),
                        detail: e.to_string(),
                    });
                }
            }
        }
        if let Some(e) = &failure {
            tracing::warn!(moved = swept.timers, error = %e, "timers left for the next sweep");
        }
        for (workflow, cursor) in self.aws.table.fanouts().await? {
            let (contacts, next) = self.aws.table.contacts_after(&cursor, FANOUT_PAGE).await?;
            let items: Vec<WorkItem> = contacts
                .into_iter()
                .map(|contact| WorkItem {
                    contact,
                    input: Input::EnrollExisting {
                        workflow: workflow.clone(),
                    },
                    at: now,
                })
                .collect();
            swept.enrolled += items.len();
            self.aws.queues.push_all(items).await?;
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
        // A timer failure does not keep fan-outs, broadcasts and decisions waiting; it is
        // reported once they ran.
        match failure {
            Some(e) => Err(e),
            None => Ok(swept),
        }
    }
}

/// Moves `shard`'s due timers onto the delay queue until none is left or `deadline`
/// passes (checked before every batch); how many it moved, and the first failure. A batch
/// SQS takes in part does not stop the shard: the refused timers stay in the index for the
/// next minute, the rest go on.
async fn sweep_shard(
    aws: &Aws,
    shard: u32,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    deadline: std::time::Instant,
) -> (usize, Result<(), PortError>) {
    let mut moved = 0;
    let mut failure = None;
    let mut start = None;
    loop {
        let (page, next) = match aws.table.due_timers(shard, until, start).await {
            Ok(page) => page,
            Err(e) => return (moved, Err(e)),
        };
        // Sent, to be removed: after the sends, 25 to a batch write.
        let mut sent_keys = Vec::new();
        // Out of time, or SQS failed a whole call: this shard stops after the removals.
        let mut stop = false;
        for batch in page.chunks(10) {
            if std::time::Instant::now() >= deadline {
                stop = true;
                break;
            }
            let timers: Vec<_> = batch.iter().map(|(timer, _)| timer.clone()).collect();
            let sent = match aws.queues.send_timers_to_delay_queue(&timers, now).await {
                Ok(sent) => sent,
                Err(e) => {
                    failure = Some(e);
                    stop = true;
                    break;
                }
            };
            let taken = sent.iter().filter(|s| **s).count();
            if taken < batch.len() && failure.is_none() {
                failure = Some(PortError::Unavailable {
                    what: "send to the delay queue".into(),
                    detail: format!("SQS took {taken} of {} timers", batch.len()),
                });
            }
            sent_keys.extend(
                batch
                    .iter()
                    .zip(&sent)
                    .filter(|(_, sent)| **sent)
                    .map(|((_, key), _)| key.clone()),
            );
        }
        let taken = sent_keys.len();
        if let Err(e) = aws.table.remove_timers(sent_keys).await {
            return (moved, Err(e));
        }
        moved += taken;
        match (next, stop) {
            (Some(next), false) => start = Some(next),
            _ => return (moved, failure.map_or(Ok(()), Err)),
        }
    }
}
