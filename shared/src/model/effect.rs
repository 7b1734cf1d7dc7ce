//! Effects: what the engine asks the world to do. Each carries a deterministic key so the
//! side effect can be claimed before it happens and never happens twice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::language::step::{Category, Channel, HttpMethod};
use crate::model::event::Event;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    Timer(Timer),
    Send(Message),
    Webhook(WebhookCall),
}

/// Wake this contact at `due`. Timers are never cancelled: a stale one finds the run has
/// moved on (or the date changed) and does nothing.
///
/// Ordered by `due` first (field order matters for the derived `Ord`): queues that keep
/// timers in a sorted set pop them in due order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Timer {
    #[serde(with = "crate::model::timestamp")]
    pub due: DateTime<Utc>,
    pub contact: String,
    pub kind: TimerKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TimerKind {
    /// A run's wait (`wait` is the run's wait sequence number).
    Run { run: u64, wait: u32 },
    /// A date trigger (`trigger` indexes the workflow's triggers).
    Date { workflow: String, trigger: usize },
    /// Points of the score `name` expire at `due` (journaled as `score_changed`).
    Score { name: String },
    /// The named segment's membership may change by time alone at `due`.
    Segment { name: String },
}

impl Timer {
    /// A key unique per timer, for queues that deduplicate.
    pub fn key(&self) -> String {
        match &self.kind {
            TimerKind::Run { run, wait } => {
                format!("{}/run/{run}/{wait}/{}", self.contact, self.due.timestamp())
            }
            TimerKind::Date { workflow, trigger } => {
                format!(
                    "{}/date/{workflow}/{trigger}/{}",
                    self.contact,
                    self.due.timestamp()
                )
            }
            TimerKind::Score { name } => {
                format!("{}/score/{name}/{}", self.contact, self.due.timestamp())
            }
            TimerKind::Segment { name } => {
                format!("{}/segment/{name}/{}", self.contact, self.due.timestamp())
            }
        }
    }
}

/// A message to send. `key` = contact/created/run/step/visit: the same step of the same run
/// sends once, however often the work is retried.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub key: String,
    pub contact: String,
    pub workflow: String,
    pub version: u32,
    pub run: String,
    pub step: String,
    pub channel: Channel,
    pub template: String,
    pub category: Category,
    /// The event that started the run, for `{{ event.* }}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Event>,
    /// When it was due (dispatch may delay it for quiet hours).
    #[serde(with = "crate::model::timestamp")]
    pub due: DateTime<Utc>,
    /// Set when dispatch held it (quiet hours): how many goals its run had achieved then.
    /// At release it goes out only if the run is still there and achieved none since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_at_goals: Option<u32>,
    /// The broadcast it belongs to (then `workflow` is empty and `run` is the broadcast
    /// run, `price-drop:3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<String>,
    /// How often the provider refused it for now (throttling, an outage): each time it
    /// waits longer and tries again (see the dispatcher).
    #[serde(default, skip_serializing_if = "crate::model::effect::is_zero")]
    pub provider_retries: u32,
    /// Its turn at the provider's sending rate, reserved when it was held for it: it goes
    /// then without asking for another (see `Mailer::turn`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::model::timestamp::opt"
    )]
    pub turn_at: Option<DateTime<Utc>>,
}

pub(crate) fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Message {
    /// A journal entry about this message: the workflow, run, step, channel and template
    /// it belongs to, so every entry about a message says the same.
    pub fn journal_entry(
        &self,
        at: DateTime<Utc>,
        kind: crate::model::journal::Kind,
    ) -> crate::model::journal::JournalEntry {
        let mut entry = crate::model::journal::JournalEntry::new(at, &self.contact, kind);
        match &self.broadcast {
            Some(broadcast) => entry.broadcast = Some(broadcast.clone()),
            None => entry.workflow = Some(self.workflow.clone()),
        }
        entry.step = Some(self.step.clone());
        entry.run = Some(self.run.clone());
        entry.channel = Some(self.channel.as_str().to_string());
        entry.template = Some(self.template.clone());
        entry
    }

    /// A provider's feedback about this message (`email_opened`, …) as an event carrying
    /// the workflow, run, step and template it belongs to.
    pub fn feedback_event(&self, name: &str, at: DateTime<Utc>) -> Event {
        let event = match &self.broadcast {
            Some(broadcast) => Event::new(name, at).with("broadcast", broadcast.as_str()),
            None => Event::new(name, at),
        };
        event
            .with("workflow", self.workflow.as_str())
            .with("run", self.run.as_str())
            .with("step", self.step.as_str())
            .with("template", self.template.as_str())
    }

    /// The built-in event a send becomes (`email_sent`, …): the message's workflow, run,
    /// step, template, category and key as properties, which conditions such as "opened
    /// the welcome email" and the feedback of opens and clicks refer to.
    pub fn sent_event(&self, at: DateTime<Utc>) -> Event {
        let category = match self.category {
            Category::Marketing => "marketing",
            Category::Transactional => "transactional",
        };
        self.feedback_event(crate::delivery::sent_event_name(self.channel), at)
            .with("category", category)
            .with("message", Value::String(self.key.clone()))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookCall {
    pub key: String,
    pub contact: String,
    pub workflow: String,
    pub run: String,
    pub step: String,
    pub url: String,
    pub method: HttpMethod,
    pub headers: std::collections::BTreeMap<String, String>,
    /// The contact and the run as JSON (an audience change: the change).
    pub body: Value,
    /// The synced audience this call pushes a change to (then `workflow` is empty). Sent
    /// even after the contact is deleted: it carries only hashes, and the platform must
    /// learn of the removal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}
