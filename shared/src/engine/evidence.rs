//! Evidence: a condition evaluated with its reasons — the same answers as
//! [`Scope::holds`], with every part's observed value, for the journal's decision traces.
//! Only decisions that are journaled are evaluated this way; the many checks that decide
//! nothing use the plain evaluation.

use serde_json::{json, Map, Value};

use crate::engine::eval::{field_value, ops_match, where_matches, Scope, MAX_SEGMENT_DEPTH};
use crate::language::condition::{Condition, EventTest, Ops, Since, Where};
use crate::model::trace::{show, Trace};

impl Scope<'_> {
    /// `condition` evaluated with its evidence.
    pub fn evidence(&self, condition: &Condition) -> Trace {
        self.evidence_at(condition, 0)
    }

    fn evidence_at(&self, condition: &Condition, depth: u32) -> Trace {
        let contact = &self.state.contact;
        let group = |test: &str, of: Vec<Trace>, holds: bool| Trace {
            test: test.into(),
            observed: None,
            holds,
            of,
        };
        match condition {
            Condition::All(list) => {
                let of: Vec<Trace> = list.iter().map(|c| self.evidence_at(c, depth)).collect();
                let holds = of.iter().all(|t| t.holds);
                group("all", of, holds)
            }
            Condition::Any(list) => {
                let of: Vec<Trace> = list.iter().map(|c| self.evidence_at(c, depth)).collect();
                let holds = of.iter().any(|t| t.holds);
                group("any", of, holds)
            }
            Condition::Not(inner) => {
                let inner = self.evidence_at(inner, depth);
                let holds = !inner.holds;
                group("not", vec![inner], holds)
            }
            Condition::Field(test) => {
                let value = field_value(contact, &test.name);
                let holds = ops_match(&test.test, value.as_ref(), self.now);
                let text = format!("field {} {}", test.name, ops_words(&test.test));
                Trace::leaf(text, Some(value.unwrap_or(Value::Null)), holds)
            }
            Condition::Tag(tag) => {
                Trace::leaf(format!("tag {tag}"), None, contact.tags.contains(tag))
            }
            Condition::List(list) => {
                Trace::leaf(format!("list {list}"), None, contact.lists.contains(list))
            }
            Condition::Score(test) => {
                let name = test.name.as_deref().unwrap_or("lead");
                let value = Value::from(contact.score(name, self.now));
                let holds = ops_match(&test.test, Some(&value), self.now);
                Trace::leaf(
                    format!("score {name} {}", ops_words(&test.test)),
                    Some(value),
                    holds,
                )
            }
            Condition::Segment(name) => {
                let inner = self.definitions.segments.get(name);
                match inner.filter(|_| depth < MAX_SEGMENT_DEPTH) {
                    Some(c) => {
                        let inner = self.evidence_at(c, depth + 1);
                        let holds = inner.holds;
                        group(&format!("segment {name}"), vec![inner], holds)
                    }
                    None => Trace::leaf(format!("segment {name}"), None, false),
                }
            }
            Condition::Event(test) => {
                let (count, sum) = self.event_observed(test);
                let holds = self.holds(condition);
                let observed = match sum {
                    Some(sum) => json!({ "count": count, "sum": sum }),
                    None => json!(count),
                };
                Trace::leaf(event_words(test), Some(observed), holds)
            }
            Condition::InactiveFor(d) => {
                let last = self.state.history.last_engagement;
                let holds = self.holds(condition);
                let observed = last.map_or(Value::Null, |t| json!(t.to_rfc3339()));
                Trace::leaf(
                    format!("inactive for {d} (last engaged)"),
                    Some(observed),
                    holds,
                )
            }
        }
    }
}

/// A property filter (`where`) tested against an event's properties, with its evidence.
pub fn where_evidence(
    filter: &Where,
    props: &Map<String, Value>,
    now: chrono::DateTime<chrono::Utc>,
) -> Trace {
    let of: Vec<Trace> = filter
        .iter()
        .map(|(name, predicate)| {
            let value = props.get(name).cloned().unwrap_or(Value::Null);
            let holds = ops_match(&predicate.0, Some(&value), now);
            Trace::leaf(
                format!("property {name} {}", ops_words(&predicate.0)),
                Some(value),
                holds,
            )
        })
        .collect();
    let trace = Trace::all(of);
    debug_assert_eq!(trace.holds, where_matches(filter, props, now));
    trace
}

/// `event purchase where amount > 10 within 30d since run start, count ≥ 2, sum of amount > 70`.
fn event_words(test: &EventTest) -> String {
    let mut text = format!("event {}", test.name);
    for (name, predicate) in test.where_.iter() {
        text.push_str(&format!(" where {name} {}", ops_words(&predicate.0)));
    }
    if let Some(within) = test.within {
        text.push_str(&format!(" within {within}"));
    }
    match test.since {
        Some(Since::RunStart) => text.push_str(" since the run started"),
        Some(Since::StepStart) => text.push_str(" since this step"),
        None => {}
    }
    if test.match_key {
        text.push_str(" matching the run's key");
    }
    let count = test.count.as_ref().map_or_else(|| "≥ 1".into(), ops_words);
    text.push_str(&format!(", count {count}"));
    if let Some(sum) = &test.sum {
        text.push_str(&format!(", sum of {} {}", sum.of, ops_words(&sum.test)));
    }
    text
}

/// The operators in words: `≥ 2`, `= lead`, `in [a, b]`, `older than 30d`.
pub fn ops_words(ops: &Ops) -> String {
    let mut parts = Vec::new();
    let mut add = |symbol: &str, value: &Option<Value>| {
        if let Some(v) = value {
            parts.push(format!("{symbol} {}", show(v)));
        }
    };
    add("=", &ops.eq);
    add("≠", &ops.ne);
    add(">", &ops.gt);
    add("≥", &ops.gte);
    add("<", &ops.lt);
    add("≤", &ops.lte);
    add("contains", &ops.contains);
    if let Some(list) = &ops.in_ {
        let items: Vec<String> = list.iter().map(show).collect();
        parts.push(format!("in [{}]", items.join(", ")));
    }
    if let Some(prefix) = &ops.starts_with {
        parts.push(format!("starts with {prefix}"));
    }
    match ops.exists {
        Some(true) => parts.push("exists".into()),
        Some(false) => parts.push("is absent".into()),
        None => {}
    }
    if let Some(d) = ops.older_than {
        parts.push(format!("older than {d}"));
    }
    if let Some(d) = ops.within_last {
        parts.push(format!("within the last {d}"));
    }
    parts.join(" and ")
}

/// A condition in words, as the console and graphs show it (`all of (tag vip; score lead
/// ≥ 10)`), without evaluating it.
pub fn condition_words(condition: &Condition) -> String {
    let list = |items: &[Condition]| {
        items
            .iter()
            .map(condition_words)
            .collect::<Vec<_>>()
            .join("; ")
    };
    match condition {
        Condition::All(items) => format!("all of ({})", list(items)),
        Condition::Any(items) => format!("any of ({})", list(items)),
        Condition::Not(inner) => format!("not ({})", condition_words(inner)),
        Condition::Field(test) => format!("field {} {}", test.name, ops_words(&test.test)),
        Condition::Tag(tag) => format!("tag {tag}"),
        Condition::List(list) => format!("list {list}"),
        Condition::Score(test) => format!(
            "score {} {}",
            test.name.as_deref().unwrap_or("lead"),
            ops_words(&test.test)
        ),
        Condition::Segment(name) => format!("segment {name}"),
        Condition::Event(test) => event_words(test),
        Condition::InactiveFor(d) => format!("inactive for {d}"),
    }
}
