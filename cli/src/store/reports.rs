//! Report counters kept as the journal grows: `GET /v1/workflows/{id}/report` (and the
//! workflow list) count only the entries stored since they last answered, instead of
//! reading a workflow's whole journal every time — milliseconds at 100k contacts, where
//! reading the journal took seconds. Counted from the database, never from an append on
//! its way in, so an input rolled back is never counted; a contact deleted (its entries
//! gone) makes the counters of the workflows it was in start again (the next report reads
//! their journal once). The counters live as long as the process and grow with the runs
//! counted (each run's position, feedback and branch), like the simulator's report.

use std::collections::BTreeMap;

use kairos_core::ports::PortError;
use kairos_core::report::{Tally, WorkflowReport};
use kairos_core::{Catalog, JournalEntry};
use rusqlite::{Connection, OptionalExtension};

use super::{db, from_json, schema, Store};

/// The counters of one workflow: what they counted up to, and since which deletion.
#[derive(Default)]
struct Counted {
    deletions: i64,
    upto: i64,
    tally: Tally,
}

/// Every workflow's counters and the connection they read through (its own: a report
/// catching up holds up other reports, not the API's other requests).
#[derive(Default)]
pub(super) struct Reports {
    conn: Option<Connection>,
    by_workflow: BTreeMap<String, Counted>,
}

impl Store {
    /// `workflow`'s report from its counters, brought up to date first.
    pub(super) fn counted_report(
        &self,
        workflow: &str,
        catalog: &Catalog,
    ) -> Result<Option<WorkflowReport>, PortError> {
        let mut reports = self
            .shared
            .reports
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let Reports { conn, by_workflow } = &mut *reports;
        let conn = match conn {
            Some(conn) => conn,
            None => conn.insert(schema::connect(&self.shared.path, self.shared.durability)?),
        };
        // One read transaction: the deletion count and the entries from one snapshot.
        let tx = conn
            .unchecked_transaction()
            .map_err(|e| db("read the journal", e))?;
        let deletions: i64 = tx
            .query_row(
                "SELECT count FROM workflow_deletions WHERE workflow = ?1",
                [workflow],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| db("read the journal", e))?
            .unwrap_or(0);
        let counted = by_workflow.entry(workflow.to_string()).or_default();
        if counted.deletions != deletions {
            *counted = Counted {
                deletions,
                ..Counted::default()
            };
        }
        let mut statement = tx
            .prepare_cached(
                "SELECT seq, entry FROM journal WHERE workflow = ?1 AND seq > ?2 ORDER BY seq",
            )
            .map_err(|e| db("read the journal", e))?;
        let mut rows = statement
            .query(rusqlite::params![workflow, counted.upto])
            .map_err(|e| db("read the journal", e))?;
        while let Some(row) = rows.next().map_err(|e| db("read the journal", e))? {
            let seq: i64 = row.get(0).map_err(|e| db("read the journal", e))?;
            let text: String = row.get(1).map_err(|e| db("read the journal", e))?;
            let entry: JournalEntry = from_json("journal entry", &text)?;
            counted.tally.add(&entry);
            counted.upto = seq;
        }
        drop(rows);
        drop(statement);
        tx.commit().map_err(|e| db("read the journal", e))?;
        Ok(counted.tally.workflow_report(workflow, catalog))
    }
}
