//! Broadcast runs: each firing of a broadcast (`price-drop:3`), with the business event
//! that fired it, its state (running, paused, cancelled) and how far its fan-out got. A
//! run is stored with the catalog, so every role sees whether it may still send.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::event::Event;

/// One firing of a broadcast.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BroadcastRun {
    pub broadcast: String,
    /// 1, 2, … per broadcast.
    pub number: u32,
    /// The business event that fired it (none for a broadcast `at` a time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Event>,
    #[serde(with = "crate::model::timestamp")]
    pub fired_at: DateTime<Utc>,
    pub state: RunState,
    /// The fan-out's position: the last contact id offered (none yet: at the start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Whether every contact has been offered.
    #[serde(default)]
    pub fanned_out: bool,
    /// Members of the audience found so far (their order spreads a throttle).
    #[serde(default)]
    pub members: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    /// Nothing more is sent until it is resumed; held messages wait.
    Paused,
    /// Nothing more is sent, ever.
    Cancelled,
}

impl BroadcastRun {
    /// `price-drop:3`: the run journal entries name.
    pub fn id(&self) -> String {
        run_id(&self.broadcast, self.number)
    }
}

/// A broadcast run's id.
pub fn run_id(broadcast: &str, number: u32) -> String {
    format!("{broadcast}:{number}")
}

/// The name a broadcast's journal entries are indexed under beside workflows' (workflow
/// ids are slugs: no `:` in them, so the two never meet).
pub fn journal_index(broadcast: &str) -> String {
    format!("broadcast:{broadcast}")
}
