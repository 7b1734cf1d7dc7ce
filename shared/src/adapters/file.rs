//! The embedded store for `kairos serve`: every port on files in one data directory, so a
//! restart loses nothing and waits resume at their time. Writes go to a temporary file
//! and are renamed into place (atomic on one filesystem); claims use create-new.
//!
//! ```text
//! DIR/contacts/<hash>.json     contact partitions (versioned)
//! DIR/journal/<hash>.jsonl     journals, appended
//! DIR/deleted/<hash>           tombstones
//! DIR/claims/<hash>            claimed side-effect keys
//! DIR/timers/<due>-<hash>.json timers
//! DIR/work/<seq>.json          the work queue
//! DIR/dispatch/<due>-<seq>.json the dispatch queue (due 0 = now)
//! DIR/catalog/…                deployed workflow versions and definitions
//! DIR/outbox/<seq>.json        every message "sent" (the local outbox)
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::catalog::{workflow_key, Catalog, DEFINITIONS_KEY};
use crate::language::definitions::Definitions;
use crate::model::contact::ContactState;
use crate::model::effect::Timer;
use crate::model::journal::JournalEntry;
use crate::ports::{
    CatalogStore, ContactStore, DispatchJob, DispatchQueue, Mailer, Outgoing, PortError,
    TimerQueue, WorkItem, WorkQueue,
};
use crate::program::Workflow;

#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    /// The catalog as replayed at open and kept current by this store's own deploys (one
    /// process owns the directory).
    catalog: RwLock<Catalog>,
    seq: AtomicU64,
    /// One writer at a time for read-check-write sequences (versions, queues).
    lock: Mutex<()>,
}

fn io(what: &str, e: std::io::Error) -> PortError {
    PortError::Failed {
        what: what.into(),
        detail: e.to_string(),
    }
}

/// A file-name-safe digest of an id (ids may hold any character).
fn hashed(id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let safe: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(40)
        .collect();
    format!("{safe}-{h:016x}")
}

impl FileStore {
    /// Appends entries as JSON lines to their contacts' journal files.
    fn append_lines(&self, entries: &[JournalEntry]) -> Result<(), PortError> {
        let _guard = self.guard();
        for entry in entries {
            let path = self.path("journal", &format!("{}.jsonl", hashed(&entry.contact)));
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| io("journal", e))?;
            let line = serde_json::to_string(entry).map_err(|e| PortError::Failed {
                what: "encode".into(),
                detail: e.to_string(),
            })?;
            writeln!(file, "{line}").map_err(|e| io("journal", e))?;
        }
        Ok(())
    }

    pub fn open(root: impl Into<PathBuf>) -> Result<FileStore, PortError> {
        let root = root.into();
        for dir in [
            "contacts", "journal", "deleted", "claims", "timers", "work", "dispatch", "catalog",
            "outbox",
        ] {
            std::fs::create_dir_all(root.join(dir))
                .map_err(|e| io(&format!("create {}", root.join(dir).display()), e))?;
        }
        let mut store = FileStore {
            inner: Arc::new(Inner {
                root,
                catalog: RwLock::new(Catalog::default()),
                seq: AtomicU64::new(0),
                lock: Mutex::new(()),
            }),
        };
        let catalog =
            Catalog::replay(store.catalog_documents()?).map_err(|detail| PortError::Failed {
                what: format!("{}", store.path("catalog", "").display()),
                detail,
            })?;
        if let Some(inner) = Arc::get_mut(&mut store.inner) {
            inner.catalog = RwLock::new(catalog);
        }
        // Sequence numbers continue after the highest one on disk.
        let mut highest = 0;
        for dir in ["work", "dispatch", "outbox"] {
            for name in store.names(dir)? {
                let digits = name
                    .rsplit('-')
                    .next()
                    .unwrap_or(&name)
                    .trim_end_matches(".json");
                highest = highest.max(digits.parse::<u64>().unwrap_or(0));
            }
        }
        store.inner.seq.store(highest + 1, Ordering::SeqCst);
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    fn path(&self, dir: &str, name: &str) -> PathBuf {
        self.inner.root.join(dir).join(name)
    }

    fn next_seq(&self) -> u64 {
        self.inner.seq.fetch_add(1, Ordering::SeqCst)
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sorted file names of a directory.
    fn names(&self, dir: &str) -> Result<Vec<String>, PortError> {
        let mut names: Vec<String> = std::fs::read_dir(self.inner.root.join(dir))
            .map_err(|e| io(dir, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }

    fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> Result<(), PortError> {
        let text = serde_json::to_vec(value).map_err(|e| PortError::Failed {
            what: "encode".into(),
            detail: e.to_string(),
        })?;
        let tmp = path.with_extension(format!("tmp{}", self.next_seq()));
        std::fs::write(&tmp, text).map_err(|e| io(&tmp.display().to_string(), e))?;
        std::fs::rename(&tmp, path).map_err(|e| io(&path.display().to_string(), e))
    }

    fn read_json<T: DeserializeOwned>(&self, path: &Path) -> Result<Option<T>, PortError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| PortError::Failed {
                    what: format!("read {}", path.display()),
                    detail: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path.display().to_string(), e)),
        }
    }

    /// Every stored catalog document as (key, JSON). Files are named after the key with
    /// `#` as `_` (`WF_welcome_V_000001.json`, `DEFS.json`).
    fn catalog_documents(&self) -> Result<Vec<(String, String)>, PortError> {
        let mut out = Vec::new();
        for name in self.names("catalog")? {
            let Some(stem) = name.strip_suffix(".json") else {
                continue; // a temporary file of a write that did not finish
            };
            let key = if stem == DEFINITIONS_KEY {
                stem.to_string()
            } else if let Some((id, version)) =
                stem.strip_prefix("WF_").and_then(|r| r.rsplit_once("_V_"))
            {
                format!("WF#{id}#V#{version}")
            } else {
                continue;
            };
            let text =
                std::fs::read_to_string(self.path("catalog", &name)).map_err(|e| io(&name, e))?;
            out.push((key, text));
        }
        Ok(out)
    }

    fn catalog_path(&self, key: &str) -> PathBuf {
        self.path("catalog", &format!("{}.json", key.replace('#', "_")))
    }

    /// Every journal entry of every contact, in time order (for reports).
    pub fn all_journal(&self) -> Result<Vec<JournalEntry>, PortError> {
        let mut all = Vec::new();
        for name in self.names("journal")? {
            all.extend(self.read_journal(&self.path("journal", &name))?);
        }
        all.sort_by_key(|e| e.at);
        Ok(all)
    }

    fn read_journal(&self, path: &Path) -> Result<Vec<JournalEntry>, PortError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&path.display().to_string(), e)),
        };
        // A line cut short by a crash mid-append is skipped, not fatal.
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// The messages in the outbox with their ids, oldest first.
    pub fn outbox(&self) -> Result<Vec<(String, Outgoing)>, PortError> {
        let mut out = Vec::new();
        for name in self
            .names("outbox")?
            .into_iter()
            .filter(|n| n.ends_with(".json"))
        {
            if let Some(o) = self.read_json(&self.path("outbox", &name))? {
                out.push((name.trim_end_matches(".json").to_string(), o));
            }
        }
        Ok(out)
    }

    /// One outbox message by id.
    pub fn outbox_message(&self, id: &str) -> Result<Option<Outgoing>, PortError> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Ok(None);
        }
        self.read_json(&self.path("outbox", &format!("{id}.json")))
    }
}

impl ContactStore for FileStore {
    async fn load(&self, contact: &str) -> Result<Option<ContactState>, PortError> {
        self.read_json(&self.path("contacts", &format!("{}.json", hashed(contact))))
    }

    async fn save(&self, state: &mut ContactState) -> Result<(), PortError> {
        let _guard = self.guard();
        let path = self.path("contacts", &format!("{}.json", hashed(&state.contact.id)));
        let stored: Option<ContactState> = self.read_json(&path)?;
        if stored.map_or(0, |s| s.version) != state.version {
            return Err(PortError::Conflict {
                expected: state.version,
            });
        }
        state.version += 1;
        self.write_json(&path, state)?;
        let _ = std::fs::remove_file(self.path("deleted", &hashed(&state.contact.id)));
        Ok(())
    }

    async fn delete(&self, contact: &str, at: DateTime<Utc>) -> Result<(), PortError> {
        let _guard = self.guard();
        let id = hashed(contact);
        // Rendered messages (addresses, content) and queued jobs go with the contact.
        for dir in ["outbox", "dispatch"] {
            for name in self.names(dir)? {
                let path = self.path(dir, &name);
                let mentions = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                    .is_some_and(|v| names_contact(&v, contact));
                if mentions {
                    std::fs::remove_file(&path).map_err(|e| io(dir, e))?;
                }
            }
        }
        for path in [
            self.path("contacts", &format!("{id}.json")),
            self.path("journal", &format!("{id}.jsonl")),
        ] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path.display().to_string(), e)),
            }
        }
        std::fs::write(self.path("deleted", &id), at.to_rfc3339()).map_err(|e| io("tombstone", e))
    }

    async fn deleted_at(&self, contact: &str) -> Result<Option<DateTime<Utc>>, PortError> {
        match std::fs::read_to_string(self.path("deleted", &hashed(contact))) {
            // A tombstone from before deletion times were kept counts from the beginning.
            Ok(text) => Ok(Some(
                crate::calendar::parse_timestamp(text.trim()).unwrap_or(DateTime::UNIX_EPOCH),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("tombstone", e)),
        }
    }

    async fn contact_ids(&self) -> Result<Vec<String>, PortError> {
        let mut ids = Vec::new();
        for name in self.names("contacts")? {
            if let Some(state) = self.read_json::<ContactState>(&self.path("contacts", &name))? {
                ids.push(state.contact.id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    async fn append_journal(&self, entries: &[JournalEntry]) -> Result<(), PortError> {
        let batch = format!(
            "journal/{:016x}",
            crate::model::journal::batch_fingerprint(entries)
        );
        if !self.claim(&batch).await? {
            return Ok(());
        }
        let written = self.append_lines(entries);
        if written.is_err() {
            self.release(&batch).await?;
        }
        written
    }

    async fn journal(&self, contact: &str) -> Result<Vec<JournalEntry>, PortError> {
        self.read_journal(&self.path("journal", &format!("{}.jsonl", hashed(contact))))
    }

    async fn workflow_journal(&self, workflow: &str) -> Result<Vec<JournalEntry>, PortError> {
        let mut entries = self.all_journal()?;
        entries.retain(|e| e.workflow.as_deref() == Some(workflow));
        Ok(entries)
    }

    async fn claimed(&self, key: &str) -> Result<bool, PortError> {
        Ok(self.path("claims", &hashed(key)).exists())
    }

    async fn claim(&self, key: &str) -> Result<bool, PortError> {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.path("claims", &hashed(key)))
        {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io("claim", e)),
        }
    }

    async fn release(&self, key: &str) -> Result<(), PortError> {
        let _ = std::fs::remove_file(self.path("claims", &hashed(key)));
        Ok(())
    }
}

/// Whether a stored outbox message or dispatch job belongs to `contact`.
fn names_contact(value: &serde_json::Value, contact: &str) -> bool {
    let owner = |v: &serde_json::Value| v.get("contact").and_then(|c| c.as_str()) == Some(contact);
    owner(value) || owner(&value["message"])
}

fn due_name(t: DateTime<Utc>) -> String {
    format!("{:012}", t.timestamp().max(0))
}

impl TimerQueue for FileStore {
    async fn schedule(&self, timer: Timer) -> Result<(), PortError> {
        let name = format!("{}-{}.json", due_name(timer.due), hashed(&timer.key()));
        self.write_json(&self.path("timers", &name), &timer)
    }

    async fn take_due(&self, now: DateTime<Utc>) -> Result<Vec<Timer>, PortError> {
        let _guard = self.guard();
        let limit = due_name(now);
        let mut due = Vec::new();
        for name in self
            .names("timers")?
            .into_iter()
            .filter(|n| n.ends_with(".json"))
        {
            if name.get(..12).unwrap_or_default() > limit.as_str() {
                break;
            }
            let path = self.path("timers", &name);
            if let Some(timer) = self.read_json::<Timer>(&path)? {
                if timer.due <= now {
                    due.push(timer);
                    std::fs::remove_file(&path).map_err(|e| io("timer", e))?;
                }
            }
        }
        due.sort();
        Ok(due)
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, PortError> {
        for name in self
            .names("timers")?
            .into_iter()
            .filter(|n| n.ends_with(".json"))
        {
            if let Some(timer) = self.read_json::<Timer>(&self.path("timers", &name))? {
                return Ok(Some(timer.due));
            }
        }
        Ok(None)
    }
}

impl WorkQueue for FileStore {
    async fn push(&self, item: WorkItem) -> Result<(), PortError> {
        let name = format!("{:020}.json", self.next_seq());
        self.write_json(&self.path("work", &name), &item)
    }

    async fn pop(&self) -> Result<Option<WorkItem>, PortError> {
        let _guard = self.guard();
        let Some(name) = self
            .names("work")?
            .into_iter()
            .find(|n| n.ends_with(".json"))
        else {
            return Ok(None);
        };
        let path = self.path("work", &name);
        let item = self.read_json(&path)?;
        std::fs::remove_file(&path).map_err(|e| io("work", e))?;
        Ok(item)
    }
}

impl DispatchQueue for FileStore {
    async fn push(
        &self,
        job: DispatchJob,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<(), PortError> {
        let due = not_before.map_or_else(|| due_name(DateTime::<Utc>::UNIX_EPOCH), due_name);
        let name = format!("{due}-{:020}.json", self.next_seq());
        self.write_json(&self.path("dispatch", &name), &job)
    }

    async fn pop_due(&self, now: DateTime<Utc>) -> Result<Option<DispatchJob>, PortError> {
        let _guard = self.guard();
        let Some(name) = self
            .names("dispatch")?
            .into_iter()
            .find(|n| n.ends_with(".json"))
        else {
            return Ok(None);
        };
        if name.get(..12).unwrap_or_default() > due_name(now).as_str() {
            return Ok(None);
        }
        let path = self.path("dispatch", &name);
        let job = self.read_json(&path)?;
        std::fs::remove_file(&path).map_err(|e| io("dispatch", e))?;
        Ok(job)
    }

    async fn next_held(&self) -> Result<Option<DateTime<Utc>>, PortError> {
        let first = self
            .names("dispatch")?
            .into_iter()
            .find(|n| n.ends_with(".json") && !n.starts_with("000000000000"));
        Ok(first
            .and_then(|n| n.get(..12).and_then(|d| d.parse::<i64>().ok()))
            .and_then(|s| DateTime::from_timestamp(s, 0)))
    }
}

/// The local outbox: every message that would go to SES or SNS, written as a file.
impl Mailer for FileStore {
    async fn send(&self, outgoing: &Outgoing) -> Result<String, PortError> {
        let id = format!("local-{:020}", self.next_seq());
        self.write_json(&self.path("outbox", &format!("{id}.json")), outgoing)?;
        Ok(id)
    }
}

/// Catalog documents are written to a temporary file, flushed and renamed into place: a
/// crash leaves the old document or the new one, never a truncated one that would stop
/// the next start. A workflow version is linked into place only if its name is free
/// (`hard_link` fails on an existing name), so a concurrent deploy cannot overwrite it.
impl CatalogStore for FileStore {
    async fn catalog(&self) -> Result<Catalog, PortError> {
        Ok(self
            .inner
            .catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }

    async fn put_workflow(&self, workflow: &Workflow) -> Result<(), PortError> {
        let path = self.catalog_path(&workflow_key(&workflow.id, workflow.version));
        let tmp = self.durable_tmp(&path, &workflow.doc)?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(PortError::Conflict { expected: 0 })
            }
            Err(e) => return Err(io(&path.display().to_string(), e)),
        }
        let mut catalog = self
            .inner
            .catalog
            .write()
            .unwrap_or_else(|p| p.into_inner());
        catalog
            .deploy(workflow.clone())
            .map(|_| ())
            .map_err(|detail| PortError::Failed {
                what: "deploy".into(),
                detail,
            })
    }

    async fn put_definitions(&self, definitions: &Definitions) -> Result<(), PortError> {
        let path = self.catalog_path(DEFINITIONS_KEY);
        let tmp = self.durable_tmp(&path, definitions)?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path.display().to_string(), e))?;
        self.inner
            .catalog
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .set_definitions(definitions.clone());
        Ok(())
    }
}

impl FileStore {
    /// `value` as JSON in a temporary file beside `path`, synced to disk.
    fn durable_tmp<T: Serialize>(&self, path: &Path, value: &T) -> Result<PathBuf, PortError> {
        let text = serde_json::to_vec(value).map_err(|e| PortError::Failed {
            what: "encode".into(),
            detail: e.to_string(),
        })?;
        let tmp = path.with_extension(format!("tmp{}", self.next_seq()));
        let mut file =
            std::fs::File::create(&tmp).map_err(|e| io(&tmp.display().to_string(), e))?;
        file.write_all(&text)
            .and_then(|()| file.sync_all())
            .map_err(|e| io(&tmp.display().to_string(), e))?;
        Ok(tmp)
    }
}
