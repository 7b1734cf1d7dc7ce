//! Decision traces: the evidence behind a decision, journaled with it — the condition
//! tree as it was evaluated, each leaf with what it observed and its answer. Additive to
//! the journal (`trace` on an entry), compact (leaves in words, values as they were), and
//! deterministic (the same state gives the same trace).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One node of an evaluated condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// `all`, `any`, `not`, or the leaf in words (`event purchase within 30d, count ≥ 2`).
    pub test: String,
    /// What the leaf found: a count, a field's value, a score (absent when the answer says
    /// it all: a tag, a list, `all` / `any` / `not`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::model::journal::present"
    )]
    pub observed: Option<Value>,
    /// Its answer.
    pub holds: bool,
    /// The parts of `all` / `any` / `not` / a segment, each evaluated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub of: Vec<Trace>,
}

impl Trace {
    /// A leaf.
    pub fn leaf(test: impl Into<String>, observed: Option<Value>, holds: bool) -> Trace {
        Trace {
            test: test.into(),
            observed,
            holds,
            of: Vec::new(),
        }
    }

    /// Every part must hold: one part is itself, several an `all`.
    pub fn all(mut of: Vec<Trace>) -> Trace {
        if of.len() == 1 {
            return of.remove(0);
        }
        let holds = of.iter().all(|t| t.holds);
        Trace {
            test: "all".into(),
            observed: None,
            holds,
            of,
        }
    }

    /// The leaves that decided the answer, in words: for `all` that failed, the parts that
    /// failed; for `any` that held, the parts that held; otherwise every part.
    pub fn reasons(&self) -> Vec<String> {
        if self.of.is_empty() {
            return vec![self.words()];
        }
        let deciding: Vec<&Trace> = match self.test.as_str() {
            "all" if !self.holds => self.of.iter().filter(|t| !t.holds).collect(),
            "any" if self.holds => self.of.iter().filter(|t| t.holds).collect(),
            _ => self.of.iter().collect(),
        };
        let inner: Vec<String> = deciding.iter().flat_map(|t| t.reasons()).collect();
        match self.test.as_str() {
            "all" | "any" => inner,
            "not" => inner.into_iter().map(|r| format!("not ({r})")).collect(),
            // A segment: named, with what decided it inside.
            name => vec![format!("{name} → {} ({})", self.holds, inner.join("; "))],
        }
    }

    /// This node alone in words: `event purchase within 30d, count ≥ 2: 1 → false`.
    pub fn words(&self) -> String {
        match &self.observed {
            Some(observed) => format!("{}: {} → {}", self.test, show(observed), self.holds),
            None => format!("{} → {}", self.test, self.holds),
        }
    }
}

/// A value as a marketer reads it: strings without quotes, nothing as `none`.
pub fn show(value: &Value) -> String {
    match value {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
