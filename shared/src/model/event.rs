//! Events: what a contact did (or what happened to it), with free-form properties.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Caller-chosen id; the same id twice is accepted once (deduplicated at intake).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub props: Map<String, Value>,
    #[serde(with = "crate::model::timestamp")]
    pub at: DateTime<Utc>,
}

impl Event {
    pub fn new(name: impl Into<String>, at: DateTime<Utc>) -> Event {
        Event {
            id: None,
            name: name.into(),
            props: Map::new(),
            at,
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Event {
        self.props.insert(key.to_string(), value.into());
        self
    }
}

/// A property as a number: a JSON number, or a string that reads as one (`"42.5"`, as
/// form data sends it). What sums and numeric comparisons take.
/// Finite only: `"NaN"` and `"inf"` parse as floats but are no amount (and JSON, which
/// every store keeps the contact in, cannot hold them).
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

/// Events that show a contact is engaged; `inactive_for` looks for the absence of these.
pub const ENGAGEMENT_EVENTS: [&str; 5] = [
    "email_opened",
    "email_clicked",
    "page_viewed",
    "form_submitted",
    "purchase",
];

pub fn is_engagement(name: &str) -> bool {
    ENGAGEMENT_EVENTS.contains(&name)
}
