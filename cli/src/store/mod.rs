//! The embedded store of `kairos serve`: every port on one SQLite database in WAL mode
//! (`DATA/kairos.db`), so a restart loses nothing, waits resume at their time, and the
//! data can be read with `sqlite3` and backed up by copying the file (or `.backup`).
//!
//! - `schema`: the tables, and the pragmas that set durability.
//! - `contacts`: contact partitions, tombstones, the journal, claims (the `ContactStore`
//!   port).
//! - `queues`: the work queue, the dispatch queue and the timers, each read without
//!   being removed and acknowledged once its effect is stored.
//! - `catalog`: deployed workflow versions and the definitions (the `CatalogStore` port).
//! - `outbox`: every message "sent" (the `Mailer` port) and the outbox pages' reads.
//! - `migrate`: carries a data directory of the earlier file store over, once.
//! - `reports`: report counters kept as the journal grows (a report reads only what is
//!   new since the last).
//!
//! Each [`Store`] handle has its own connection. The pipeline loop wraps a batch of work
//! items in one transaction ([`Store::atomically`]) — take the entries, load, save with
//! journal and effects, acknowledge — so a crash anywhere leaves the whole batch or none
//! of it; the HTTP API writes through another handle, whose statements commit one by one.
//! Contact ids never appear in clear in tombstones or claims: both are keyed by an HMAC
//! of the id under a key of the data directory's own.

mod catalog;
mod contacts;
mod migrate;
mod outbox;
mod queues;
mod reports;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use kairos_core::keys::StoreKey;
use kairos_core::ports::PortError;
use kairos_core::Catalog;
use rusqlite::Connection;

pub use schema::Durability;

/// A handle on the database: one connection, and the catalog shared by every handle of
/// the process (deploys go through one handle, the pipeline reads through another).
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    durability: Durability,
    /// Keys tombstones and claims (see the module doc).
    store_key: StoreKey,
    catalog: RwLock<Catalog>,
    reports: Mutex<reports::Reports>,
    /// SQLite's write lock as this process queues for it: a pipeline batch and the
    /// requests' inserts take turns in order, each woken as the one before it ends.
    /// SQLite's own busy handler sleeps 1, 2, 5 … 100 ms between tries, so a request
    /// waiting for a batch of a few milliseconds often slept for tens more; a busy
    /// handler trying every 100 µs instead held a read mark so often that the WAL never
    /// restarted (81 MB instead of 12 in the load bench). Queued work, claims, a
    /// contact's save and its deletion take turns; other writes (a deploy, the pipeline's
    /// acknowledgements between batches, another process such as `sqlite3`) still wait
    /// in SQLite's busy timeout.
    writer: tokio::sync::Mutex<()>,
}

fn failed(what: &str, e: impl std::fmt::Display) -> PortError {
    PortError::Failed {
        what: what.into(),
        detail: e.to_string(),
    }
}

/// SQLite errors: a busy database is worth a retry, anything else is not.
fn db(what: &str, e: rusqlite::Error) -> PortError {
    match e.sqlite_error_code() {
        // Busy, locked, or a disk that failed, filled or ran out of memory this time: worth
        // a retry — nothing about the entry itself is wrong.
        Some(
            rusqlite::ErrorCode::DatabaseBusy
            | rusqlite::ErrorCode::DatabaseLocked
            | rusqlite::ErrorCode::SystemIoFailure
            | rusqlite::ErrorCode::DiskFull
            | rusqlite::ErrorCode::OutOfMemory,
        ) => PortError::Unavailable {
            what: what.into(),
            detail: e.to_string(),
        },
        _ => failed(what, e),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, PortError> {
    serde_json::to_string(value).map_err(|e| failed("encode", e))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, PortError> {
    serde_json::from_str(text).map_err(|e| failed(&format!("stored {what}"), e))
}

impl Store {
    /// Opens (creating if need be) `DIR/kairos.db`; a directory of the earlier file store
    /// is carried over on the first open. `store_key` names tombstones and claims.
    pub async fn open(
        dir: &Path,
        store_key: StoreKey,
        durability: Durability,
    ) -> Result<Store, PortError> {
        std::fs::create_dir_all(dir).map_err(|e| failed(&dir.display().to_string(), e))?;
        let path = dir.join("kairos.db");
        let conn = schema::connect(&path, durability)?;
        schema::create(&conn)?;
        let store = Store {
            conn: Arc::new(Mutex::new(conn)),
            shared: Arc::new(Shared {
                path,
                durability,
                store_key,
                catalog: RwLock::new(Catalog::default()),
                reports: Mutex::default(),
                writer: tokio::sync::Mutex::new(()),
            }),
        };
        migrate::from_file_store(&store, dir).await?;
        let catalog =
            Catalog::replay(store.catalog_documents()?).map_err(|e| failed("stored catalog", e))?;
        *store
            .shared
            .catalog
            .write()
            .unwrap_or_else(|p| p.into_inner()) = catalog;
        Ok(store)
    }

    /// Another handle on the same database, with a connection of its own.
    pub fn handle(&self) -> Result<Store, PortError> {
        Ok(Store {
            conn: Arc::new(Mutex::new(schema::connect(
                &self.shared.path,
                self.shared.durability,
            )?)),
            shared: self.shared.clone(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (a statement is atomic).
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The id as tombstones and claims store it: HMAC-SHA256 under the store key.
    fn keyed(&self, text: &str) -> Vec<u8> {
        self.shared.store_key.mac(text).to_vec()
    }

    /// This handle's turn at the write lock, for a write that commits on its own; `None`
    /// inside this handle's transaction, which holds the turn already.
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        let alone = self.conn().is_autocommit();
        if alone {
            Some(self.shared.writer.lock().await)
        } else {
            None
        }
    }

    /// Runs `work` in one write transaction on this handle: committed if it succeeds,
    /// rolled back if it fails or the process dies before the commit. `work` writes
    /// through this handle only: a write through another handle would wait for the turn
    /// this one holds, for ever.
    pub async fn atomically<T, F>(&self, work: F) -> Result<T, PortError>
    where
        F: std::future::Future<Output = Result<T, PortError>>,
    {
        let _turn = self.shared.writer.lock().await;
        self.conn()
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| db("begin", e))?;
        // Rolls back if `work` panics (or the future is dropped) before the end below:
        // the handle must never be left holding the write lock.
        let open = OpenTransaction(self);
        let outcome = work.await;
        std::mem::forget(open);
        let end = if outcome.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        let ended = self.conn().execute_batch(end).map_err(|e| db(end, e));
        match (outcome, ended) {
            (Ok(value), Ok(())) => Ok(value),
            (Err(e), _) | (Ok(_), Err(e)) => {
                // A failed COMMIT leaves the transaction open: end it.
                let _ = self.conn().execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

/// A transaction [`Store::atomically`] has begun and not yet ended.
struct OpenTransaction<'a>(&'a Store);

impl Drop for OpenTransaction<'_> {
    fn drop(&mut self) {
        let _ = self.0.conn().execute_batch("ROLLBACK");
    }
}
