//! A workflow in words, for the pictures people look at (the console's journey, `kairos
//! graph`): what each step does — an `if` says what it tests, a goal what it waits for —
//! and how contacts get in and out (triggers, entry segment, reentry, exit rule).

use crate::engine::evidence::{condition_words, ops_words};
use crate::language::step::{GoalScope, Otherwise};
use crate::language::workflow::Reentry;
use crate::program::{DateRule, NodeId, NodeKind, ScoreChange, Trigger, Wait, Workflow};

/// What step `i` does, in words (without its id).
pub fn step_words(wf: &Workflow, i: NodeId) -> String {
    match &wf.nodes[i].kind {
        NodeKind::Send(s) => format!("send {} · {}", s.channel.as_str(), s.template),
        NodeKind::Wait(Wait::For(d)) => format!("wait {d}"),
        NodeKind::Wait(Wait::Until(t)) => format!("wait until {}", t.to_rfc3339()),
        NodeKind::Wait(Wait::UntilTime { at, .. }) => format!("wait until {}", at.format("%H:%M")),
        NodeKind::Wait(Wait::Condition { condition, timeout }) => match timeout {
            Some(t) => format!("wait until {}, at most {t}", condition_words(condition)),
            None => format!("wait until {}", condition_words(condition)),
        },
        NodeKind::If { condition, .. } => format!("if {}", condition_words(condition)),
        NodeKind::Split { names, .. } => format!("split: {}", names.join(" / ")),
        NodeKind::Goal(g) => {
            // Goals are jumped to: a run before the goal (anywhere, with that scope) skips
            // ahead the moment the condition holds.
            let scope = match g.scope {
                GoalScope::Anywhere => "; runs anywhere in the workflow jump here when it holds",
                GoalScope::Below => "; runs before it jump here when it holds",
            };
            let otherwise = match g.otherwise {
                Otherwise::Continue => "else go on",
                Otherwise::Wait => "else wait for it",
                Otherwise::End => "else end",
            };
            let timeout = g.timeout.map_or(String::new(), |t| format!(" at most {t}"));
            format!(
                "goal: {} ({otherwise}{timeout}){scope}",
                condition_words(&g.when)
            )
        }
        NodeKind::Tag(t) => format!("tag {}", changes(&t.add, &t.remove)),
        NodeKind::List(l) => format!("list {}", changes(&l.join, &l.leave)),
        NodeKind::Score { name, change } => match change {
            ScoreChange::Add(points) => format!("score {name} {points:+}"),
            ScoreChange::Set(value) => format!("score {name} = {value}"),
        },
        NodeKind::Set(fields) => format!(
            "set {}",
            fields.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        NodeKind::Start(w) => format!("start {w}"),
        NodeKind::Stop(w) => format!("stop {w}"),
        NodeKind::Webhook(h) => format!("webhook {:?} {}", h.method, h.url),
        NodeKind::Goto(t) => format!("go to {}", wf.nodes[*t].id),
        NodeKind::End => "end".into(),
    }
}

/// `+a +b -c`: what a tag or list step adds and removes.
fn changes(add: &[String], remove: &[String]) -> String {
    let plus = add.iter().map(|x| format!("+{x}"));
    let minus = remove.iter().map(|x| format!("-{x}"));
    plus.chain(minus).collect::<Vec<_>>().join(" ")
}

/// A trigger in words: `event cart_updated where total > 0`, `tag vip added`.
pub fn trigger_words(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Event { name, where_ } => {
            let filter: Vec<String> = where_
                .iter()
                .map(|(k, p)| format!("{k} {}", ops_words(&p.0)))
                .collect();
            if filter.is_empty() {
                format!("event {name}")
            } else {
                format!("event {name} where {}", filter.join(" and "))
            }
        }
        Trigger::TagAdded(t) => format!("tag {t} added"),
        Trigger::TagRemoved(t) => format!("tag {t} removed"),
        Trigger::ListJoined(l) => format!("joins list {l}"),
        Trigger::ListLeft(l) => format!("leaves list {l}"),
        Trigger::FieldChanged { field, to } => match to {
            Some(v) => format!("field {field} changes to {}", crate::model::trace::show(v)),
            None => format!("field {field} changes"),
        },
        Trigger::Date(DateRule {
            field, each_year, ..
        }) => {
            if *each_year {
                format!("every year on the date in {field}")
            } else {
                format!("on the date in {field}")
            }
        }
        Trigger::SegmentEntered(s) => format!("enters segment {s}"),
        Trigger::SegmentLeft(s) => format!("leaves segment {s}"),
    }
}

/// How contacts get in and out, one line each: triggers, entry segment, reentry, exit.
pub fn entry_words(wf: &Workflow) -> Vec<String> {
    let mut lines: Vec<String> = wf
        .triggers
        .iter()
        .map(|t| format!("starts on {}", trigger_words(t)))
        .collect();
    if wf.enroll_existing {
        lines.push("starts for every existing contact when activated".into());
    }
    if wf.triggers.is_empty() && !wf.enroll_existing {
        lines.push("starts only when another workflow or the API starts it".into());
    }
    if let Some(segment) = &wf.segment {
        lines.push(format!(
            "only for contacts in: {}",
            condition_words(segment)
        ));
    }
    lines.push(
        match wf.reentry {
            Reentry::Once => "once per contact",
            Reentry::AfterExit => "again after the contact's run has ended",
            Reentry::Concurrent => "several runs at once (one per key)",
        }
        .to_string(),
    );
    if let Some(exit) = &wf.exit_when {
        lines.push(format!("leaves at once when {}", condition_words(exit)));
    }
    lines
}
