//! Journal entries: what happened to a contact and why. The same entries are printed by
//! `kairos simulate`, served by `GET /v1/contacts/{id}/journal` and counted by reports.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Entered,
    Step,
    MessageSent,
    MessageSuppressed,
    MessageDelayed,
    /// Delivery feedback about a sent message (`email_delivered`, `email_opened`,
    /// `email_clicked` naming its workflow and step), for the per-step report.
    MessageDelivered,
    MessageOpened,
    MessageClicked,
    /// Provider records about a sent message besides delivery and engagement: SES took it
    /// (`Send`), refused it (`Reject`), could not render it, or is retrying its delivery.
    MessageAccepted,
    MessageRejected,
    MessageRenderFailed,
    MessageDelayedByProvider,
    Waiting,
    Woke,
    GoalAchieved,
    TagAdded,
    TagRemoved,
    ListJoined,
    ListLeft,
    ScoreChanged,
    FieldSet,
    WebhookCalled,
    Migrated,
    Exited,
    /// One profile merged into another (`from`, `into`), journaled on both.
    Merged,
    /// A trigger fired but the contact did not enter (`reason`: `reentry` or `segment`),
    /// with the evidence.
    EntryRefused,
    /// The contact started to match a segment a trigger watches (`name`), with the evidence.
    SegmentEntered,
    /// The contact stopped matching a segment a trigger watches (`name`), with the evidence.
    SegmentLeft,
    /// An experiment picked its winner (`workflow`, `step` = the split, `branch`): new
    /// runs take that branch. Not about one contact: `contact` is empty.
    SplitWinner,
    /// A broadcast fired (`broadcast`, `run`; `value`: the business event's props). Not
    /// about one contact: `contact` is empty.
    BroadcastFired,
    /// A business event did not fire a broadcast because its filter could not be
    /// evaluated (a prop missing or of the wrong type); `message` says why.
    BroadcastSkipped,
    /// The contact is in the audience of a broadcast run (`broadcast`, `run`): its
    /// message (or workflow start) is on its way.
    BroadcastReceived,
    /// The contact went into (`value`: `add`) or out of (`remove`) a synced ad audience
    /// (`name`); the change is posted to its destination once.
    AudienceChanged,
    /// The engine stopped something for safety (a cascade of changes too long for one
    /// input) and says so, rather than dropping work silently; `message` says what.
    Warning,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    #[serde(with = "crate::model::journal::rfc3339")]
    pub at: DateTime<Utc>,
    pub contact: String,
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// The broadcast an entry is about (instead of a workflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::model::journal::rfc3339_opt"
    )]
    pub until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `merged`: the profile that was merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `merged`: the contact it was merged into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub into: Option<String>,
    /// The evidence behind a decision (a branch, a goal, an exit, an entry or a refusal,
    /// a suppression): the condition as evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Box<crate::model::trace::Trace>>,
}

/// Feedback events that only reports read, unless a deployed document names them (then
/// they are inputs like any event): the feedback function journals them directly.
pub const JOURNAL_ONLY_FEEDBACK: [&str; 2] = ["email_delivered", "email_delivery_delayed"];

/// The journal entry of provider feedback (`email_delivered`, `email_opened`, …) about a
/// message, on that message's step, for `contact` at `at`; `None` for other events and
/// feedback that names no message (no workflow and step).
pub fn feedback_entry(
    event: &crate::model::event::Event,
    contact: &str,
    at: DateTime<Utc>,
) -> Option<JournalEntry> {
    let kind = match event.name.as_str() {
        "email_delivered" => Kind::MessageDelivered,
        "email_opened" => Kind::MessageOpened,
        "email_clicked" => Kind::MessageClicked,
        "email_accepted" => Kind::MessageAccepted,
        "email_rejected" => Kind::MessageRejected,
        "email_rendering_failed" => Kind::MessageRenderFailed,
        "email_delivery_delayed" => Kind::MessageDelayedByProvider,
        _ => return None,
    };
    let prop = |k: &str| {
        event
            .props
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let (workflow, step) = (prop("workflow")?, prop("step")?);
    let mut entry = JournalEntry::new(at, contact, kind);
    match prop("broadcast") {
        Some(broadcast) => entry.broadcast = Some(broadcast),
        None => entry.workflow = Some(workflow),
    }
    entry.step = Some(step);
    entry.run = prop("run").filter(|run| !run.is_empty());
    entry.channel = Some("email".into());
    entry.template = prop("template");
    entry.url = prop("link");
    entry.message = prop("detail");
    Some(entry)
}

/// Fingerprints a batch of entries by its content: appended again by a retry, the same
/// batch has the same fingerprint, so a store can recognise it.
pub fn batch_fingerprint(entries: &[JournalEntry]) -> u64 {
    crate::keys::fnv1a(serde_json::to_vec(entries).unwrap_or_default())
}

impl JournalEntry {
    /// The name a store indexes the entry under for reports: its workflow, or its
    /// broadcast's [`crate::model::broadcast::journal_index`].
    pub fn index_name(&self) -> Option<String> {
        match (&self.workflow, &self.broadcast) {
            (Some(workflow), _) => Some(workflow.clone()),
            (None, Some(broadcast)) => Some(crate::model::broadcast::journal_index(broadcast)),
            (None, None) => None,
        }
    }

    pub fn new(at: DateTime<Utc>, contact: &str, kind: Kind) -> JournalEntry {
        JournalEntry {
            at,
            contact: contact.to_string(),
            kind,
            workflow: None,
            broadcast: None,
            step: None,
            run: None,
            version: None,
            channel: None,
            template: None,
            reason: None,
            until: None,
            branch: None,
            tag: None,
            list: None,
            name: None,
            score: None,
            field: None,
            value: None,
            url: None,
            message: None,
            from: None,
            into: None,
            trace: None,
        }
    }
}

/// An optional JSON value that reads back as it was written: present-but-`null` is
/// `Some(Null)` (a field found empty), absent is `None`. serde's default reads both as
/// `None`, so an entry read back would hash differently from the one written, and a
/// journal batch handed on again would be stored twice under two keys.
pub fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The journal's timestamps: written as stored timestamps are ([`super::timestamp`]; the
/// same instant always the same text, which golden files and batch fingerprints rely on),
/// read strictly as RFC 3339.
pub mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserializer, Serializer};

    use crate::model::timestamp;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        timestamp::serialize(t, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        timestamp::deserialize_or(d, crate::calendar::parse_timestamp)
    }
}

/// The same for an optional journal timestamp (`until`).
pub mod rfc3339_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserializer, Serializer};

    use crate::model::timestamp;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        timestamp::opt::serialize(t, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        timestamp::opt::deserialize_or(d, crate::calendar::parse_timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch read back from a stored outbox hashes as it did when written, so handing
    /// it on again overwrites its entries instead of storing them twice.
    #[test]
    fn a_batch_read_back_keeps_its_fingerprint() {
        let at = DateTime::from_timestamp(1_767_225_600, 123_456_789).unwrap();
        let mut cleared = JournalEntry::new(at, "ann", Kind::FieldSet);
        cleared.value = Some(Value::Null);
        let mut decided = JournalEntry::new(at, "ann", Kind::Step);
        decided.trace = Some(Box::new(crate::model::trace::Trace {
            test: "field plan = pro".into(),
            observed: Some(Value::Null),
            holds: false,
            of: vec![crate::model::trace::Trace {
                // A sum as floats add up: 17 significant digits read back exactly.
                test: "event purchase, sum of amount > 100".into(),
                observed: Some(Value::from(0.1 + 0.2 + 12345.678901234567)),
                holds: true,
                of: Vec::new(),
            }],
        }));
        let batch = vec![
            cleared,
            decided,
            JournalEntry::new(at, "ann", Kind::Waiting),
        ];
        let text = serde_json::to_string(&batch).unwrap();
        let back: Vec<JournalEntry> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, batch);
        assert_eq!(batch_fingerprint(&back), batch_fingerprint(&batch));
    }
}
