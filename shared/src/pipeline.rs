//! The pipeline: what every driver does around the engine.
//!
//! - `handle`: one work item — load the contact's partition, run the engine, save with a
//!   version condition (retrying from a fresh read on conflict) with an outbox of journal
//!   and effects, then hand them on: timers to the timer queue, messages and webhooks to
//!   the dispatch queue. A retry never applies an input twice and never loses an effect.
//! - `run_job`: one dispatch job — the delivery policy decides; a send claims its key
//!   before calling the provider and records `email_sent` (etc.) back as an event.
//! - `drain` / `advance_to`: the in-process loop (simulator, `kairos serve`) over both
//!   queues and the timers. On AWS each step is its own Lambda function fed by SQS.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::catalog::Catalog;
use crate::delivery::{decide, sent_event_name, Decision};
use crate::engine::{process, Input};
use crate::language::step::{Category, Channel};
use crate::model::contact::{Contact, ContactState, Outbox};
use crate::model::effect::{Effect, Message, WebhookCall};
use crate::model::event::Event;
use crate::model::journal::{JournalEntry, Kind};
use crate::ports::{
    ContactStore, DispatchJob, DispatchQueue, Mailer, Outgoing, PortError, TimerQueue,
    WebhookSender, WorkItem, WorkQueue,
};
use crate::render::{context, render};
use crate::unsubscribe::ALL_MARKETING;

/// How often a save that lost an optimistic-locking race is retried from a fresh read.
const SAVE_ATTEMPTS: usize = 5;

pub struct Pipeline<S, T, Q, D, M, W> {
    pub catalog: Catalog,
    /// Unsubscribe links for marketing email; without them no `List-Unsubscribe` header.
    pub links: Option<crate::unsubscribe::Links>,
    pub store: S,
    pub timers: T,
    pub work: Q,
    pub dispatch: D,
    pub mailer: M,
    pub webhooks: W,
}

impl<S, T, Q, D, M, W> Pipeline<S, T, Q, D, M, W>
where
    S: ContactStore,
    T: TimerQueue,
    Q: WorkQueue,
    D: DispatchQueue,
    M: Mailer,
    W: WebhookSender,
{
    pub fn submit(
        &self,
        item: WorkItem,
    ) -> impl std::future::Future<Output = Result<(), PortError>> + Send + '_ {
        self.work.push(item)
    }

    /// Creates or updates a contact as it exists before anything happens to it.
    pub async fn put_contact(&self, contact: Contact) -> Result<(), PortError> {
        let mut state = match self.store.load(&contact.id).await? {
            Some(mut state) => {
                state.contact = Contact {
                    created_at: state.contact.created_at,
                    ..contact
                };
                state
            }
            None => ContactState::new(contact),
        };
        self.store.save(&mut state).await
    }

    /// Processes queued work and due dispatch jobs until none is left (in-process drivers).
    pub async fn drain(&self, now: DateTime<Utc>) -> Result<Vec<JournalEntry>, PortError> {
        let mut journal = Vec::new();
        loop {
            if let Some(item) = self.work.pop().await? {
                journal.extend(self.handle(item).await?);
            } else if let Some(job) = self.dispatch.pop_due(now).await? {
                journal.extend(self.run_job(job, now).await?);
            } else {
                return Ok(journal);
            }
        }
    }

    /// Moves time to `now` in order: each due timer becomes work, each held-back job runs,
    /// at its own time.
    pub async fn advance_to(&self, now: DateTime<Utc>) -> Result<Vec<JournalEntry>, PortError> {
        let mut journal = Vec::new();
        while let Some(t) = self.next_due().await?.filter(|t| *t <= now) {
            if self.timers.next_due().await? == Some(t) {
                for timer in self.timers.take_due(t).await? {
                    let (contact, at) = (timer.contact.clone(), timer.due);
                    self.work
                        .push(WorkItem {
                            contact,
                            input: Input::Timer(timer),
                            at,
                        })
                        .await?;
                }
            }
            journal.extend(self.drain(t).await?);
        }
        Ok(journal)
    }

    /// When the next timer or held-back job is due.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, PortError> {
        let (timer, held) = (
            self.timers.next_due().await?,
            self.dispatch.next_held().await?,
        );
        Ok(timer.into_iter().chain(held).min())
    }

    /// One work item: the engine on the contact's partition, then its journal and effects
    /// handed on. The state is saved (conditional on the version read) together with the
    /// item's fingerprint and an outbox of what is to be handed on; the outbox is cleared
    /// once it has been. A retry after a failure anywhere in between finds the fingerprint
    /// — the input is not applied twice — and any leftover outbox, which it hands on again:
    /// appending the journal, scheduling timers and queueing jobs are all idempotent.
    pub async fn handle(&self, item: WorkItem) -> Result<Vec<JournalEntry>, PortError> {
        let is_timer = matches!(item.input, Input::Timer(_));
        let fingerprint = item.fingerprint();
        for attempt in 1..=SAVE_ATTEMPTS {
            let retry_on_conflict = |e: PortError| match e {
                PortError::Conflict { .. } if attempt < SAVE_ATTEMPTS => Ok(()),
                e => Err(e),
            };
            let mut state = match self.store.load(&item.contact).await? {
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
                    ContactState::new(Contact::new(item.contact.clone(), item.at))
                }
            };
            if let Some(leftover) = state.outbox.take() {
                self.hand_on(&leftover).await?;
                if let Err(e) = self.store.save(&mut state).await {
                    retry_on_conflict(e)?;
                    continue;
                }
            }
            if state.handled.contains(&fingerprint) {
                return Ok(Vec::new());
            }
            let output = process(&self.catalog, &mut state, item.input.clone(), item.at);
            let outbox = Outbox {
                journal: output.journal,
                effects: output.effects,
            };
            state.remember_handled(fingerprint);
            state.outbox = (!outbox.is_empty()).then_some(outbox);
            if let Err(e) = self.store.save(&mut state).await {
                retry_on_conflict(e)?;
                continue;
            }
            let Some(outbox) = state.outbox.take() else {
                return Ok(Vec::new());
            };
            self.hand_on(&outbox).await?;
            // Clearing is bookkeeping: a writer that saved in between found the outbox and
            // handed it on itself, so losing this race is harmless.
            match self.store.clear_outbox(&mut state).await {
                Ok(()) | Err(PortError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
            return Ok(outbox.journal);
        }
        Err(PortError::Unavailable {
            what: "contact store".into(),
            detail: "too many conflicting writes".into(),
        })
    }

    /// Appends an outbox's journal and passes its effects on: timers to the timer queue,
    /// messages and webhooks to the dispatch queue.
    async fn hand_on(&self, outbox: &Outbox) -> Result<(), PortError> {
        if !outbox.journal.is_empty() {
            self.store.append_journal(&outbox.journal).await?;
        }
        for effect in &outbox.effects {
            match effect.clone() {
                Effect::Timer(timer) => self.timers.schedule(timer).await?,
                Effect::Send(message) => {
                    self.dispatch
                        .push(DispatchJob::Message(message), None)
                        .await?
                }
                Effect::Webhook(call) => {
                    self.dispatch.push(DispatchJob::Webhook(call), None).await?
                }
            }
        }
        Ok(())
    }

    /// One dispatch job.
    pub async fn run_job(
        &self,
        job: DispatchJob,
        now: DateTime<Utc>,
    ) -> Result<Vec<JournalEntry>, PortError> {
        match job {
            DispatchJob::Message(message) => self.send(message, now).await,
            DispatchJob::Webhook(call) => self.call_webhook(call, now).await,
        }
    }

    /// Sends a message if the delivery policy allows, claiming its key first so a retried
    /// or redelivered message never sends twice. A crash between claim and send loses that
    /// one message (visible: claimed, never `message_sent`) rather than risking a duplicate.
    async fn send(
        &self,
        message: Message,
        now: DateTime<Utc>,
    ) -> Result<Vec<JournalEntry>, PortError> {
        let Some(state) = self.store.load(&message.contact).await? else {
            return Ok(Vec::new());
        };
        let decision = decide(&message, &state, self.catalog.definitions(), now);
        let mut entry = JournalEntry::new(now, &message.contact, Kind::MessageSent);
        entry.workflow = Some(message.workflow.clone());
        entry.step = Some(message.step.clone());
        entry.run = Some(message.run.clone());
        entry.channel = Some(message.channel.as_str().to_string());
        entry.template = Some(message.template.clone());
        match decision {
            Decision::Suppress(reason) => {
                entry.kind = Kind::MessageSuppressed;
                entry.reason = Some(reason.to_string());
            }
            Decision::Delay(until) => {
                entry.kind = Kind::MessageDelayed;
                entry.until = Some(until);
                self.dispatch
                    .push(DispatchJob::Message(message), Some(until))
                    .await?;
            }
            Decision::Send { to } => {
                let marketing_email =
                    message.category == Category::Marketing && message.channel == Channel::Email;
                let unsubscribe_url = self
                    .links
                    .as_ref()
                    .filter(|l| marketing_email && !l.public_url.is_empty())
                    .map(|l| l.unsubscribe_url(&message.contact, ALL_MARKETING));
                let rendered = match self.catalog.definitions().templates.get(&message.template) {
                    None => Err(format!(
                        "no template `{}` in the definitions",
                        message.template
                    )),
                    Some(template) => render(
                        template,
                        &context(&message, &state, unsubscribe_url.as_deref()),
                    ),
                };
                let rendered = match rendered {
                    Ok(rendered) => rendered,
                    Err(error) => {
                        // Never a blank or half-filled message: suppressed, visibly.
                        entry.kind = Kind::MessageSuppressed;
                        entry.reason = Some("render_error".into());
                        entry.message = Some(error);
                        self.store
                            .append_journal(std::slice::from_ref(&entry))
                            .await?;
                        return Ok(vec![entry]);
                    }
                };
                if !self.store.claim(&message.key).await? {
                    return Ok(Vec::new());
                }
                let outgoing = Outgoing {
                    to,
                    subject: rendered.subject,
                    html: rendered.html,
                    text: rendered.text,
                    unsubscribe_url,
                    message: message.clone(),
                };
                if let Err(e) = self.mailer.send(&outgoing).await {
                    if e.retryable() {
                        self.store.release(&message.key).await?;
                    }
                    return Err(e);
                }
                let category = match message.category {
                    Category::Marketing => "marketing",
                    Category::Transactional => "transactional",
                };
                let sent = Event::new(sent_event_name(message.channel), now)
                    .with("workflow", message.workflow.as_str())
                    .with("run", message.run.as_str())
                    .with("step", message.step.as_str())
                    .with("template", message.template.as_str())
                    .with("category", category)
                    .with("message", Value::String(message.key.clone()));
                self.work
                    .push(WorkItem {
                        contact: message.contact.clone(),
                        input: Input::Event(sent),
                        at: now,
                    })
                    .await?;
            }
        }
        self.store
            .append_journal(std::slice::from_ref(&entry))
            .await?;
        Ok(vec![entry])
    }

    async fn call_webhook(
        &self,
        call: WebhookCall,
        now: DateTime<Utc>,
    ) -> Result<Vec<JournalEntry>, PortError> {
        // A contact deleted since the call was queued is not sent anywhere any more.
        if self.store.load(&call.contact).await?.is_none() {
            return Ok(Vec::new());
        }
        if !self.store.claim(&call.key).await? {
            return Ok(Vec::new());
        }
        let status = match self.webhooks.call(&call).await {
            Ok(status) => status,
            Err(e) => {
                if e.retryable() {
                    self.store.release(&call.key).await?;
                }
                return Err(e);
            }
        };
        let mut entry = JournalEntry::new(now, &call.contact, Kind::WebhookCalled);
        entry.workflow = Some(call.workflow);
        entry.step = Some(call.step);
        entry.run = Some(call.run);
        entry.url = Some(call.url);
        entry.value = Some(Value::from(status));
        self.store
            .append_journal(std::slice::from_ref(&entry))
            .await?;
        Ok(vec![entry])
    }
}
