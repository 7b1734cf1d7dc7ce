//! A run: one contact's pass through one workflow version.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::event::Event;
use crate::program::NodeId;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Sequence number within the contact; `id()` is what journals and keys show.
    pub seq: u64,
    pub workflow: String,
    pub version: u32,
    /// The value of the workflow's `entry.key` property on the entering event; `null`
    /// when the event said `null`, and read back so (a later event's `null` matches it,
    /// as it did before the contact was stored).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::model::journal::present"
    )]
    pub key: Option<Value>,
    /// The event that started the run (`{{ event.* }}` in templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Event>,
    #[serde(with = "crate::model::timestamp")]
    pub started_at: DateTime<Utc>,
    /// The step the run is at (index into the version's nodes).
    pub at: NodeId,
    #[serde(with = "crate::model::timestamp")]
    pub step_started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
    /// Goals achieved in this run; each is achieved at most once per run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub achieved: Vec<NodeId>,
    /// Steps taken so far; part of every effect key, so a loop's second pass is a new message.
    pub visits: u32,
    /// The id it had on a profile merged into this contact (`workflow:seq@profile`): a
    /// message queued there still finds its run here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was: Option<String>,
}

/// A run parked at a wait (or a goal with `otherwise: wait`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    /// When its timer fires; `None` waits for a condition with no timeout.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::model::timestamp::opt"
    )]
    pub until: Option<DateTime<Utc>>,
    /// Which wait this is; a timer for an earlier wait of the same run is stale.
    pub seq: u32,
    /// When a time-dependent condition this run watches (`inactive_for`, an event window,
    /// a date's age, an expiring score) can next change its answer: a timer re-checks then.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::model::timestamp::opt"
    )]
    pub recheck: Option<DateTime<Utc>>,
}

impl Run {
    pub fn id(&self) -> String {
        format!("{}:{}", self.workflow, self.seq)
    }
}

/// A run's id as a contact that took in the profile `profile` knows it.
pub fn merged_run_id(run: &str, profile: &str) -> String {
    format!("{run}@{profile}")
}
