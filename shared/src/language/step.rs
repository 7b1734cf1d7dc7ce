//! Steps as written: a map with an `id` and exactly one kind key. The document form keeps
//! every kind optional so that a step with two kinds, or none, gets a precise validation
//! error instead of a generic "did not match" from the parser.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::duration::Duration;
use crate::language::condition::Condition;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepDoc {
    /// Slug, unique in the workflow.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Send a message (email, SMS or push).
    pub send: Option<SendStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Wait for a time, a moment, a local time or a condition.
    pub wait: Option<WaitStep>,
    #[serde(default, rename = "if", skip_serializing_if = "Option::is_none")]
    /// Branch on a condition (`then` / `else`).
    pub if_: Option<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// With `if`: the steps when the condition holds.
    pub then: Option<Vec<StepDoc>>,
    #[serde(default, rename = "else", skip_serializing_if = "Option::is_none")]
    /// With `if`: the steps when it does not.
    pub else_: Option<Vec<StepDoc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Random branches by weight (A/B/n), stable per contact and run.
    pub split: Option<Vec<SplitBranch>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// A goal: runs jump here when it holds.
    pub goal: Option<GoalStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Add or remove tags.
    pub tag: Option<TagStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Join or leave lists.
    pub list: Option<ListStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Change a score.
    pub score: Option<ScoreStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Set contact fields (`null` removes one).
    pub set: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Enroll the contact in another workflow (its reentry applies).
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// End the contact's runs of another workflow.
    pub stop: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Call a URL with the contact and the run as JSON.
    pub webhook: Option<WebhookStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Jump to another step (a loop needs a wait in it).
    pub goto: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// End the run (`end: true`).
    pub end: Option<bool>,
    /// On a `split`: which goal its branches are compared on (they report as an
    /// experiment), and optionally when a winner takes over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<Experiment>,
}

/// `experiment:` on a split step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// The goal step whose conversions compare the branches; default: the workflow's
    /// first goal after the split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// Once a branch wins at this confidence, new runs take it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<Winner>,
}

/// `winner:` in an experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Winner {
    /// Not before this long after the first run took the split.
    pub after: Duration,
    /// Not before every branch has had this many runs.
    #[serde(default = "default_min_per_branch")]
    pub min_per_branch: u64,
    /// How sure the difference to the first branch must be (two-sided), e.g. 0.95.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
}

fn default_min_per_branch() -> u64 {
    200
}

fn default_confidence() -> f64 {
    0.95
}

/// The name a split branch reports under: its `name`, else `a`, `b`, … by position.
pub fn branch_name(branch: &SplitBranch, index: usize) -> String {
    branch
        .name
        .clone()
        .unwrap_or_else(|| match u8::try_from(index) {
            Ok(i) if i < 26 => char::from(b'a' + i).to_string(),
            _ => format!("branch-{}", index + 1),
        })
}

impl StepDoc {
    /// The kind keys present in this step, in the order the contract lists them.
    pub fn kinds(&self) -> Vec<&'static str> {
        let present = [
            ("send", self.send.is_some()),
            ("wait", self.wait.is_some()),
            ("if", self.if_.is_some()),
            ("split", self.split.is_some()),
            ("goal", self.goal.is_some()),
            ("tag", self.tag.is_some()),
            ("list", self.list.is_some()),
            ("score", self.score.is_some()),
            ("set", self.set.is_some()),
            ("start", self.start.is_some()),
            ("stop", self.stop.is_some()),
            ("webhook", self.webhook.is_some()),
            ("goto", self.goto.is_some()),
            ("end", self.end.is_some()),
        ];
        present
            .iter()
            .filter(|(_, on)| *on)
            .map(|(k, _)| *k)
            .collect()
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Push,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Obeys consent, frequency caps and quiet hours.
    #[default]
    Marketing,
    /// Skips caps and quiet hours; never goes to a bounced or complaining address.
    Transactional,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendStep {
    /// `email` (SES), `sms` or `push` (SNS).
    pub channel: Channel,
    /// A template from the definitions.
    pub template: String,
    #[serde(default)]
    /// `marketing` (default: consent, caps and quiet hours apply) or `transactional`.
    pub category: Category,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub fn to_chrono(self) -> chrono::Weekday {
        match self {
            Weekday::Mon => chrono::Weekday::Mon,
            Weekday::Tue => chrono::Weekday::Tue,
            Weekday::Wed => chrono::Weekday::Wed,
            Weekday::Thu => chrono::Weekday::Thu,
            Weekday::Fri => chrono::Weekday::Fri,
            Weekday::Sat => chrono::Weekday::Sat,
            Weekday::Sun => chrono::Weekday::Sun,
        }
    }
}

/// `wait:` in its four shapes; validation checks that exactly one shape is used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitStep {
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    /// A fixed delay (`3d`).
    pub for_: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// A moment (RFC 3339; past: no wait) or a condition to wait for.
    pub until: Option<Until>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// With a condition: give up after this long (default: wait as long as it takes).
    pub timeout: Option<Duration>,
    /// Local time `HH:MM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// With `until_time`: only on these days.
    pub days: Option<Vec<Weekday>>,
    /// `contact` (the contact's timezone, the default) or an IANA name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
}

/// `until:` is either an RFC 3339 date-time or a condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Until {
    At(String),
    Condition(Condition),
}

impl Serialize for Until {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Until::At(text) => text.serialize(s),
            Until::Condition(c) => c.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Until {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(text) => Ok(Until::At(text)),
            other => crate::language::parse::from_value::<Condition>(other)
                .map(Until::Condition)
                .map_err(de::Error::custom),
        }
    }
}

impl JsonSchema for Until {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Until".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let condition = generator.subschema_for::<Condition>();
        schemars::json_schema!({ "anyOf": [ { "type": "string", "format": "date-time" }, condition ] })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitBranch {
    /// Relative weight (zero or more).
    pub weight: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The name reports use (default `a`, `b`, … by position).
    pub name: Option<String>,
    #[serde(default)]
    /// The steps of this branch; empty: a holdout.
    pub steps: Vec<StepDoc>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GoalScope {
    /// Only goals after the run's position (along the paths it can still take).
    #[default]
    Below,
    /// Any goal in the workflow, also one already passed or on another branch.
    Anywhere,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Otherwise {
    #[default]
    Continue,
    Wait,
    End,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoalStep {
    /// The condition that achieves the goal.
    pub when: Condition,
    #[serde(default)]
    /// `below` (default): runs before it jump here; `anywhere`: any run of the workflow.
    pub scope: GoalScope,
    #[serde(default)]
    /// A run that walks onto it while it does not hold: `continue`, `wait` or `end`.
    pub otherwise: Otherwise,
    /// With `otherwise: wait`: stop waiting after this long and continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagStep {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// Tags to add.
    pub add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// Tags to remove.
    pub remove: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListStep {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// Lists to join.
    pub join: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// Lists to leave.
    pub leave: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Points to add (negative: remove).
    pub add: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Set the score to this.
    pub set: Option<i64>,
    /// Which score; default `lead`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    #[default]
    Post,
    Put,
    Patch,
    Delete,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookStep {
    /// Where to send it (https).
    pub url: String,
    #[serde(default)]
    /// The HTTP method (default `POST`).
    pub method: HttpMethod,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    /// Extra headers to send.
    pub headers: BTreeMap<String, String>,
}
