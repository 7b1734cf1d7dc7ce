//! The workflow document: entry (triggers, segment, reentry, key), `exit_when`, steps and
//! the optional `migrate` map of a new version.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Offset;
use crate::language::condition::{Condition, Where};
use crate::language::step::StepDoc;

/// A workflow file, as written (YAML or JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowDoc {
    /// Slug, unique in the project.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// A name for people (the console, graphs).
    pub name: Option<String>,
    #[serde(default = "enabled_default")]
    /// `false` deploys it paused: no new runs.
    pub enabled: bool,
    #[serde(default)]
    /// How contacts get in.
    pub entry: Entry,
    /// Checked on every change; a matching contact leaves at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_when: Option<Condition>,
    /// The steps, in order.
    pub steps: Vec<StepDoc>,
    /// Moves runs of an older version onto this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrate: Option<Migrate>,
}

fn enabled_default() -> bool {
    true
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Any one of them enrolls the contact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<TriggerDoc>,
    /// On activation every existing contact that passes `segment` enrolls.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enroll_existing: bool,
    /// Only contacts matching this enter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Condition>,
    #[serde(default)]
    /// `once` (default), `after_exit` or `concurrent`.
    pub reentry: Reentry,
    /// The run is keyed by this property of the entering event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reentry {
    /// A contact can run this workflow one time, ever.
    #[default]
    Once,
    /// Again, but never two runs at once.
    AfterExit,
    /// Every trigger starts a new run (one per key value when `key` is set).
    Concurrent,
}

/// One trigger as written; validation checks exactly one kind is present.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The contact does this event.
    pub event: Option<String>,
    /// With `event`: a filter on the event's properties.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub where_: Option<Where>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// This tag is added.
    pub tag_added: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// This tag is removed.
    pub tag_removed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The contact joins this list.
    pub list_joined: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The contact leaves this list.
    pub list_left: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// This contact field changes.
    pub field_changed: Option<String>,
    /// With `field_changed`: only when the field changes to this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// A date in the contact's fields comes round, in its timezone.
    pub date: Option<DateTrigger>,
    /// The contact starts matching a named segment (by new data or by time alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_entered: Option<String>,
    /// The contact stops matching a named segment (by new data or by time alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_left: Option<String>,
}

impl TriggerDoc {
    pub fn kinds(&self) -> Vec<&'static str> {
        let present = [
            ("event", self.event.is_some()),
            ("tag_added", self.tag_added.is_some()),
            ("tag_removed", self.tag_removed.is_some()),
            ("list_joined", self.list_joined.is_some()),
            ("list_left", self.list_left.is_some()),
            ("field_changed", self.field_changed.is_some()),
            ("date", self.date.is_some()),
            ("segment_entered", self.segment_entered.is_some()),
            ("segment_left", self.segment_left.is_some()),
        ];
        present
            .iter()
            .filter(|(_, on)| *on)
            .map(|(k, _)| *k)
            .collect()
    }
}

/// `date: { field: birthday, each_year: true, at: "09:00", offset: -1d }`, in the contact's timezone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DateTrigger {
    /// The contact field that holds the date (`birthday`, `renewal_date`).
    pub field: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    /// Every year on that day (anniversaries), not once.
    pub each_year: bool,
    /// Local time `HH:MM`; default `00:00` (or the field's own time when it holds one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Before or after the date (`-1d`, `2h`).
    pub offset: Option<Offset>,
}

/// `migrate: { from: 3, steps: { old-step-id: new-step-id } }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Migrate {
    /// The version whose runs move onto this one.
    pub from: u32,
    /// Where each of that version's steps is in this one (`old-step: new-step`).
    #[serde(default)]
    pub steps: BTreeMap<String, String>,
}
