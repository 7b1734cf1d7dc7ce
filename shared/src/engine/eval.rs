//! Condition evaluation over a contact's fields, tags, lists, scores, named segments and
//! event history, at a given instant and (inside a run) relative to that run.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use crate::language::condition::{Condition, EventTest, Ops, Since, Where};
use crate::language::definitions::Definitions;
use crate::model::contact::ContactState;
use crate::model::event::number;
use crate::model::run::Run;

/// Segments may refer to segments; validation rejects cycles, this bounds the rest.
pub(crate) const MAX_SEGMENT_DEPTH: u32 = 16;

/// What a condition is evaluated against.
pub struct Scope<'a> {
    pub state: &'a ContactState,
    pub definitions: &'a Definitions,
    pub now: DateTime<Utc>,
    /// The run (for `since` and `match_key`) and its workflow's key property.
    pub run: Option<(&'a Run, Option<&'a str>)>,
}

impl Scope<'_> {
    pub fn holds(&self, condition: &Condition) -> bool {
        self.holds_at(condition, 0)
    }

    fn holds_at(&self, condition: &Condition, depth: u32) -> bool {
        let contact = &self.state.contact;
        match condition {
            Condition::All(list) => list.iter().all(|c| self.holds_at(c, depth)),
            Condition::Any(list) => list.iter().any(|c| self.holds_at(c, depth)),
            Condition::Not(inner) => !self.holds_at(inner, depth),
            Condition::Field(test) => ops_match(
                &test.test,
                field_value(contact, &test.name).as_ref(),
                self.now,
            ),
            Condition::Tag(tag) => contact.tags.contains(tag),
            Condition::List(list) => contact.lists.contains(list),
            Condition::Score(test) => {
                let name = test.name.as_deref().unwrap_or("lead");
                ops_match(
                    &test.test,
                    Some(&Value::from(contact.score(name, self.now))),
                    self.now,
                )
            }
            Condition::Segment(name) => {
                depth < MAX_SEGMENT_DEPTH
                    && self
                        .definitions
                        .segments
                        .get(name)
                        .is_some_and(|c| self.holds_at(c, depth + 1))
            }
            Condition::Event(test) => self.event_holds(test),
            Condition::InactiveFor(d) => {
                let last = self
                    .state
                    .history
                    .last_engagement
                    .unwrap_or(contact.created_at);
                (self.now - last).num_seconds() >= d.seconds()
            }
        }
    }

    /// The earliest instant after now at which `condition` can change its answer without
    /// new data: an event leaving a window, an inactivity threshold, a date growing old, a
    /// score's points expiring. `None` when only new data can change it.
    pub fn next_change(&self, condition: &Condition) -> Option<DateTime<Utc>> {
        self.next_change_at(condition, 0).filter(|t| *t > self.now)
    }

    fn next_change_at(&self, condition: &Condition, depth: u32) -> Option<DateTime<Utc>> {
        let contact = &self.state.contact;
        let later = |t: DateTime<Utc>| (t > self.now).then_some(t);
        match condition {
            Condition::All(list) | Condition::Any(list) => list
                .iter()
                .filter_map(|c| self.next_change_at(c, depth))
                .min(),
            Condition::Not(inner) => self.next_change_at(inner, depth),
            Condition::Field(test) => {
                let t = field_value(contact, &test.name)
                    .as_ref()
                    .and_then(as_time)?;
                let edges = [test.test.older_than, test.test.within_last];
                edges
                    .iter()
                    .flatten()
                    .filter_map(|d| later(t + d.to_chrono() + chrono::Duration::seconds(1)))
                    .min()
            }
            Condition::Score(test) => {
                let name = test.name.as_deref().unwrap_or("lead");
                contact
                    .scores
                    .get(name)?
                    .expiring
                    .iter()
                    .filter_map(|(until, _)| later(*until))
                    .min()
            }
            Condition::Segment(name) if depth < MAX_SEGMENT_DEPTH => self
                .definitions
                .segments
                .get(name)
                .and_then(|c| self.next_change_at(c, depth + 1)),
            Condition::Event(test) => {
                let within = test.within?;
                let log = self.state.history.log(&test.name)?;
                let from = self.now - within.to_chrono();
                let key = match (test.match_key, self.run) {
                    (true, Some((run, Some(property)))) => Some((property, run.key.as_ref())),
                    _ => None,
                };
                let oldest = log.between(Some(from), self.now).iter().find(|e| {
                    where_matches(&test.where_, &e.props, self.now) && key_matches(key, &e.props)
                })?;
                later(oldest.at + within.to_chrono() + chrono::Duration::seconds(1))
            }
            Condition::InactiveFor(d) => {
                let last = self
                    .state
                    .history
                    .last_engagement
                    .unwrap_or(contact.created_at);
                later(last + d.to_chrono())
            }
            Condition::Tag(_) | Condition::List(_) | Condition::Segment(_) => None,
        }
    }

    fn event_holds(&self, test: &EventTest) -> bool {
        let (count, sum) = self.event_observed(test);
        count_matches(test.count.as_ref(), count)
            && test.sum.as_ref().is_none_or(|s| {
                ops_match(&s.test, Some(&Value::from(sum.unwrap_or(0.0))), self.now)
            })
    }

    /// What an event test counts: how many events match (window, `since`, `where`, the
    /// run's key), and with `sum`, the total of that property over them.
    pub(crate) fn event_observed(&self, test: &EventTest) -> (u64, Option<f64>) {
        let Some(log) = self.state.history.log(&test.name) else {
            return (0, test.sum.as_ref().map(|_| 0.0));
        };
        let mut from = test.within.map(|w| self.now - w.to_chrono());
        if let (Some(since), Some((run, _))) = (test.since, self.run) {
            let start = match since {
                Since::RunStart => run.started_at,
                Since::StepStart => run.step_started_at,
            };
            from = Some(from.map_or(start, |f| f.max(start)));
        }
        let key = match (test.match_key, self.run) {
            (true, Some((run, Some(property)))) => Some((property, run.key.as_ref())),
            _ => None,
        };
        let filtered = !test.where_.is_empty() || key.is_some();
        let window = log.between(from, self.now);
        let counted = |e: &&crate::model::history::StoredEvent| {
            !filtered
                || (where_matches(&test.where_, &e.props, self.now) && key_matches(key, &e.props))
        };
        // Lifetime counts and sums without a filter come from the aggregates, which outlive
        // the recent log.
        let lifetime =
            from.is_none() && !filtered && log.recent.last().is_none_or(|e| e.at <= self.now);
        let count = if lifetime {
            log.total
        } else if !filtered {
            window.len() as u64
        } else {
            window.iter().filter(counted).count() as u64
        };
        let sum = test
            .sum
            .as_ref()
            .map(|sum| match log.lifetime_sum(&sum.of) {
                Some(total) if lifetime => total,
                _ => window
                    .iter()
                    .filter(counted)
                    .filter_map(|e| e.props.get(&sum.of).and_then(number))
                    .sum(),
            });
        (count, sum)
    }
}

pub(crate) fn count_matches(test: Option<&Ops>, count: u64) -> bool {
    match test {
        None => count >= 1,
        Some(ops) => ops_match(ops, Some(&Value::from(count)), DateTime::<Utc>::MIN_UTC),
    }
}

fn key_matches(key: Option<(&str, Option<&Value>)>, props: &Map<String, Value>) -> bool {
    match key {
        None => true,
        Some((property, run_key)) => match (props.get(property), run_key) {
            (Some(a), Some(b)) => loose_eq(a, b),
            // A run entered without a key matches no event: "its own cart" is unknown.
            _ => false,
        },
    }
}

/// A contact field by name; `email`, `phone` and `timezone` are fields too.
pub fn field_value(contact: &crate::model::contact::Contact, name: &str) -> Option<Value> {
    match name {
        "email" => contact.email.clone().map(Value::String),
        "phone" => contact.phone.clone().map(Value::String),
        "timezone" => Some(Value::String(contact.timezone.name().to_string())),
        _ => contact.fields.get(name).cloned(),
    }
}

/// Whether every property test in `filter` holds for `props`.
pub fn where_matches(filter: &Where, props: &Map<String, Value>, now: DateTime<Utc>) -> bool {
    filter
        .iter()
        .all(|(name, predicate)| ops_match(&predicate.0, props.get(name), now))
}

/// Whether `value` passes every operator in `ops` (all must hold).
pub fn ops_match(ops: &Ops, value: Option<&Value>, now: DateTime<Utc>) -> bool {
    let value = value.filter(|v| !v.is_null());
    if let Some(exists) = ops.exists {
        if exists != value.is_some() {
            return false;
        }
    }
    if let Some(expected) = &ops.ne {
        if value.is_some_and(|v| loose_eq(v, expected)) {
            return false;
        }
    }
    let needs_value = ops.eq.is_some()
        || ops.gt.is_some()
        || ops.gte.is_some()
        || ops.lt.is_some()
        || ops.lte.is_some()
        || ops.in_.is_some()
        || ops.contains.is_some()
        || ops.starts_with.is_some()
        || ops.older_than.is_some()
        || ops.within_last.is_some();
    let Some(v) = value else { return !needs_value };
    let compare = |target: &Option<Value>, accept: fn(Ordering) -> bool| {
        target
            .as_ref()
            .is_none_or(|t| compare_values(v, t).is_some_and(accept))
    };
    ops.eq.as_ref().is_none_or(|e| loose_eq(v, e))
        && compare(&ops.gt, |o| o == Ordering::Greater)
        && compare(&ops.gte, |o| o != Ordering::Less)
        && compare(&ops.lt, |o| o == Ordering::Less)
        && compare(&ops.lte, |o| o != Ordering::Greater)
        && ops
            .in_
            .as_ref()
            .is_none_or(|list| list.iter().any(|e| loose_eq(v, e)))
        && ops
            .contains
            .as_ref()
            .is_none_or(|needle| contains(v, needle))
        && ops
            .starts_with
            .as_ref()
            .is_none_or(|prefix| v.as_str().is_some_and(|s| s.starts_with(prefix.as_str())))
        && ops
            .older_than
            .is_none_or(|d| as_time(v).is_some_and(|t| (now - t).num_seconds() > d.seconds()))
        && ops.within_last.is_none_or(|d| {
            as_time(v).is_some_and(|t| t <= now && (now - t).num_seconds() <= d.seconds())
        })
}

/// Equality that treats `5`, `5.0` and `"5"` alike, as marketers expect from form data.
pub fn loose_eq(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (Value::Number(_), _) | (_, Value::Number(_)) => {
            number(a).zip(number(b)).is_some_and(|(x, y)| x == y)
        }
        (Value::String(x), Value::Bool(y)) | (Value::Bool(y), Value::String(x)) => {
            x == &y.to_string()
        }
        _ => false,
    }
}

/// Numbers numerically, dates chronologically, other strings lexically.
fn compare_values(a: &Value, b: &Value) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return x.partial_cmp(&y);
    }
    if let (Some(x), Some(y)) = (as_time(a), as_time(b)) {
        return Some(x.cmp(&y));
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn contains(haystack: &Value, needle: &Value) -> bool {
    match haystack {
        Value::String(s) => needle.as_str().is_some_and(|n| s.contains(n)),
        Value::Array(items) => items.iter().any(|i| loose_eq(i, needle)),
        _ => false,
    }
}

/// A date or date-time held in a value (`2026-01-05`, RFC 3339).
pub fn as_time(v: &Value) -> Option<DateTime<Utc>> {
    let text = v.as_str()?;
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}
