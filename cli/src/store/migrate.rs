//! Carries a data directory written by the earlier file store (`contacts/`, `journal/`,
//! `timers/`, `work/`, `dispatch/`, `catalog/`, `outbox/`) into the database, in one
//! transaction, on the first start; the old folders are then moved to
//! `DIR/file-store-migrated/` (kept, not deleted: remove them once satisfied).
//!
//! Tombstones and claims are not carried over: the file store named them by a hash of
//! the id, so the id is not there to key them again. A deleted contact's queued work is
//! gone with it already; a job whose send had happened but whose file was not yet
//! removed (a crash in that window) could be sent once more.

use std::path::Path;

use kairos_core::ports::{
    ContactStore, DispatchJob, DispatchQueue, PortError, TimerQueue, WorkItem, WorkQueue,
};
use kairos_core::{ContactState, JournalEntry, Timer};
use rusqlite::params;

use super::{db, failed, from_json, to_json, Store};

const FOLDERS: [&str; 9] = [
    "contacts", "journal", "deleted", "claims", "timers", "work", "dispatch", "catalog", "outbox",
];

/// The files of a folder in name order (the file store's names sort as its queues do).
fn files(dir: &Path, folder: &str) -> Result<Vec<(String, String)>, PortError> {
    let path = dir.join(folder);
    let Ok(entries) = std::fs::read_dir(&path) else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json") || n.ends_with(".jsonl"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(path.join(&name))
                .map_err(|e| failed(&path.join(&name).display().to_string(), e))?;
            Ok((name, text))
        })
        .collect()
}

pub(super) async fn from_file_store(store: &Store, dir: &Path) -> Result<(), PortError> {
    if !dir.join("contacts").is_dir() {
        return Ok(());
    }
    store.atomically(copy(store, dir)).await?;
    let moved = dir.join("file-store-migrated");
    std::fs::create_dir_all(&moved).map_err(|e| failed(&moved.display().to_string(), e))?;
    for folder in FOLDERS {
        if dir.join(folder).exists() {
            std::fs::rename(dir.join(folder), moved.join(folder))
                .map_err(|e| failed(&dir.join(folder).display().to_string(), e))?;
        }
    }
    eprintln!(
        "kairos: moved the file store of {} into {} (the old files are in {})",
        dir.display(),
        store.path().display(),
        moved.display()
    );
    Ok(())
}

async fn copy(store: &Store, dir: &Path) -> Result<(), PortError> {
    for (name, text) in files(dir, "contacts")? {
        let state: ContactState = from_json(&name, &text)?;
        store
            .conn()
            .execute(
                "INSERT OR REPLACE INTO contacts (id, version, state, email) VALUES (?1, ?2, ?3, ?4)",
                params![
                    state.contact.id,
                    state.version.max(1) as i64,
                    to_json(&state)?,
                    state.contact.email.as_deref().map(str::to_lowercase)
                ],
            )
            .map_err(|e| db("migrate a contact", e))?;
    }
    for (_, text) in files(dir, "journal")? {
        // A line cut short by a crash mid-append was skipped by the file store too.
        let entries: Vec<JournalEntry> = text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        if !entries.is_empty() {
            store.append_journal(&entries).await?;
        }
    }
    for (name, text) in files(dir, "catalog")? {
        let stem = name.trim_end_matches(".json");
        let key = match stem.strip_prefix("WF_").and_then(|r| r.rsplit_once("_V_")) {
            Some((id, version)) => format!("WF#{id}#V#{version}"),
            None => stem.to_string(),
        };
        store
            .conn()
            .execute(
                "INSERT OR REPLACE INTO catalog (key, doc) VALUES (?1, ?2)",
                params![key, text],
            )
            .map_err(|e| db("migrate the catalog", e))?;
    }
    for (name, text) in files(dir, "timers")? {
        store.schedule(from_json::<Timer>(&name, &text)?).await?;
    }
    for (name, text) in files(dir, "work")? {
        WorkQueue::push(store, from_json::<WorkItem>(&name, &text)?).await?;
    }
    for (name, text) in files(dir, "dispatch")? {
        // `<due seconds, 12 digits>-<seq>.json`; due 0 is "now".
        let due = name
            .get(..12)
            .and_then(|d| d.parse::<i64>().ok())
            .filter(|d| *d > 0)
            .and_then(|d| chrono::DateTime::from_timestamp(d, 0));
        DispatchQueue::push(store, from_json::<DispatchJob>(&name, &text)?, due).await?;
    }
    for (name, text) in files(dir, "outbox")? {
        let outgoing: kairos_core::ports::Outgoing = from_json(&name, &text)?;
        kairos_core::ports::Mailer::send(store, &outgoing).await?;
    }
    Ok(())
}
