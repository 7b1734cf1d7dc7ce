//! Ports: the small traits through which drivers connect the engine to the world. The
//! engine itself never calls them; drivers (the Lambda functions, `kairos serve`, the
//! simulator) load a partition, call [`crate::engine::process`], save, and hand the
//! effects to these ports. In-memory implementations live in [`crate::adapters`].

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::engine::Input;
use crate::language::definitions::Definitions;
use crate::model::broadcast::BroadcastRun;
use crate::model::contact::ContactState;
use crate::model::effect::{Message, Timer, WebhookCall};
use crate::model::event::Event;
use crate::model::journal::JournalEntry;
use crate::program::Workflow;
use crate::report::WorkflowReport;

/// Errors from the world outside the engine. `retryable` tells a driver whether trying
/// again may help (throttling, a conflict, a timeout) or not (bad data, access denied).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("the contact changed since it was read (version {expected}); reload and retry")]
    Conflict { expected: u64 },
    #[error("{what} is temporarily unavailable: {detail}")]
    Unavailable { what: String, detail: String },
    #[error("{what} failed: {detail}")]
    Failed { what: String, detail: String },
}

impl PortError {
    pub fn retryable(&self) -> bool {
        !matches!(self, PortError::Failed { .. })
    }
}

/// A unit of work for one contact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkItem {
    pub contact: String,
    pub input: Input,
    /// When the input happened (events carry their own time; this is the receipt time).
    pub at: DateTime<Utc>,
}

impl WorkItem {
    /// Deterministic: the same item (a redelivery, a retry) always has the same key.
    pub fn key(&self) -> String {
        format!("w-{}-{:016x}", self.at.timestamp(), self.fingerprint())
    }

    /// The same for the same item wherever it is computed: a hash of the whole item, or,
    /// for an event the client named (`id`), of the contact and that id alone — a client's
    /// retry is received later (another `at`) and must still be the same input.
    pub fn fingerprint(&self) -> u64 {
        match &self.input {
            Input::Event(Event { id: Some(id), .. }) => {
                crate::keys::fnv1a(format!("event\u{0}{}\u{0}{id}", self.contact).bytes())
            }
            // A broadcast run reaches a contact once, however often (and whenever) its
            // page is offered.
            Input::Broadcast {
                broadcast, number, ..
            } => crate::keys::fnv1a(
                format!(
                    "broadcast\u{0}{}\u{0}{broadcast}\u{0}{number}",
                    self.contact
                )
                .bytes(),
            ),
            _ => crate::keys::fnv1a(serde_json::to_vec(self).unwrap_or_default()),
        }
    }
}

/// Contact partitions, saved with optimistic locking, plus each contact's journal.
pub trait ContactStore: Send + Sync {
    fn load(
        &self,
        contact: &str,
    ) -> impl Future<Output = Result<Option<ContactState>, PortError>> + Send;
    /// The contact as a read that may lag the last save by a moment shows it (DynamoDB's
    /// eventually consistent read, half the price of [`ContactStore::load`]): for callers
    /// whose answer does not hang on the newest save, or who confirm with `load` what it
    /// does not show. Stores without such reads load.
    fn peek(
        &self,
        contact: &str,
    ) -> impl Future<Output = Result<Option<ContactState>, PortError>> + Send {
        self.load(contact)
    }
    /// Saves when the stored version still equals `state.version`, then bumps it;
    /// otherwise [`PortError::Conflict`] and nothing is written. A new contact's save
    /// lifts its id's tombstone (a contact created again is a new contact) unless
    /// `state.no_tombstone` says there is none.
    fn save(&self, state: &mut ContactState) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Saves `state` after its outbox was handed on: the stored copy at `state.version`
    /// differs from it only by that outbox, so a store may just drop it there (the memory
    /// store does, rather than copy the whole partition again). Same conditions as `save`.
    fn clear_outbox(
        &self,
        state: &mut ContactState,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        self.save(state)
    }
    /// Whether a store's journal proves an outbox was handed on: the journal is appended
    /// last, and only once every entry of the batch is stored does its last one appear, so
    /// a stored last entry means the whole outbox went. Such a store is not asked to clear
    /// an outbox with a journal after handing it on (a second write of the whole partition
    /// per input); the next load asks [`ContactStore::journal_stored`] instead.
    const JOURNAL_PROVES_HAND_ON: bool = false;
    /// Whether the last of `entries` (a leftover outbox's journal) is stored; `false` when
    /// the store cannot tell (then the outbox is handed on again: every step is idempotent).
    fn journal_stored(
        &self,
        entries: &[JournalEntry],
    ) -> impl Future<Output = Result<bool, PortError>> + Send {
        let _ = entries;
        async { Ok(false) }
    }
    /// Removes every record of the contact and leaves a tombstone saying when, so work
    /// that was already queued (timers, events from before `at`, messages) does nothing.
    fn delete(
        &self,
        contact: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// When the contact was deleted, while its tombstone lasts.
    fn deleted_at(
        &self,
        contact: &str,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, PortError>> + Send;
    fn contact_ids(&self) -> impl Future<Output = Result<Vec<String>, PortError>> + Send;
    /// Up to `limit` contact ids after `cursor` (none: from the start) and the cursor of
    /// the next page, `None` after the last: what a fan-out pages through. A cursor is a
    /// position only the store reads (here the last id; DynamoDB's scan key); a page may
    /// be short, or empty, while more follow.
    fn contact_ids_after(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<(Vec<String>, Option<String>), PortError>> + Send {
        async move {
            let mut ids = self.contact_ids().await?;
            ids.sort();
            let start = cursor.map_or(0, |c| ids.partition_point(|id| id.as_str() <= c));
            let page: Vec<String> = ids.iter().skip(start).take(limit).cloned().collect();
            let next = (start + page.len() < ids.len())
                .then(|| page.last().cloned())
                .flatten();
            Ok((page, next))
        }
    }
    /// Appends a batch of entries. The same batch appended again (a retry) must not
    /// appear twice; `journal::batch_fingerprint` names a batch by its content.
    fn append_journal(
        &self,
        entries: &[JournalEntry],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    fn journal(
        &self,
        contact: &str,
    ) -> impl Future<Output = Result<Vec<JournalEntry>, PortError>> + Send;
    /// Every journal entry that names `workflow`, in time order (its report).
    fn workflow_journal(
        &self,
        workflow: &str,
    ) -> impl Future<Output = Result<Vec<JournalEntry>, PortError>> + Send;
    /// `workflow`'s report as deployed in `catalog` (`None`: not deployed). Built from its
    /// journal; a store that keeps the report's counters as its journal grows (the
    /// embedded store) answers from them instead of reading the journal again.
    fn workflow_report(
        &self,
        workflow: &str,
        catalog: &Catalog,
    ) -> impl Future<Output = Result<Option<WorkflowReport>, PortError>> + Send {
        async move {
            let journal = self.workflow_journal(workflow).await?;
            let mut tally = crate::report::Tally::default();
            journal.iter().for_each(|e| tally.add(e));
            Ok(tally.workflow_report(workflow, catalog))
        }
    }
    /// The contacts whose address is `email` (compared case-insensitively): what a
    /// provider's record names when it carries none of our tags. An index, not a scan.
    fn contacts_by_email(
        &self,
        email: &str,
    ) -> impl Future<Output = Result<Vec<String>, PortError>> + Send;
    /// Claims a side effect's key; `true` exactly once per key, however often it is asked.
    fn claim(&self, key: &str) -> impl Future<Output = Result<bool, PortError>> + Send;
    /// Claims several keys, each as [`ContactStore::claim`] would; a store that can does
    /// it in one write (an accepted batch of 100 named calls is one commit, not 100).
    fn claim_all(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<bool>, PortError>> + Send {
        async move {
            let mut claimed = Vec::with_capacity(keys.len());
            for key in keys {
                claimed.push(self.claim(key).await?);
            }
            Ok(claimed)
        }
    }
    /// Whether a key is claimed, without claiming it.
    fn claimed(&self, key: &str) -> impl Future<Output = Result<bool, PortError>> + Send;
    /// Gives a claim back after the side effect failed in a way worth retrying
    /// (throttling, a provider 5xx), so the retry can claim and send.
    fn release(&self, key: &str) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The deployed workflow versions and the project definitions.
pub trait CatalogStore: Send + Sync {
    /// The catalog as deployed now (stores replay it with [`Catalog::replay`]; they may
    /// cache it).
    fn catalog(&self) -> impl Future<Output = Result<Catalog, PortError>> + Send;
    /// Stores a version the catalog has just numbered. Versions are immutable: one that
    /// is stored already (a concurrent deploy took the number) is [`PortError::Conflict`].
    fn put_workflow(
        &self,
        workflow: &Workflow,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Replaces the definitions, atomically.
    fn put_definitions(
        &self,
        definitions: &Definitions,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Stores a broadcast run. `create`: only if it is not stored yet (`false` when it
    /// was: a concurrent firing took the number); otherwise it replaces what is stored.
    fn put_broadcast_run(
        &self,
        run: &BroadcastRun,
        create: bool,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;
    /// Records an experiment's decision (`catalog::winner_key`; an empty branch: none
    /// won). The first one stored stands: `false` when one was stored already.
    fn put_winner(
        &self,
        workflow: &str,
        step: &str,
        branch: &str,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;
}

/// Wake-ups in the future.
pub trait TimerQueue: Send + Sync {
    fn schedule(&self, timer: Timer) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Removes and returns the timers due at or before `now`, earliest first.
    fn take_due(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Timer>, PortError>> + Send;
    /// When the earliest timer is due, if any.
    fn next_due(&self) -> impl Future<Output = Result<Option<DateTime<Utc>>, PortError>> + Send;
}

/// Per-contact work, processed one item at a time per contact, in order.
pub trait WorkQueue: Send + Sync {
    fn push(&self, item: WorkItem) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Queues several items, in order; a store that can, does it in one write (one
    /// transaction, one fsync) — an accepted request of 100 events is one commit.
    fn push_all(&self, items: Vec<WorkItem>) -> impl Future<Output = Result<(), PortError>> + Send {
        async move {
            for item in items {
                self.push(item).await?;
            }
            Ok(())
        }
    }
    fn pop(&self) -> impl Future<Output = Result<Option<WorkItem>, PortError>> + Send;
}

/// Work for the dispatcher: a message to send or a webhook to call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum DispatchJob {
    Message(Message),
    Webhook(WebhookCall),
}

/// The dispatch queue: jobs for the dispatcher, possibly held back until a time (quiet
/// hours). On AWS an SQS queue (with `DelaySeconds`); in process, a sorted map.
pub trait DispatchQueue: Send + Sync {
    fn push(
        &self,
        job: DispatchJob,
        not_before: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Removes and returns the next job due at or before `now` (in-process drivers).
    fn pop_due(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<DispatchJob>, PortError>> + Send;
    /// When the earliest held-back job is due, if any.
    fn next_held(&self) -> impl Future<Output = Result<Option<DateTime<Utc>>, PortError>> + Send;
}

/// A rendered message ready for a provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outgoing {
    pub message: Message,
    pub to: String,
    pub subject: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
    /// One-click unsubscribe link (marketing email): `List-Unsubscribe` + `-Post` headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribe_url: Option<String>,
}

/// Email / SMS / push providers.
pub trait Mailer: Send + Sync {
    /// Sends; returns the provider's message id.
    fn send(&self, outgoing: &Outgoing) -> impl Future<Output = Result<String, PortError>> + Send;

    /// Takes this send's turn at the provider's sending rate, before anything is claimed
    /// (a crash while waiting loses nothing), waiting for it when it is near: `None` when
    /// it may go now, or when its turn is, reserved for it, when that is further off than
    /// a send should wait (the message is held until then and goes without asking again).
    /// By default every send may go at once.
    fn turn(&self, _outgoing: &Outgoing) -> impl Future<Output = Option<DateTime<Utc>>> + Send {
        std::future::ready(None)
    }
}

/// Outgoing HTTP calls of `webhook` steps.
pub trait WebhookSender: Send + Sync {
    fn call(&self, call: &WebhookCall) -> impl Future<Output = Result<u16, PortError>> + Send;
}
