//! The tables, and how a connection is set up.
//!
//! Times are integer microseconds since the epoch where rows are ordered by them (timers,
//! held jobs); every row also keeps its value as the JSON the ports exchange, so what a
//! port reads back is exactly what it was given.

use std::path::Path;
use std::time::Duration;

use kairos_core::ports::PortError;
use rusqlite::Connection;

use super::db;

/// How much a commit survives, with WAL in both cases (`PRAGMA synchronous`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `FULL`: every commit is on disk before it returns — an accepted event survives a
    /// power cut. One fsync per commit.
    Full,
    /// `NORMAL`: a commit survives the process dying (`kill -9`, a panic) but the last
    /// commits before a power cut or an OS crash may be lost (the database stays
    /// consistent). Fewer fsyncs.
    Normal,
}

impl Durability {
    /// `KAIROS_SQLITE_SYNCHRONOUS=normal|full` (default `full`).
    pub fn from_env() -> Result<Durability, String> {
        match std::env::var("KAIROS_SQLITE_SYNCHRONOUS").as_deref() {
            Err(_) | Ok("full") | Ok("FULL") => Ok(Durability::Full),
            Ok("normal") | Ok("NORMAL") => Ok(Durability::Normal),
            Ok(other) => Err(format!(
                "KAIROS_SQLITE_SYNCHRONOUS={other}: use `full` or `normal`"
            )),
        }
    }
}

pub(super) fn connect(path: &Path, durability: Durability) -> Result<Connection, PortError> {
    let conn = Connection::open(path).map_err(|e| db(&path.display().to_string(), e))?;
    // Another handle holding the write lock (a batch of the pipeline) makes a writer
    // wait, not fail.
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| db("busy timeout", e))?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = OFF;"
    ))
    .map_err(|e| db("pragmas", e))?;
    Ok(conn)
}

pub(super) fn create(conn: &Connection) -> Result<(), PortError> {
    conn.execute_batch(
        "
        -- `email`: the address, lowercased, for provider records that name only it.
        CREATE TABLE IF NOT EXISTS contacts (
            id TEXT PRIMARY KEY, version INTEGER NOT NULL, state TEXT NOT NULL, email TEXT
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS contacts_by_email ON contacts (email) WHERE email IS NOT NULL;
        -- Keyed by an HMAC of the contact id: no id in clear outlives its contact.
        CREATE TABLE IF NOT EXISTS tombstones (
            id_mac BLOB PRIMARY KEY, at TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS journal (
            seq INTEGER PRIMARY KEY, contact TEXT NOT NULL, workflow TEXT,
            at INTEGER NOT NULL, entry TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS journal_by_contact ON journal (contact, seq);
        -- A workflow's entries in the order they were stored: a report's counters catch
        -- up from the last entry they counted (`reports`).
        DROP INDEX IF EXISTS journal_by_workflow;
        CREATE INDEX IF NOT EXISTS journal_by_workflow_seq ON journal (workflow, seq)
            WHERE workflow IS NOT NULL;
        -- How often entries of a workflow left the journal (a contact deleted): its
        -- report's counters, which counted them, start again. The counters live as long
        -- as the process, so the one count of an earlier version is simply dropped.
        DROP TABLE IF EXISTS journal_deletions;
        CREATE TABLE IF NOT EXISTS workflow_deletions (
            workflow TEXT PRIMARY KEY, count INTEGER NOT NULL
        ) WITHOUT ROWID;
        -- Journal batches appended (a retry's batch is written once).
        CREATE TABLE IF NOT EXISTS journal_batches (fingerprint INTEGER PRIMARY KEY);
        CREATE TABLE IF NOT EXISTS claims (
            key_mac BLOB PRIMARY KEY, at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS timers (
            due INTEGER NOT NULL, key TEXT NOT NULL, contact TEXT NOT NULL,
            timer TEXT NOT NULL, PRIMARY KEY (due, key)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS work (
            seq INTEGER PRIMARY KEY, contact TEXT NOT NULL, item TEXT NOT NULL
        );
        -- due 0: now; otherwise held until then (quiet hours).
        CREATE TABLE IF NOT EXISTS dispatch (
            seq INTEGER PRIMARY KEY, due INTEGER NOT NULL, contact TEXT NOT NULL,
            job TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS dispatch_by_due ON dispatch (due, seq);
        CREATE INDEX IF NOT EXISTS dispatch_by_contact ON dispatch (contact);
        -- What could not be processed (a dead-letter queue): kept with the error, for
        -- an operator to look at (`sqlite3 kairos.db 'SELECT * FROM dead_letters'`).
        CREATE TABLE IF NOT EXISTS dead_letters (
            seq INTEGER PRIMARY KEY, queue TEXT NOT NULL, body TEXT NOT NULL,
            error TEXT NOT NULL, at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS catalog (key TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS outbox (
            seq INTEGER PRIMARY KEY, contact TEXT NOT NULL, message TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS outbox_by_contact ON outbox (contact);
        ",
    )
    .map_err(|e| db("create tables", e))
}
