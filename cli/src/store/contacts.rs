//! Contact partitions (versioned), tombstones, the journal and claims.

use chrono::{DateTime, Utc};
use kairos_core::model::journal::batch_fingerprint;
use kairos_core::ports::{ContactStore, PortError};
use kairos_core::report::WorkflowReport;
use kairos_core::{Catalog, ContactState, JournalEntry};
use rusqlite::{params, OptionalExtension};

use super::{db, from_json, to_json, Store};

/// Claims older than this can no longer matter (redeliveries and client retries come
/// within minutes; SQS keeps a message at most 14 days) and are pruned.
const CLAIM_DAYS: i64 = 30;

impl Store {
    /// Removes claims older than [`CLAIM_DAYS`]; how many.
    pub fn prune_claims(&self, now: DateTime<Utc>) -> Result<usize, PortError> {
        let before = (now - chrono::Duration::days(CLAIM_DAYS)).timestamp();
        self.conn()
            .execute("DELETE FROM claims WHERE at < ?1", [before])
            .map_err(|e| db("prune claims", e))
    }
}

/// The microseconds since the epoch rows are ordered by.
pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

impl ContactStore for Store {
    async fn load(&self, contact: &str) -> Result<Option<ContactState>, PortError> {
        let row: Option<(i64, String)> = self
            .conn()
            .prepare_cached("SELECT version, state FROM contacts WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row([contact], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(|e| db("load a contact", e))?;
        let Some((version, text)) = row else {
            return Ok(None);
        };
        let mut state: ContactState = from_json("contact", &text)?;
        state.version = version as u64;
        Ok(Some(state))
    }

    async fn save(&self, state: &mut ContactState) -> Result<(), PortError> {
        let expected = state.version;
        let text = to_json(state)?;
        let email = state.contact.email.as_deref().map(str::to_lowercase);
        let _turn = self.write_turn().await;
        let conn = self.conn();
        let written = if expected == 0 {
            conn.prepare_cached(
                "INSERT INTO contacts (id, version, state, email) VALUES (?1, 1, ?2, ?3) ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![state.contact.id, text, email]))
        } else {
            conn.prepare_cached(
                "UPDATE contacts SET version = version + 1, state = ?2, email = ?4 WHERE id = ?1 AND version = ?3",
            )
            .and_then(|mut s| s.execute(params![state.contact.id, text, expected as i64, email]))
        }
        .map_err(|e| db("save a contact", e))?;
        if written == 0 {
            return Err(PortError::Conflict { expected });
        }
        if expected == 0 {
            // A contact created again after a deletion is a new contact: lift the tombstone.
            conn.execute(
                "DELETE FROM tombstones WHERE id_mac = ?1",
                [self.keyed(&state.contact.id)],
            )
            .map_err(|e| db("lift a tombstone", e))?;
        }
        state.version = expected + 1;
        Ok(())
    }

    /// Everything of the contact goes in one transaction — partition, journal, queued work
    /// and jobs, rendered messages — and a tombstone says when.
    async fn delete(&self, contact: &str, at: DateTime<Utc>) -> Result<(), PortError> {
        let _turn = self.write_turn().await;
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| db("delete a contact", e))?;
        // The workflows whose entries leave: their report counters start again.
        tx.execute(
            "INSERT INTO workflow_deletions (workflow, count)
             SELECT DISTINCT workflow, 1 FROM journal WHERE contact = ?1 AND workflow IS NOT NULL
             ON CONFLICT (workflow) DO UPDATE SET count = count + 1",
            [contact],
        )
        .map_err(|e| db("delete a contact", e))?;
        for table in [
            "contacts WHERE id",
            "journal WHERE contact",
            "dispatch WHERE contact",
            "outbox WHERE contact",
            "work WHERE contact",
            "timers WHERE contact",
        ] {
            tx.execute(&format!("DELETE FROM {table} = ?1"), [contact])
                .map_err(|e| db("delete a contact", e))?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO tombstones (id_mac, at) VALUES (?1, ?2)",
            params![self.keyed(contact), at.to_rfc3339()],
        )
        .map_err(|e| db("leave a tombstone", e))?;
        tx.commit().map_err(|e| db("delete a contact", e))
    }

    async fn deleted_at(&self, contact: &str) -> Result<Option<DateTime<Utc>>, PortError> {
        let at: Option<String> = self
            .conn()
            .prepare_cached("SELECT at FROM tombstones WHERE id_mac = ?1")
            .and_then(|mut s| s.query_row([self.keyed(contact)], |r| r.get(0)).optional())
            .map_err(|e| db("read a tombstone", e))?;
        Ok(at.map(|t| kairos_core::calendar::parse_timestamp(&t).unwrap_or(DateTime::UNIX_EPOCH)))
    }

    async fn contact_ids(&self) -> Result<Vec<String>, PortError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached("SELECT id FROM contacts ORDER BY id")
            .map_err(|e| db("list contacts", e))?;
        let ids = statement
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| db("list contacts", e))?;
        Ok(ids)
    }

    /// A page by the primary key: no listing of every id per page.
    async fn contact_ids_after(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, Option<String>), PortError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached("SELECT id FROM contacts WHERE id > ?1 ORDER BY id LIMIT ?2")
            .map_err(|e| db("list contacts", e))?;
        // One more than asked: whether another page follows.
        let mut ids: Vec<String> = statement
            .query_map(params![cursor.unwrap_or(""), limit as i64 + 1], |r| {
                r.get(0)
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| db("list contacts", e))?;
        let more = ids.len() > limit;
        ids.truncate(limit);
        let next = if more { ids.last().cloned() } else { None };
        Ok((ids, next))
    }

    async fn append_journal(&self, entries: &[JournalEntry]) -> Result<(), PortError> {
        let conn = self.conn();
        let fingerprint = batch_fingerprint(entries) as i64;
        let new = conn
            .prepare_cached("INSERT OR IGNORE INTO journal_batches (fingerprint) VALUES (?1)")
            .and_then(|mut s| s.execute([fingerprint]))
            .map_err(|e| db("append to the journal", e))?;
        if new == 0 {
            return Ok(());
        }
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO journal (contact, workflow, at, entry) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(|e| db("append to the journal", e))?;
        for entry in entries {
            insert
                .execute(params![
                    entry.contact,
                    entry.index_name(),
                    micros(entry.at),
                    to_json(entry)?
                ])
                .map_err(|e| db("append to the journal", e))?;
        }
        Ok(())
    }

    async fn journal(&self, contact: &str) -> Result<Vec<JournalEntry>, PortError> {
        self.entries(
            "SELECT entry FROM journal WHERE contact = ?1 ORDER BY seq",
            contact,
        )
    }

    async fn workflow_journal(&self, workflow: &str) -> Result<Vec<JournalEntry>, PortError> {
        self.entries(
            "SELECT entry FROM journal WHERE workflow = ?1 ORDER BY seq",
            workflow,
        )
    }

    async fn workflow_report(
        &self,
        workflow: &str,
        catalog: &Catalog,
    ) -> Result<Option<WorkflowReport>, PortError> {
        // Catching up can take a second (the first call after a start reads the whole
        // journal): off the async workers.
        let (store, workflow, catalog) = (self.clone(), workflow.to_string(), catalog.clone());
        tokio::task::spawn_blocking(move || store.counted_report(&workflow, &catalog))
            .await
            .map_err(|e| super::failed("count a report", e))?
    }

    async fn claim(&self, key: &str) -> Result<bool, PortError> {
        let now = Utc::now().timestamp();
        let new = self
            .conn()
            .prepare_cached("INSERT OR IGNORE INTO claims (key_mac, at) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![self.keyed(key), now]))
            .map_err(|e| db("claim", e))?;
        Ok(new == 1)
    }

    async fn claim_all(&self, keys: &[String]) -> Result<Vec<bool>, PortError> {
        let now = Utc::now().timestamp();
        let _turn = self.write_turn().await;
        let mut conn = self.conn();
        // A savepoint: one commit alone, or part of a surrounding transaction.
        let tx = conn.savepoint().map_err(|e| db("claim", e))?;
        let mut claimed = Vec::with_capacity(keys.len());
        {
            let mut insert = tx
                .prepare_cached("INSERT OR IGNORE INTO claims (key_mac, at) VALUES (?1, ?2)")
                .map_err(|e| db("claim", e))?;
            for key in keys {
                let new = insert
                    .execute(params![self.keyed(key), now])
                    .map_err(|e| db("claim", e))?;
                claimed.push(new == 1);
            }
        }
        tx.commit().map_err(|e| db("claim", e))?;
        Ok(claimed)
    }

    async fn contacts_by_email(&self, email: &str) -> Result<Vec<String>, PortError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached("SELECT id FROM contacts WHERE email = ?1 ORDER BY id")
            .map_err(|e| db("find contacts by address", e))?;
        let ids = statement
            .query_map([email.to_lowercase()], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| db("find contacts by address", e))?;
        Ok(ids)
    }

    async fn claimed(&self, key: &str) -> Result<bool, PortError> {
        self.conn()
            .prepare_cached("SELECT 1 FROM claims WHERE key_mac = ?1")
            .and_then(|mut s| s.exists([self.keyed(key)]))
            .map_err(|e| db("read a claim", e))
    }

    async fn release(&self, key: &str) -> Result<(), PortError> {
        self.conn()
            .execute("DELETE FROM claims WHERE key_mac = ?1", [self.keyed(key)])
            .map_err(|e| db("release a claim", e))?;
        Ok(())
    }
}

impl Store {
    fn entries(&self, sql: &str, key: &str) -> Result<Vec<JournalEntry>, PortError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached(sql)
            .map_err(|e| db("read the journal", e))?;
        let texts: Vec<String> = statement
            .query_map([key], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| db("read the journal", e))?;
        texts
            .iter()
            .map(|t| from_json("journal entry", t))
            .collect()
    }
}
