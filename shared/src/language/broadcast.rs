//! `broadcasts:` in definitions: a message (or a workflow start) for a whole audience at
//! once, fired by a business event that passes a filter (`on`) or at a time (`at`); and
//! `audiences:`, segments kept in sync with an ad platform.
//!
//! ```yaml
//! broadcasts:
//!   price-drop:
//!     on: { business_event: product_price_changed,
//!           where: { expr: "(old_price - new_price) / old_price > 0.15" } }
//!     audience: { list: newsletter }
//!     send: { channel: email, template: price-drop }
//!     local_time: "10:00"
//!     throttle: { per_minute: 1000 }
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::language::condition::{Condition, Where};
use crate::language::expr::{EvalError, Expr};
use crate::language::step::SendStep;

/// One broadcast.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Broadcast {
    /// Fire whenever this business event arrives and passes `where`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<OnBusinessEvent>,
    /// Or fire once, at this time (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Who gets it: a condition about the contact (lists, tags, segments, fields …),
    /// evaluated for each contact at the firing.
    pub audience: Condition,
    /// The message each member gets, through the delivery policy (consent, caps, quiet
    /// hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<SendStep>,
    /// Or the workflow each member starts (its trigger event is the business event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Deliver at this local time (`HH:MM`) in each contact's timezone: the first such
    /// moment at or after the firing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_time: Option<String>,
    /// Spread the sends: at most this many per minute, in audience order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<Throttle>,
}

/// `on:` — the business event that fires the broadcast.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnBusinessEvent {
    /// The business event's name (`product_price_changed`).
    pub business_event: String,
    /// Only events that pass this filter.
    #[serde(default, rename = "where", skip_serializing_if = "Filter::is_empty")]
    pub where_: Filter,
}

/// A business event filter: an expression over its props, and/or per-prop tests with the
/// operators of `field` (`new_price: { lt: 100 }`). Both must hold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Filter {
    /// Arithmetic and comparisons over the props: `+ - * / %`, `== != < <= > >=`, `and or
    /// not`, parentheses, numbers, strings (`'…'` or `"…"`), `true`, `false`; `a.b` reads
    /// a nested prop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expr: Option<String>,
    /// Tests per prop.
    #[serde(flatten)]
    pub props: Where,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.expr.is_none() && self.props.is_empty()
    }

    /// Whether the props pass. A prop the expression needs that is missing (or of the
    /// wrong type) is an error: the filter does not pass, and the caller journals why.
    pub fn passes(
        &self,
        props: &Map<String, Value>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, EvalError> {
        if !crate::engine::eval::where_matches(&self.props, props, now) {
            return Ok(false);
        }
        match &self.expr {
            None => Ok(true),
            Some(text) => Expr::parse(text).map_err(EvalError)?.holds(props),
        }
    }
}

/// `audiences.<id>`: a segment pushed to an ad platform as it changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AudienceSync {
    /// The segment whose members (those who take marketing) make the audience.
    pub segment: String,
    /// Where the changes go.
    pub destination: Destination,
}

/// Where an audience's changes are posted: `{audience, add: [{email_sha256,
/// phone_sha256}], remove: [...]}`, with an `Idempotency-Key` per change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// The URL (http or https) that takes the changes (your connector to Meta's or
    /// Google's API).
    pub webhook: String,
    /// At most this many changes per request (1 to 10,000). Changes are posted as they
    /// happen, one per request, which never exceeds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
    /// Extra headers (an authorization for the connector).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, String>,
}

/// `throttle:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    /// Sends per minute, at most.
    pub per_minute: u32,
}
