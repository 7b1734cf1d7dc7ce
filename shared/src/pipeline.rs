//! The pipeline: what every driver does around the engine. Work items are processed one at
//! a time (load the contact's partition, run the engine, save with a version condition,
//! retry on conflict), effects go to the ports: timers to the timer queue, messages through
//! the delivery policy to the mailer (each key claimed before sending), webhooks to the
//! webhook sender. The simulator runs it on in-memory ports and a virtual clock; `kairos
//! serve` and the Lambda functions run the same steps on their own ports.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::catalog::Catalog;
use crate::delivery::{decide, sent_event_name, Decision};
use crate::engine::{process, Input};
use crate::language::step::Category;
use crate::model::contact::{Contact, ContactState};
use crate::model::effect::{Effect, Message, WebhookCall};
use crate::model::event::Event;
use crate::model::journal::{JournalEntry, Kind};
use crate::ports::{
    ContactStore, Mailer, Outgoing, PortError, TimerQueue, WebhookSender, WorkItem, WorkQueue,
};

/// How often a save that lost an optimistic-locking race is retried from a fresh read.
const SAVE_ATTEMPTS: usize = 5;

pub struct Pipeline<S, T, Q, M, W> {
    pub catalog: Catalog,
    pub store: S,
    pub timers: T,
    pub work: Q,
    pub mailer: M,
    pub webhooks: W,
    /// Messages held back by quiet hours, by (when, key).
    delayed: Mutex<BTreeMap<(DateTime<Utc>, String), Message>>,
}

impl<S, T, Q, M, W> Pipeline<S, T, Q, M, W>
where
    S: ContactStore,
    T: TimerQueue,
    Q: WorkQueue,
    M: Mailer,
    W: WebhookSender,
{
    pub fn new(catalog: Catalog, store: S, timers: T, work: Q, mailer: M, webhooks: W) -> Self {
        Pipeline {
            catalog,
            store,
            timers,
            work,
            mailer,
            webhooks,
            delayed: Mutex::new(BTreeMap::new()),
        }
    }

    pub async fn submit(&self, item: WorkItem) -> Result<(), PortError> {
        self.work.push(item).await
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

    /// Processes queued work until none is left; returns the journal it wrote, in order.
    pub async fn drain(&self) -> Result<Vec<JournalEntry>, PortError> {
        let mut journal = Vec::new();
        while let Some(item) = self.work.pop().await? {
            journal.extend(self.handle(item).await?);
        }
        Ok(journal)
    }

    /// Moves time to `now`: due timers become work, held-back messages are dispatched.
    pub async fn advance_to(&self, now: DateTime<Utc>) -> Result<Vec<JournalEntry>, PortError> {
        let mut journal = Vec::new();
        loop {
            let next_timer = self.timers.next_due().await?.filter(|t| *t <= now);
            let next_message = self.next_delayed().filter(|t| *t <= now);
            let timers_first = match (next_timer, next_message) {
                (None, None) => break,
                (Some(t), Some(m)) => t <= m,
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            if let (true, Some(t)) = (timers_first, next_timer) {
                for timer in self.timers.take_due(t).await? {
                    let at = timer.due;
                    let contact = timer.contact.clone();
                    self.work
                        .push(WorkItem {
                            contact,
                            input: Input::Timer(timer),
                            at,
                        })
                        .await?;
                }
            } else if let Some(m) = next_message {
                let due: Vec<Message> = {
                    let mut delayed = lock(&self.delayed);
                    std::iter::from_fn(|| {
                        let first = delayed
                            .first_key_value()
                            .filter(|((t, _), _)| *t <= m)
                            .map(|(k, _)| k.clone())?;
                        delayed.remove(&first)
                    })
                    .collect()
                };
                for message in due {
                    journal.extend(self.dispatch(message, m).await?);
                }
            }
            journal.extend(self.drain().await?);
        }
        Ok(journal)
    }

    /// When the next timer or held-back message is due.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, PortError> {
        let timer = self.timers.next_due().await?;
        Ok(match (timer, self.next_delayed()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    fn next_delayed(&self) -> Option<DateTime<Utc>> {
        lock(&self.delayed).keys().next().map(|(t, _)| *t)
    }

    /// One work item: the engine on the contact's partition, saved with a version condition.
    async fn handle(&self, item: WorkItem) -> Result<Vec<JournalEntry>, PortError> {
        let is_timer = matches!(item.input, Input::Timer(_));
        for attempt in 1..=SAVE_ATTEMPTS {
            let mut state = match self.store.load(&item.contact).await? {
                Some(state) => state,
                // A timer for a contact that is gone (deleted) finds nothing to do.
                None if is_timer => return Ok(Vec::new()),
                None => ContactState::new(Contact::new(item.contact.clone(), item.at)),
            };
            let output = process(&self.catalog, &mut state, item.input.clone(), item.at);
            match self.store.save(&mut state).await {
                Ok(()) => return self.apply(output.journal, output.effects, item.at).await,
                Err(PortError::Conflict { .. }) if attempt < SAVE_ATTEMPTS => continue,
                Err(e) => return Err(e),
            }
        }
        Err(PortError::Unavailable {
            what: "contact store".into(),
            detail: "too many conflicting writes".into(),
        })
    }

    async fn apply(
        &self,
        mut journal: Vec<JournalEntry>,
        effects: Vec<Effect>,
        now: DateTime<Utc>,
    ) -> Result<Vec<JournalEntry>, PortError> {
        self.store.append_journal(&journal).await?;
        for effect in effects {
            match effect {
                Effect::Timer(timer) => self.timers.schedule(timer).await?,
                Effect::Send(message) => journal.extend(self.dispatch(message, now).await?),
                Effect::Webhook(call) => journal.extend(self.call_webhook(call, now).await?),
            }
        }
        Ok(journal)
    }

    /// Sends a message if the delivery policy allows, claiming its key first so a retried
    /// or redelivered message never sends twice. A crash between claim and send loses that
    /// one message (visible: claimed, never `message_sent`) rather than risking a duplicate.
    pub async fn dispatch(
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
                lock(&self.delayed).insert((until, message.key.clone()), message);
            }
            Decision::Send { to } => {
                if !self.store.claim(&message.key).await? {
                    return Ok(Vec::new());
                }
                let template = self.catalog.definitions().templates.get(&message.template);
                let outgoing = Outgoing {
                    to,
                    subject: template.and_then(|t| t.subject.clone()),
                    html: template.and_then(|t| t.html.clone()),
                    text: template.and_then(|t| {
                        t.text
                            .clone()
                            .or_else(|| t.sms.clone())
                            .or_else(|| t.push.clone())
                    }),
                    message: message.clone(),
                };
                self.mailer.send(&outgoing).await?;
                let category = match message.category {
                    Category::Marketing => "marketing",
                    Category::Transactional => "transactional",
                };
                let sent = Event::new(sent_event_name(message.channel), now)
                    .with("workflow", message.workflow.as_str())
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
        if !self.store.claim(&call.key).await? {
            return Ok(Vec::new());
        }
        let status = self.webhooks.call(&call).await?;
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
