//! Evaluation: one work item through the engine, saved before anything is handed on.

use crate::catalog::Catalog;
use crate::engine::{process, Input};
use crate::model::contact::{Contact, ContactState, Outbox};
use crate::model::effect::Effect;
use crate::model::journal::{JournalEntry, Kind};
use crate::ports::{
    ContactStore, DispatchJob, DispatchQueue, PortError, TimerQueue, WorkItem, WorkQueue,
};

fn cycle(contact: &str, into: &str) -> PortError {
    PortError::Failed {
        what: "merge".into(),
        detail: format!("{contact} and {into} were merged into each other (a cycle of merges)"),
    }
}

/// How often a save that lost an optimistic-locking race is retried from a fresh read.
const SAVE_ATTEMPTS: usize = 5;

/// The evaluate role: the engine between the contact store and the queues it feeds.
pub struct Evaluator<'a, S, T, D, W> {
    pub catalog: &'a Catalog,
    pub store: &'a S,
    pub timers: &'a T,
    pub dispatch: &'a D,
    /// Where work for other contacts goes: a merge's hand-over, inputs for a merged profile.
    pub work: &'a W,
    /// The contact last saved and handed on by an evaluator of the same batch, if the
    /// caller keeps one (see [`Recent`]).
    pub recent: Option<&'a Recent>,
}

/// The state an evaluator last saved and handed on, kept for the next input of the same
/// batch: a work-queue batch holds a contact's inputs one after another (its FIFO group),
/// and the next one starts from this state instead of reading the store again — nor does
/// it ask whether the outbox went: it did. Safe because every save is conditional on the
/// version read: had anyone written the contact in between, the save is a conflict and
/// the retry reads the store. Only for stores whose saves are final when they return (a
/// batch in one transaction that may still roll back must not keep one).
#[derive(Default)]
pub struct Recent(std::sync::Mutex<Option<ContactState>>);

impl Recent {
    /// The kept state, if it is `contact`'s (taken: a failure after this leaves none).
    fn take(&self, contact: &str) -> Option<ContactState> {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        kept.take().filter(|state| state.contact.id == contact)
    }

    fn keep(&self, state: ContactState) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(state);
    }
}

impl<S: ContactStore, T: TimerQueue, D: DispatchQueue, W: WorkQueue> Evaluator<'_, S, T, D, W> {
    /// One work item: the engine on the contact's partition, then its journal and effects
    /// handed on. The state is saved (conditional on the version read) together with the
    /// item's fingerprint and an outbox of what is to be handed on; the outbox is cleared
    /// once it has been. A retry after a failure anywhere in between finds the fingerprint
    /// — the input is not applied twice — and any leftover outbox, which it hands on again:
    /// appending the journal, scheduling timers and queueing jobs are all idempotent.
    pub async fn handle(&self, item: WorkItem) -> Result<Vec<JournalEntry>, PortError> {
        // A deleted contact's last calls: nothing of it is left to load or save. Each
        // call's key is claimed at dispatch, so a redelivery calls once.
        if let Input::Farewell { calls } = &item.input {
            for call in calls {
                self.dispatch
                    .push(DispatchJob::Webhook(call.clone()), None)
                    .await?;
            }
            return Ok(Vec::new());
        }
        let is_timer = matches!(item.input, Input::Timer(_));
        let fingerprint = item.fingerprint();
        for attempt in 1..=SAVE_ATTEMPTS {
            let retry_on_conflict = |e: PortError| match e {
                PortError::Conflict { .. } if attempt < SAVE_ATTEMPTS => Ok(()),
                e => Err(e),
            };
            // Not for a merge: a refused one journals without a conditional save, so
            // whether the contact still exists must come from the store.
            let recent = match (attempt, self.recent) {
                (1, Some(recent)) if !matches!(item.input, Input::MergeInto { .. }) => {
                    recent.take(&item.contact)
                }
                _ => None,
            };
            let stored = match recent {
                Some(state) => Some(state),
                None => self.store.load(&item.contact).await?,
            };
            let existed = stored.is_some();
            let mut state = match stored {
                Some(state) => state,
                // A timer for a contact that is gone (deleted) finds nothing to do.
                None if is_timer => return Ok(Vec::new()),
                None => {
                    // Work from before a deletion does not bring the contact back; what
                    // happens after it starts a new contact.
                    let deleted = self.store.deleted_at(&item.contact).await?;
                    if deleted.is_some_and(|deleted| item.at <= deleted) {
                        return Ok(Vec::new());
                    }
                    let mut state = ContactState::new(Contact::new(item.contact.clone(), item.at));
                    state.no_tombstone = deleted.is_none();
                    state
                }
            };
            if let Some(leftover) = state.outbox.take() {
                // Left by the last input: handed on already if its journal is stored (the
                // store keeps it until this save replaces it), else handed on now.
                if !self.store.journal_stored(&leftover.journal).await? {
                    self.hand_on(&leftover).await?;
                    if let Err(e) = self.store.save(&mut state).await {
                        retry_on_conflict(e)?;
                        continue;
                    }
                }
            }
            // Handled before (also before a merge since): a redelivery, not a new input.
            if state.handled.contains(&fingerprint) {
                return Ok(Vec::new());
            }
            if let Some(into) = state.merged_into.clone() {
                self.forward(item, &into).await?;
                return Ok(Vec::new());
            }
            if let Input::MergeInto {
                into,
                only_anonymous,
            } = &item.input
            {
                if let Some(refusal) = self
                    .merge_refusal(&state, existed, into, *only_anonymous)
                    .await?
                {
                    if existed {
                        let mut entry = JournalEntry::new(item.at, &item.contact, Kind::Warning);
                        entry.message = Some(refusal);
                        self.store.append_journal(&[entry]).await?;
                    }
                    return Ok(Vec::new());
                }
            }
            let output = process(self.catalog, &mut state, item.input.clone(), item.at);
            let outbox = Outbox {
                journal: output.journal,
                effects: output.effects,
                work: output.work,
            };
            state.remember_handled(fingerprint);
            state.outbox = (!outbox.is_empty()).then_some(outbox);
            if let Err(e) = self.store.save(&mut state).await {
                retry_on_conflict(e)?;
                continue;
            }
            let Some(outbox) = state.outbox.take() else {
                self.keep(state);
                return Ok(Vec::new());
            };
            crate::failpoint::hit("evaluate.after_save")?;
            self.hand_on(&outbox).await?;
            crate::failpoint::hit("evaluate.after_hand_on")?;
            if S::JOURNAL_PROVES_HAND_ON && !outbox.journal.is_empty() {
                // The stored journal says it went: the outbox stays until the next save.
                self.keep(state);
                return Ok(outbox.journal);
            }
            // Clearing is bookkeeping: a writer that saved in between found the outbox and
            // handed it on itself, so losing this race is harmless.
            match self.store.clear_outbox(&mut state).await {
                Ok(()) => self.keep(state),
                Err(PortError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
            return Ok(outbox.journal);
        }
        Err(PortError::Unavailable {
            what: "contact store".into(),
            detail: "too many conflicting writes".into(),
        })
    }

    /// Keeps a state just saved and handed on for the batch's next input, if asked to.
    fn keep(&self, state: ContactState) {
        if let Some(recent) = self.recent {
            recent.keep(state);
        }
    }

    /// An input for a profile that was merged goes where the profile went (the forwarded
    /// item is the same each time, so a redelivery is recognised there). What belonged to
    /// the profile alone — its timers, a deploy's enrollment — is moot: the target has
    /// its own; and a profile merges only once.
    ///
    /// It goes straight to the end of the way (a profile merged into one merged since); a
    /// way that leads back (two profiles merged into each other at once) is refused as
    /// failed, for an operator, never passed round forever.
    async fn forward(&self, item: WorkItem, into: &str) -> Result<(), PortError> {
        let input = match item.input {
            Input::Timer(_) | Input::EnrollExisting { .. } | Input::Refresh => return Ok(()),
            Input::MergeInto { .. } => return Ok(()),
            Input::Absorb { hops, .. } if hops >= crate::identity::MAX_HOPS => {
                return Err(cycle(&item.contact, into))
            }
            Input::Absorb { from, hops } => Input::Absorb {
                from,
                hops: hops + 1,
            },
            input => input,
        };
        let Some(contact) = crate::identity::destination(self.store, &item.contact, into).await?
        else {
            return Err(cycle(&item.contact, into));
        };
        let at = item.at;
        self.work.push(WorkItem { contact, input, at }).await
    }

    /// Why a merge of `state` into `into` must not happen, if it must not: the write key
    /// merges only profiles that exist and are not known; no merge may close a cycle.
    async fn merge_refusal(
        &self,
        state: &ContactState,
        existed: bool,
        into: &str,
        only_anonymous: bool,
    ) -> Result<Option<String>, PortError> {
        let me = &state.contact.id;
        let known = state.contact.email.is_some() || state.contact.phone.is_some();
        if only_anonymous && (!existed || known) {
            return Ok(Some(format!(
                "not merged into {into}: {me} is {} — merging a known contact takes the API key",
                if existed {
                    "a known contact"
                } else {
                    "not a profile yet"
                }
            )));
        }
        if state.aliases.contains(into)
            || crate::identity::destination(self.store, me, into)
                .await?
                .is_none()
        {
            return Ok(Some(format!(
                "not merged into {into}: {into} is already part of {me}"
            )));
        }
        Ok(None)
    }

    /// Hands on an outbox: its effects (timers to the timer queue, messages and webhooks
    /// to the dispatch queue), work for other contacts to the work queue, and last its
    /// journal (whose stored last entry is the proof that everything before it went; see
    /// [`ContactStore::JOURNAL_PROVES_HAND_ON`]).
    async fn hand_on(&self, outbox: &Outbox) -> Result<(), PortError> {
        for effect in &outbox.effects {
            match effect.clone() {
                Effect::Timer(timer) => self.timers.schedule(timer).await?,
                Effect::Send(message) => {
                    // A broadcast's message waits for its throttle slot and local time.
                    let not_before = message.broadcast.is_some().then_some(message.due);
                    self.dispatch
                        .push(DispatchJob::Message(message), not_before)
                        .await?
                }
                Effect::Webhook(call) => {
                    self.dispatch.push(DispatchJob::Webhook(call), None).await?
                }
            }
        }
        if !outbox.work.is_empty() {
            self.work.push_all(outbox.work.clone()).await?;
        }
        if !outbox.journal.is_empty() {
            self.store.append_journal(&outbox.journal).await?;
        }
        Ok(())
    }
}
