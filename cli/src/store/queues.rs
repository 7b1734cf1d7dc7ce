//! The work queue, the dispatch queue and the timers. The pipeline loop reads an entry
//! ([`Store::next_work`], [`Store::next_job`]) and acknowledges it only once its effect is
//! stored ([`Store::ack_work`], [`Store::ack_job`]): a crash in between leaves the entry
//! to be taken again, and the claims and fingerprints make that harmless.

use chrono::{DateTime, Utc};
use kairos_core::ports::{DispatchJob, DispatchQueue, PortError, TimerQueue, WorkItem, WorkQueue};
use kairos_core::Timer;
use rusqlite::{params, OptionalExtension};

use super::contacts::micros;
use super::{db, from_json, to_json, Store};

fn job_contact(job: &DispatchJob) -> &str {
    match job {
        DispatchJob::Message(m) => &m.contact,
        DispatchJob::Webhook(w) => &w.contact,
    }
}

impl Store {
    /// The oldest queued work item and its place in the queue, left in it.
    pub fn next_work(&self) -> Result<Option<(i64, WorkItem)>, PortError> {
        loop {
            let row: Option<(i64, String)> = self
                .conn()
                .prepare_cached("SELECT seq, item FROM work ORDER BY seq LIMIT 1")
                .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
                .map_err(|e| db("read the work queue", e))?;
            let Some((seq, text)) = row else {
                return Ok(None);
            };
            // A row this build cannot read (written by a newer one, damaged) is set aside
            // rather than blocking everything queued behind it.
            match from_json("work item", &text) {
                Ok(item) => return Ok(Some((seq, item))),
                Err(e) => self.bury("work", seq, &e, chrono::Utc::now())?,
            }
        }
    }

    /// Removes a work item whose effect is stored.
    pub fn ack_work(&self, seq: i64) -> Result<(), PortError> {
        self.conn()
            .prepare_cached("DELETE FROM work WHERE seq = ?1")
            .and_then(|mut s| s.execute([seq]))
            .map_err(|e| db("acknowledge work", e))?;
        Ok(())
    }

    /// The next dispatch job due at `now`, left in the queue.
    pub fn next_job(&self, now: DateTime<Utc>) -> Result<Option<(i64, DispatchJob)>, PortError> {
        loop {
            let row: Option<(i64, String)> = self
                .conn()
                .prepare_cached(
                    "SELECT seq, job FROM dispatch WHERE due <= ?1 ORDER BY due, seq LIMIT 1",
                )
                .and_then(|mut s| {
                    s.query_row([micros(now)], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                })
                .map_err(|e| db("read the dispatch queue", e))?;
            let Some((seq, text)) = row else {
                return Ok(None);
            };
            match from_json("dispatch job", &text) {
                Ok(job) => return Ok(Some((seq, job))),
                Err(e) => self.bury("dispatch", seq, &e, now)?,
            }
        }
    }

    /// Removes a job that is done (or queued again under a new entry).
    pub fn ack_job(&self, seq: i64) -> Result<(), PortError> {
        self.conn()
            .prepare_cached("DELETE FROM dispatch WHERE seq = ?1")
            .and_then(|mut s| s.execute([seq]))
            .map_err(|e| db("acknowledge a job", e))?;
        Ok(())
    }

    /// Moves a work item (`queue = "work"`) or job (`"dispatch"`) that cannot be processed
    /// to `dead_letters`, with the error, so it stops blocking the queue behind it.
    pub fn bury(
        &self,
        queue: &str,
        seq: i64,
        error: &PortError,
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        let table = if queue == "work" { "work" } else { "dispatch" };
        let column = if queue == "work" { "item" } else { "job" };
        let mut conn = self.conn();
        // A savepoint: it may run inside the batch's transaction as well as alone.
        let tx = conn.savepoint().map_err(|e| db("bury", e))?;
        tx.execute(
            &format!("INSERT INTO dead_letters (queue, body, error, at) SELECT ?1, {column}, ?2, ?3 FROM {table} WHERE seq = ?4"),
            params![queue, error.to_string(), now.to_rfc3339(), seq],
        )
        .map_err(|e| db("bury", e))?;
        tx.execute(&format!("DELETE FROM {table} WHERE seq = ?1"), [seq])
            .map_err(|e| db("bury", e))?;
        tx.commit().map_err(|e| db("bury", e))
    }

    /// Holds a job whose provider failed in a way worth retrying until `until`.
    pub fn retry_job_at(&self, seq: i64, until: DateTime<Utc>) -> Result<(), PortError> {
        self.conn()
            .execute(
                "UPDATE dispatch SET due = ?1 WHERE seq = ?2",
                params![micros(until), seq],
            )
            .map_err(|e| db("hold a job", e))?;
        Ok(())
    }

    /// How many work items and dispatch jobs are queued (for tests and the console).
    pub fn queued(&self) -> Result<(u64, u64), PortError> {
        self.conn()
            .query_row(
                "SELECT (SELECT count(*) FROM work), (SELECT count(*) FROM dispatch)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| db("count the queues", e))
    }
}

impl WorkQueue for Store {
    async fn push(&self, item: WorkItem) -> Result<(), PortError> {
        let text = to_json(&item)?;
        self.conn()
            .prepare_cached("INSERT INTO work (contact, item) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![item.contact, text]))
            .map_err(|e| db("queue work", e))?;
        Ok(())
    }

    async fn push_all(&self, items: Vec<WorkItem>) -> Result<(), PortError> {
        let texts = items
            .iter()
            .map(|item| Ok((item.contact.as_str(), to_json(item)?)))
            .collect::<Result<Vec<_>, PortError>>()?;
        let _turn = self.write_turn().await;
        let mut conn = self.conn();
        // A savepoint: one commit when alone (an accepted request), and inside the batch's
        // transaction when the evaluator hands work on (a merge's hand-over).
        let tx = conn.savepoint().map_err(|e| db("queue work", e))?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO work (contact, item) VALUES (?1, ?2)")
                .map_err(|e| db("queue work", e))?;
            for (contact, text) in texts {
                insert
                    .execute(params![contact, text])
                    .map_err(|e| db("queue work", e))?;
            }
        }
        tx.commit().map_err(|e| db("queue work", e))
    }

    async fn pop(&self) -> Result<Option<WorkItem>, PortError> {
        let Some((seq, item)) = self.next_work()? else {
            return Ok(None);
        };
        self.ack_work(seq)?;
        Ok(Some(item))
    }
}

impl DispatchQueue for Store {
    async fn push(
        &self,
        job: DispatchJob,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<(), PortError> {
        let due = not_before.map_or(0, micros);
        let text = to_json(&job)?;
        self.conn()
            .prepare_cached("INSERT INTO dispatch (due, contact, job) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![due, job_contact(&job), text]))
            .map_err(|e| db("queue a job", e))?;
        Ok(())
    }

    async fn pop_due(&self, now: DateTime<Utc>) -> Result<Option<DispatchJob>, PortError> {
        let Some((seq, job)) = self.next_job(now)? else {
            return Ok(None);
        };
        self.ack_job(seq)?;
        Ok(Some(job))
    }

    async fn next_held(&self) -> Result<Option<DateTime<Utc>>, PortError> {
        let due: Option<i64> = self
            .conn()
            .query_row("SELECT min(due) FROM dispatch WHERE due > 0", [], |r| {
                r.get(0)
            })
            .map_err(|e| db("read the dispatch queue", e))?;
        Ok(due.and_then(DateTime::from_timestamp_micros))
    }
}

impl TimerQueue for Store {
    async fn schedule(&self, timer: Timer) -> Result<(), PortError> {
        let text = to_json(&timer)?;
        self.conn()
            .prepare_cached(
                "INSERT OR IGNORE INTO timers (due, key, contact, timer) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| {
                s.execute(params![micros(timer.due), timer.key(), timer.contact, text])
            })
            .map_err(|e| db("schedule a timer", e))?;
        Ok(())
    }

    /// Removes and returns the timers due at `now`, earliest first. The loop calls it
    /// inside the transaction that queues them as work, so a timer is never removed and
    /// then lost. Rows are ordered by microseconds; a timer's own time decides.
    async fn take_due(&self, now: DateTime<Utc>) -> Result<Vec<Timer>, PortError> {
        let conn = self.conn();
        let rows: Vec<(i64, String, String)> = conn
            .prepare_cached("SELECT due, key, timer FROM timers WHERE due <= ?1 ORDER BY due, key")
            .and_then(|mut s| {
                s.query_map([micros(now)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(|e| db("read timers", e))?;
        let mut taken = Vec::new();
        let mut delete = conn
            .prepare_cached("DELETE FROM timers WHERE due = ?1 AND key = ?2")
            .map_err(|e| db("take timers", e))?;
        for (due, key, text) in rows {
            let timer: Timer = match from_json("timer", &text) {
                Ok(timer) => timer,
                // Unreadable: set aside with the error, not left to stop every round.
                Err(e) => {
                    conn.execute(
                        "INSERT INTO dead_letters (queue, body, error, at) VALUES ('timers', ?1, ?2, ?3)",
                        params![text, e.to_string(), now.to_rfc3339()],
                    )
                    .map_err(|e| db("bury a timer", e))?;
                    delete
                        .execute(params![due, key])
                        .map_err(|e| db("take timers", e))?;
                    continue;
                }
            };
            if timer.due <= now {
                delete
                    .execute(params![due, key])
                    .map_err(|e| db("take timers", e))?;
                taken.push(timer);
            }
        }
        taken.sort();
        Ok(taken)
    }

    /// When the earliest timer is due, to the nanosecond it was asked for.
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, PortError> {
        let row: Option<(i64, String)> = self
            .conn()
            .query_row(
                "SELECT due, timer FROM timers ORDER BY due, key LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| db("read timers", e))?;
        // An unreadable timer is due at its row's time, when `take_due` sets it aside.
        Ok(
            row.and_then(|(due, text)| match from_json::<Timer>("timer", &text) {
                Ok(timer) => Some(timer.due),
                Err(_) => DateTime::from_timestamp_micros(due),
            }),
        )
    }
}
