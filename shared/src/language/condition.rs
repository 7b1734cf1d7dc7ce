//! Conditions: the segment builder. Used by `if`, `wait: until`, goals, `exit_when`,
//! entry segments and named segments.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::duration::Duration;

/// One condition. Exactly one key per map, e.g. `{ tag: vip }` or `{ all: [...] }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Every condition in the list holds.
    All(Vec<Condition>),
    /// At least one condition in the list holds.
    Any(Vec<Condition>),
    /// The condition does not hold.
    Not(Box<Condition>),
    /// A contact field passes the operators: `{ name: country, eq: DE }`.
    Field(FieldTest),
    /// The contact has this tag.
    Tag(String),
    /// The contact is in this list.
    List(String),
    /// A score passes the operators: `{ gte: 50 }` (`name:` for another score than `lead`).
    Score(ScoreTest),
    /// The contact matches this named segment (from the definitions).
    Segment(String),
    /// The contact did an event, counted (and summed) over a window.
    Event(EventTest),
    /// No engagement event for this long (counted from the contact's creation when it has none).
    InactiveFor(Duration),
}

/// Comparison operators shared by `field`, `where`, `score`, `count` and `sum`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ops {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Equal to (`5`, `5.0` and `"5"` are equal).
    pub eq: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Not equal to.
    pub ne: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Greater than (numbers, dates, or strings).
    pub gt: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Greater than or equal to.
    pub gte: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Less than.
    pub lt: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Less than or equal to.
    pub lte: Option<Value>,
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    /// One of these values.
    pub in_: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// A string containing this, or a list holding it.
    pub contains: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// A string starting with this.
    pub starts_with: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// `true`: has a value; `false`: has none.
    pub exists: Option<bool>,
    /// The field holds a date older than this (dates only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub older_than: Option<Duration>,
    /// The field holds a date no older than this (dates only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_last: Option<Duration>,
}

impl Ops {
    pub fn is_empty(&self) -> bool {
        *self == Ops::default()
    }

    /// An `Ops` that tests equality with one value (`where: { step: welcome }`).
    pub fn equal_to(value: Value) -> Ops {
        Ops {
            eq: Some(value),
            ..Ops::default()
        }
    }
}

/// `field: { name: country, eq: DE }`.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct FieldTest {
    /// The field (`email`, `phone` and `timezone` are fields too).
    pub name: String,
    #[serde(flatten)]
    pub test: Ops,
}

/// `score: { gte: 50 }`, optionally `name:` (default `lead`).
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct ScoreTest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Which score (default `lead`).
    pub name: Option<String>,
    #[serde(flatten)]
    pub test: Ops,
}

/// A property filter: `{ amount: { gt: 50 } }`, or a bare value for equality (`{ step: welcome }`).
pub type Where = BTreeMap<String, Predicate>;

/// One property's test inside `where`.
#[derive(Clone, Debug, PartialEq)]
pub struct Predicate(pub Ops);

impl Serialize for Predicate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0.eq {
            Some(v) if !v.is_object() && Ops::equal_to(v.clone()) == self.0 => v.serialize(s),
            _ => self.0.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Predicate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Object(map) => crate::language::parse::from_value::<Ops>(Value::Object(map))
                .map(Predicate)
                .map_err(de::Error::custom),
            Value::Null => Err(de::Error::custom(
                "a property test cannot be empty; write `{ exists: false }` to test for absence",
            )),
            scalar => Ok(Predicate(Ops::equal_to(scalar))),
        }
    }
}

impl JsonSchema for Predicate {
    fn schema_name() -> Cow<'static, str> {
        "Predicate".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let ops = generator.subschema_for::<Ops>();
        json_schema!({ "anyOf": [ ops, { "type": ["string", "number", "boolean", "array"] } ] })
    }
}

/// Which events count: since the run started or since it reached its current step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Since {
    /// Since the run started.
    RunStart,
    /// Since the run reached its current step.
    StepStart,
}

/// `sum: { of: amount, gt: 70 }`.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct SumTest {
    /// The event property to add up.
    pub of: String,
    #[serde(flatten)]
    pub test: Ops,
}

/// `event: { name: purchase, where: {...}, within: 30d, count: { gte: 2 } }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTest {
    /// The event name (`purchase`, `email_opened`, …).
    pub name: String,
    #[serde(default, rename = "where", skip_serializing_if = "BTreeMap::is_empty")]
    /// Only events whose properties pass these tests.
    pub where_: Where,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Only events this recent (default: all time).
    pub within: Option<Duration>,
    /// Default `{ gte: 1 }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Ops>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The total of a property over the counted events must pass the operators.
    pub sum: Option<SumTest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Only events since the run started (`run_start`) or reached this step (`step_start`).
    pub since: Option<Since>,
    /// Only events whose run key property equals this run's key (see `entry.key`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub match_key: bool,
}

impl Condition {
    /// Calls `visit` on this condition and every condition nested in it.
    pub fn walk<'a>(&'a self, visit: &mut dyn FnMut(&'a Condition)) {
        visit(self);
        match self {
            Condition::All(list) | Condition::Any(list) => list.iter().for_each(|c| c.walk(visit)),
            Condition::Not(inner) => inner.walk(visit),
            _ => {}
        }
    }
}

/// `{ <key>: …, <operators>… }`: serde's `flatten` would let unknown operators through
/// silently, so these read the map, take their own key, and hand the rest to [`Ops`],
/// which rejects anything it does not know.
macro_rules! keyed_ops {
    ($ty:ident, $key:ident, $required:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let mut map = serde_json::Map::<String, Value>::deserialize(d)?;
                let key = match map.remove(stringify!($key)) {
                    Some(Value::String(s)) => Some(s),
                    Some(other) => {
                        return Err(de::Error::custom(format!(
                            "`{}` must be a string, not {other}",
                            stringify!($key)
                        )))
                    }
                    None if $required => return Err(de::Error::missing_field(stringify!($key))),
                    None => None,
                };
                let test = crate::language::parse::from_value::<Ops>(Value::Object(map))
                    .map_err(de::Error::custom)?;
                Ok($ty::from_parts(key, test))
            }
        }
    };
}

impl FieldTest {
    fn from_parts(name: Option<String>, test: Ops) -> Self {
        FieldTest {
            name: name.unwrap_or_default(),
            test,
        }
    }
}

impl ScoreTest {
    fn from_parts(name: Option<String>, test: Ops) -> Self {
        ScoreTest { name, test }
    }
}

impl SumTest {
    fn from_parts(of: Option<String>, test: Ops) -> Self {
        SumTest {
            of: of.unwrap_or_default(),
            test,
        }
    }
}

keyed_ops!(FieldTest, name, true);
keyed_ops!(ScoreTest, name, false);
keyed_ops!(SumTest, of, true);
