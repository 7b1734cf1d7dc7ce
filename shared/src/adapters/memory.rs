//! In-memory implementations of every port, and [`MemoryPorts`], the use cases' backend
//! in memory (router tests).

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::contacts::Contacts;
pub use super::contacts::OPEN_KEPT;
use crate::catalog::Catalog;
use crate::language::definitions::Definitions;
use crate::model::contact::ContactState;
use crate::model::effect::{Timer, WebhookCall};
use crate::model::journal::JournalEntry;
use crate::ports::{
    CatalogStore, ContactStore, DispatchJob, DispatchQueue, Mailer, Outgoing, PortError,
    TimerQueue, WebhookSender, WorkItem, WorkQueue,
};
use crate::program::Workflow;

/// A claimed key as the store keeps it: a collision needs two keys sharing 128 bits of
/// SHA-256.
fn claim_digest(key: &str) -> u128 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(first)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere never leaves these maps half-written, so the data is still sound.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
pub struct MemoryStore {
    /// The journal indexes kept (`None`: every entry).
    journal_kept: Option<BTreeSet<String>>,
    contacts: Mutex<Contacts>,
    deleted: Mutex<BTreeMap<String, DateTime<Utc>>>,
    journal: Mutex<BTreeMap<String, Vec<JournalEntry>>>,
    /// Claimed keys by their SHA-256 (its first 128 bits): a simulated year claims a dozen
    /// keys per contact, which as strings in a B-tree took 1.4 KB of every contact.
    claims: Mutex<HashSet<u128>>,
    /// Fingerprints of the journal batches appended (a batch appended again is skipped).
    journal_batches: Mutex<HashSet<u64>>,
}

impl MemoryStore {
    /// A store that keeps only the journal entries of `indexes` (workflows, `broadcast:<id>`):
    /// the simulator streams the journal to its sink and keeps only what a use case reads
    /// back (an experiment's workflow), which is most of its memory otherwise.
    pub fn keeping_journal_of(indexes: impl IntoIterator<Item = String>) -> MemoryStore {
        MemoryStore {
            journal_kept: Some(indexes.into_iter().collect()),
            ..MemoryStore::default()
        }
    }

    /// Keeps at most `open` contacts open, the rest packed (see [`Contacts`]); a test's
    /// way to have every read and write go through packing.
    pub fn keeping_open(mut self, open: usize) -> MemoryStore {
        self.contacts = Mutex::new(Contacts::keeping_open(open));
        self
    }

    fn keeps(&self, entry: &JournalEntry) -> bool {
        self.journal_kept.as_ref().is_none_or(|kept| {
            entry
                .index_name()
                .is_some_and(|index| kept.contains(&index))
        })
    }
}

impl ContactStore for MemoryStore {
    async fn load(&self, contact: &str) -> Result<Option<ContactState>, PortError> {
        lock(&self.contacts).get(contact)
    }

    async fn save(&self, state: &mut ContactState) -> Result<(), PortError> {
        let mut contacts = lock(&self.contacts);
        let stored = contacts.version(&state.contact.id).unwrap_or(0);
        if stored != state.version {
            return Err(PortError::Conflict {
                expected: state.version,
            });
        }
        state.version += 1;
        lock(&self.deleted).remove(&state.contact.id);
        contacts.put(state);
        Ok(())
    }

    async fn clear_outbox(&self, state: &mut ContactState) -> Result<(), PortError> {
        lock(&self.contacts).clear_outbox(&state.contact.id, state.version)?;
        state.outbox = None;
        state.version += 1;
        Ok(())
    }

    async fn delete(&self, contact: &str, at: DateTime<Utc>) -> Result<(), PortError> {
        lock(&self.contacts).remove(contact);
        lock(&self.journal).remove(contact);
        lock(&self.deleted).insert(contact.to_string(), at);
        Ok(())
    }

    async fn deleted_at(&self, contact: &str) -> Result<Option<DateTime<Utc>>, PortError> {
        Ok(lock(&self.deleted).get(contact).copied())
    }

    async fn contact_ids(&self) -> Result<Vec<String>, PortError> {
        Ok(lock(&self.contacts).ids().cloned().collect())
    }

    async fn contact_ids_after(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, Option<String>), PortError> {
        let contacts = lock(&self.contacts);
        let mut ids = contacts.ids_after(cursor);
        let page: Vec<String> = ids.by_ref().take(limit).cloned().collect();
        let next = ids.next().and(page.last().cloned());
        Ok((page, next))
    }

    async fn append_journal(&self, entries: &[JournalEntry]) -> Result<(), PortError> {
        if !entries.iter().any(|e| self.keeps(e)) {
            return Ok(());
        }
        let batch = crate::model::journal::batch_fingerprint(entries);
        if !lock(&self.journal_batches).insert(batch) {
            return Ok(());
        }
        let mut journal = lock(&self.journal);
        for e in entries.iter().filter(|e| self.keeps(e)) {
            journal
                .entry(e.contact.clone())
                .or_default()
                .push(e.clone());
        }
        Ok(())
    }

    async fn journal(&self, contact: &str) -> Result<Vec<JournalEntry>, PortError> {
        Ok(lock(&self.journal)
            .get(contact)
            .cloned()
            .unwrap_or_default())
    }

    async fn workflow_journal(&self, workflow: &str) -> Result<Vec<JournalEntry>, PortError> {
        let mut entries: Vec<JournalEntry> = lock(&self.journal)
            .values()
            .flatten()
            .filter(|e| e.index_name().as_deref() == Some(workflow))
            .cloned()
            .collect();
        entries.sort_by_key(|e| e.at);
        Ok(entries)
    }

    async fn claim(&self, key: &str) -> Result<bool, PortError> {
        Ok(lock(&self.claims).insert(claim_digest(key)))
    }

    async fn contacts_by_email(&self, email: &str) -> Result<Vec<String>, PortError> {
        Ok(lock(&self.contacts).with_email(email))
    }

    async fn claimed(&self, key: &str) -> Result<bool, PortError> {
        Ok(lock(&self.claims).contains(&claim_digest(key)))
    }

    async fn release(&self, key: &str) -> Result<(), PortError> {
        lock(&self.claims).remove(&claim_digest(key));
        Ok(())
    }
}

/// Timers ordered by due time (then by content, so equal times pop deterministically).
#[derive(Default)]
pub struct MemoryTimers {
    timers: Mutex<BTreeSet<Timer>>,
}

impl MemoryTimers {
    pub fn len(&self) -> usize {
        lock(&self.timers).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl TimerQueue for MemoryTimers {
    async fn schedule(&self, timer: Timer) -> Result<(), PortError> {
        lock(&self.timers).insert(timer);
        Ok(())
    }

    async fn take_due(&self, now: DateTime<Utc>) -> Result<Vec<Timer>, PortError> {
        let mut timers = lock(&self.timers);
        let mut due = Vec::new();
        while timers.first().is_some_and(|t| t.due <= now) {
            if let Some(t) = timers.pop_first() {
                due.push(t);
            }
        }
        Ok(due)
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, PortError> {
        Ok(lock(&self.timers).first().map(|t| t.due))
    }
}

/// One FIFO queue: processing items in push order keeps each contact's items in order.
#[derive(Default)]
pub struct MemoryQueue {
    items: Mutex<VecDeque<WorkItem>>,
}

impl WorkQueue for MemoryQueue {
    async fn push(&self, item: WorkItem) -> Result<(), PortError> {
        lock(&self.items).push_back(item);
        Ok(())
    }

    async fn pop(&self) -> Result<Option<WorkItem>, PortError> {
        Ok(lock(&self.items).pop_front())
    }
}

/// Dispatch jobs by due time; jobs pushed without a time are due at once, in push order.
#[derive(Default)]
pub struct MemoryDispatch {
    jobs: Mutex<BTreeMap<(DateTime<Utc>, u64), DispatchJob>>,
    pushed: std::sync::atomic::AtomicU64,
}

impl DispatchQueue for MemoryDispatch {
    async fn push(
        &self,
        job: DispatchJob,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<(), PortError> {
        let seq = self
            .pushed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        lock(&self.jobs).insert((not_before.unwrap_or(DateTime::<Utc>::MIN_UTC), seq), job);
        Ok(())
    }

    async fn pop_due(&self, now: DateTime<Utc>) -> Result<Option<DispatchJob>, PortError> {
        let mut jobs = lock(&self.jobs);
        let due = jobs.first_key_value().is_some_and(|((t, _), _)| *t <= now);
        Ok(if due {
            jobs.pop_first().map(|(_, job)| job)
        } else {
            None
        })
    }

    async fn next_held(&self) -> Result<Option<DateTime<Utc>>, PortError> {
        Ok(lock(&self.jobs)
            .keys()
            .map(|(t, _)| *t)
            .find(|t| *t > DateTime::<Utc>::MIN_UTC))
    }
}

/// Records what would be sent (the local outbox).
#[derive(Default)]
pub struct MemoryMailer {
    pub sent: Mutex<Vec<Outgoing>>,
    /// Counts instead of recording (the simulator: the journal says what was sent).
    counting: bool,
    count: std::sync::atomic::AtomicU64,
}

impl MemoryMailer {
    /// A mailer that only counts what it sends: a simulated year of a million contacts
    /// would otherwise hold every rendered message.
    pub fn counting() -> MemoryMailer {
        MemoryMailer {
            counting: true,
            ..MemoryMailer::default()
        }
    }
}

impl Mailer for MemoryMailer {
    async fn send(&self, outgoing: &Outgoing) -> Result<String, PortError> {
        let n = 1 + self
            .count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !self.counting {
            lock(&self.sent).push(outgoing.clone());
        }
        Ok(format!("local-{n}"))
    }
}

/// Records webhook calls instead of making them.
#[derive(Default)]
pub struct RecordingWebhooks {
    pub calls: Mutex<Vec<WebhookCall>>,
}

impl WebhookSender for RecordingWebhooks {
    async fn call(&self, call: &WebhookCall) -> Result<u16, PortError> {
        lock(&self.calls).push(call.clone());
        Ok(200)
    }
}

/// The deployed catalog, in memory.
#[derive(Default)]
pub struct MemoryCatalog {
    catalog: Mutex<Catalog>,
}

impl MemoryCatalog {
    /// A store holding `catalog`.
    pub fn new(catalog: Catalog) -> MemoryCatalog {
        MemoryCatalog {
            catalog: Mutex::new(catalog),
        }
    }
}

impl CatalogStore for MemoryCatalog {
    async fn catalog(&self) -> Result<Catalog, PortError> {
        Ok(lock(&self.catalog).clone())
    }

    async fn put_workflow(&self, workflow: &Workflow) -> Result<(), PortError> {
        let mut catalog = lock(&self.catalog);
        if catalog.get(&workflow.id, workflow.version).is_some() {
            return Err(PortError::Conflict { expected: 0 });
        }
        catalog
            .deploy(workflow.clone())
            .map(|_| ())
            .map_err(|detail| PortError::Failed {
                what: "deploy".into(),
                detail,
            })
    }

    async fn put_definitions(&self, definitions: &Definitions) -> Result<(), PortError> {
        lock(&self.catalog).set_definitions(definitions.clone());
        Ok(())
    }

    async fn put_broadcast_run(
        &self,
        run: &crate::model::broadcast::BroadcastRun,
        create: bool,
    ) -> Result<bool, PortError> {
        let mut catalog = lock(&self.catalog);
        if create && catalog.broadcast_run(&run.broadcast, run.number).is_some() {
            return Ok(false);
        }
        catalog.set_broadcast_run(run.clone());
        Ok(true)
    }

    async fn put_winner(
        &self,
        workflow: &str,
        step: &str,
        branch: &str,
    ) -> Result<bool, PortError> {
        let mut catalog = lock(&self.catalog);
        let new = catalog.winner(workflow, step).is_none();
        catalog.set_winner(workflow, step, branch);
        Ok(new)
    }
}

/// A whole backend in memory, for the use cases and the router in tests.
#[derive(Default)]
pub struct MemoryPorts {
    pub contacts: MemoryStore,
    pub catalog: MemoryCatalog,
    pub work: MemoryQueue,
}

impl crate::service::Ports for MemoryPorts {
    type Contacts = MemoryStore;
    type Catalog = MemoryCatalog;
    type Work = MemoryQueue;

    fn contacts(&self) -> &MemoryStore {
        &self.contacts
    }

    fn catalog(&self) -> &MemoryCatalog {
        &self.catalog
    }

    fn work(&self) -> &MemoryQueue {
        &self.work
    }
}
