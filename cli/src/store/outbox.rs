//! The local outbox: every message that would go to SES or SNS, as a row, and what the
//! outbox pages read of it.

use kairos_core::ports::{Mailer, Outgoing, PortError};
use rusqlite::{params, OptionalExtension};

use super::{db, from_json, to_json, Store};

fn id(seq: i64) -> String {
    format!("local-{seq:020}")
}

impl Mailer for Store {
    async fn send(&self, outgoing: &Outgoing) -> Result<String, PortError> {
        let text = to_json(outgoing)?;
        let conn = self.conn();
        conn.prepare_cached("INSERT INTO outbox (contact, message) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![outgoing.message.contact, text]))
            .map_err(|e| db("write to the outbox", e))?;
        Ok(id(conn.last_insert_rowid()))
    }
}

impl Store {
    /// The messages in the outbox with their ids, oldest first.
    pub fn outbox(&self) -> Result<Vec<(String, Outgoing)>, PortError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare("SELECT seq, message FROM outbox ORDER BY seq")
            .map_err(|e| db("read the outbox", e))?;
        let rows: Vec<(i64, String)> = statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| db("read the outbox", e))?;
        rows.into_iter()
            .map(|(seq, text)| Ok((id(seq), from_json("outbox message", &text)?)))
            .collect()
    }

    /// One outbox message by id (`local-<seq>`); anything else is not one.
    pub fn outbox_message(&self, id: &str) -> Result<Option<Outgoing>, PortError> {
        let Some(seq) = id
            .strip_prefix("local-")
            .and_then(|digits| digits.parse::<i64>().ok())
        else {
            return Ok(None);
        };
        let text: Option<String> = self
            .conn()
            .query_row("SELECT message FROM outbox WHERE seq = ?1", [seq], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| db("read the outbox", e))?;
        text.map(|t| from_json("outbox message", &t)).transpose()
    }
}
