//! Project-level definitions: named segments, scoring rules, templates, the delivery
//! policy, and (an extension) the contact schema that lint checks template variables against.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::language::condition::{Condition, Where};
use crate::language::step::Channel;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Definitions {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    /// Named segments: conditions workflows refer to by name.
    pub segments: BTreeMap<String, Condition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// Scoring rules: points for events.
    pub scoring: Vec<ScoringRule>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    /// Message templates by name (Liquid).
    pub templates: BTreeMap<String, Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Frequency caps and quiet hours for marketing messages.
    pub delivery: Option<Delivery>,
    /// The contact fields that exist (name → type), for template and condition checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_schema: Option<BTreeMap<String, FieldType>>,
    /// How profiles become one contact (`identity: { merge_on: email }`, the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// Broadcasts by id: one message for a whole audience, fired by a business event or
    /// at a time.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub broadcasts: BTreeMap<String, crate::language::broadcast::Broadcast>,
    /// Ad audiences kept in sync with a segment: each change of membership (entering,
    /// leaving, unsubscribing) is posted to the destination, once.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub audiences: BTreeMap<String, crate::language::broadcast::AudienceSync>,
}

/// `identity:` in definitions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// `email`: an identify that gives a contact the email of another contact merges it
    /// into that one (the contact that had the email first). `none`: never by email.
    #[serde(default)]
    pub merge_on: MergeOn,
}

/// What, besides `userId` + `anonymousId` and `alias`, makes two profiles one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MergeOn {
    #[default]
    Email,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    String,
    Number,
    Boolean,
    Date,
    Datetime,
}

/// `{ event: page_viewed, where: {...}, points: 5, expires: 30d }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoringRule {
    /// The event that earns the points.
    pub event: String,
    /// Only events whose properties pass these tests.
    #[serde(default, rename = "where", skip_serializing_if = "Where::is_empty")]
    pub where_: Where,
    /// Points per event (negative: remove).
    pub points: i64,
    /// The points stop counting this long after the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Duration>,
    /// Which score; default `lead`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<String>,
}

/// A message template (Liquid). Email uses subject/html/text; SMS `sms`; push `push` (+ `title`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Template {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Email subject.
    pub subject: Option<String>,
    /// Inline Liquid, or a path (relative to the definitions file) ending in .html or .liquid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Email text part: inline, or a file next to the definitions.
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// SMS text.
    pub sms: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Push notification body.
    pub push: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Push notification title.
    pub title: Option<String>,
}

impl Template {
    /// Every Liquid source of the template with the name of its part.
    pub fn parts(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("subject", &self.subject),
            ("html", &self.html),
            ("text", &self.text),
            ("sms", &self.sms),
            ("push", &self.push),
            ("title", &self.title),
        ]
        .into_iter()
        .filter_map(|(name, part)| part.as_deref().map(|p| (name, p)))
    }

    /// Whether the template has a body for this channel.
    pub fn serves(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => {
                self.subject.is_some() && (self.html.is_some() || self.text.is_some())
            }
            Channel::Sms => self.sms.is_some(),
            Channel::Push => self.push.is_some(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The From mailbox of email (`Shop <hello@example.com>`).
    pub from: Option<String>,
    /// Marketing messages only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub frequency_cap: BTreeMap<Channel, FrequencyCap>,
    /// In the contact's timezone; marketing messages wait for the end of the window.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quiet_hours: BTreeMap<Channel, QuietHours>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCap {
    /// At most this many marketing messages …
    pub max: u32,
    /// … in this long.
    pub per: Duration,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// Local `HH:MM`.
    pub from: String,
    /// Local `HH:MM`; may be earlier than `from` (the window spans midnight).
    pub to: String,
}

/// Whether a template part names a file (`templates/welcome.html`) rather than holding Liquid.
pub fn is_file_reference(part: &str) -> bool {
    let looks_like_path = [".html", ".htm", ".liquid", ".txt"]
        .iter()
        .any(|ext| part.ends_with(ext));
    looks_like_path && !part.contains(['\n', '{', '<', ' '])
}

impl Definitions {
    /// The merge rule in force (email unless `identity.merge_on` says otherwise).
    pub fn merge_on(&self) -> MergeOn {
        self.identity
            .as_ref()
            .map(|i| i.merge_on)
            .unwrap_or_default()
    }

    /// One error per template part that names a file: where no files can be read (the
    /// HTTP API), a path would otherwise be sent as the message's text.
    pub fn file_references(&self, file: &str) -> Vec<crate::diagnostic::Diagnostic> {
        let mut errors = Vec::new();
        for (name, template) in &self.templates {
            for (part, slot) in [
                ("subject", &template.subject),
                ("html", &template.html),
                ("text", &template.text),
                ("sms", &template.sms),
                ("push", &template.push),
            ] {
                if let Some(value) = slot.as_ref().filter(|v| is_file_reference(v)) {
                    errors.push(crate::diagnostic::Diagnostic::error(
                        file,
                        format!("templates.{name}.{part}"),
                        format!(
                            "names the file `{value}`, which cannot be read here: send the \
                             content inline (`kairos validate` resolves file names locally)"
                        ),
                    ));
                }
            }
        }
        errors
    }

    /// Replaces template parts that name files with the files' contents, relative to
    /// `base` (the definitions file's folder). Returns one diagnostic per unreadable file.
    pub fn resolve_files(
        &mut self,
        base: &std::path::Path,
        file: &str,
    ) -> Vec<crate::diagnostic::Diagnostic> {
        let mut errors = Vec::new();
        for (name, template) in self.templates.iter_mut() {
            for (part, slot) in [
                ("subject", &mut template.subject),
                ("html", &mut template.html),
                ("text", &mut template.text),
                ("sms", &mut template.sms),
                ("push", &mut template.push),
            ] {
                let Some(value) = slot.as_ref().filter(|v| is_file_reference(v)) else {
                    continue;
                };
                let path = base.join(value);
                match std::fs::read_to_string(&path) {
                    Ok(text) => *slot = Some(text),
                    Err(e) => errors.push(crate::diagnostic::Diagnostic::error(
                        file,
                        format!("templates.{name}.{part}"),
                        format!("cannot read {}: {e}", path.display()),
                    )),
                }
            }
        }
        errors
    }
}
