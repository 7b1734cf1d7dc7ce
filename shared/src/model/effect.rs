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
        }
    }
}

/// A message to send. `key` = contact/run/step/visit: the same step of the same run
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
    pub due: DateTime<Utc>,
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
    /// The contact and the run as JSON.
    pub body: Value,
}
