//! Validation: from a parsed document to a compiled [`Workflow`], collecting every error
//! with its path. Reference checks (segments, templates, other workflows) run when the
//! caller knows what exists.
//!
//! One file per part of the language: `triggers` (triggers, segment references, property
//! filters and conditions), `steps` (steps, waits, references to templates and other
//! workflows) and `cycles` (loops without a wait, segments defined through themselves).

mod broadcasts;
mod cycles;
mod steps;
mod triggers;

use cycles::{segment_cycle, waitless_loop};

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::calendar::{parse_local_time, parse_timestamp, parse_tz};
use crate::diagnostic::Diagnostic;
use crate::duration::Offset;
use crate::language::condition::{Condition, Ops, Where};
use crate::language::definitions::Definitions;
use crate::language::step::{StepDoc, Until, WaitStep};
use crate::language::workflow::{TriggerDoc, WorkflowDoc};
use crate::program::{DateRule, Node, NodeKind, ScoreChange, Trigger, TzChoice, Wait, Workflow};

/// What exists besides the workflow being checked. `None` = unknown, not checked.
#[derive(Clone, Copy, Debug, Default)]
pub struct References<'a> {
    pub definitions: Option<&'a Definitions>,
    pub workflows: Option<&'a BTreeSet<String>>,
}

/// Validates and compiles one workflow. All errors are returned together.
pub fn validate_workflow(
    doc: WorkflowDoc,
    file: &str,
    refs: References<'_>,
) -> Result<Workflow, Vec<Diagnostic>> {
    let mut check = Checker {
        file,
        refs,
        errors: Vec::new(),
        run_key: doc.entry.key.is_some(),
    };
    check.slug("id", &doc.id, "workflow id");
    let triggers = check.triggers(&doc);
    if let Some(key) = &doc.entry.key {
        if key.trim().is_empty() {
            check.error(
                "entry.key",
                "the key names an event property and cannot be empty",
            );
        }
    }
    if let Some(segment) = &doc.entry.segment {
        check.condition("entry.segment", segment, false);
    }
    if let Some(exit) = &doc.exit_when {
        check.condition("exit_when", exit, true);
    }
    if doc.steps.is_empty() {
        check.error("steps", "a workflow needs at least one step");
    }
    check.unique_ids(&doc.steps);
    let mut nodes = Vec::with_capacity(doc.steps.iter().map(subtree_size).sum());
    let mut gotos = Vec::new();
    check.emit(&doc.steps, "steps", None, &mut nodes, &mut gotos);
    let by_id: HashMap<String, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.clone(), i))
        .collect();
    for (at, node) in nodes.iter().enumerate() {
        let NodeKind::Split {
            names, experiment, ..
        } = &node.kind
        else {
            continue;
        };
        let mut seen = BTreeSet::new();
        for name in names {
            if !seen.insert(name) {
                check.error(
                    &format!("{}.split", node.path),
                    format!("two branches are named `{name}` (unnamed branches are a, b, … by position): name them apart"),
                );
            }
        }
        let Some(e) = experiment else {
            continue;
        };
        let reach = crate::program::reachable_from(&nodes, at);
        let is_goal = |g: usize| matches!(nodes[g].kind, NodeKind::Goal(_));
        match &e.goal {
            Some(goal) => match by_id.get(goal) {
                Some(&g) if is_goal(g) && reach[g] => {}
                Some(&g) if is_goal(g) => check.error(
                    &format!("{}.experiment.goal", node.path),
                    format!("`{goal}` cannot be reached after this split: no run that takes a branch gets there"),
                ),
                _ => check.error(
                    &format!("{}.experiment.goal", node.path),
                    format!("`{goal}` is not a goal step of this workflow"),
                ),
            },
            None if !(0..nodes.len()).any(|g| is_goal(g) && reach[g]) => check.error(
                &format!("{}.experiment", node.path),
                "no goal step follows this split: add one, or name it with `goal:`",
            ),
            None => {}
        }
        if e.winner.as_ref().is_some_and(|w| w.min_per_branch == 0) {
            check.error(
                &format!("{}.experiment.winner.min_per_branch", node.path),
                "at least 1 run per branch before a winner is picked (e.g. 200)",
            );
        }
    }
    let mut resolved = Vec::new();
    for (at, target) in gotos {
        match by_id.get(&target) {
            Some(&to) => resolved.push((at, to)),
            None => check.error(
                &format!("{}.goto", nodes[at].path),
                format!("goto names an unknown step `{target}`"),
            ),
        }
    }
    for &(at, to) in &resolved {
        nodes[at].kind = NodeKind::Goto(to);
    }
    if let Some(migrate) = &doc.migrate {
        for (old, new) in &migrate.steps {
            if !by_id.contains_key(new) {
                check.error(
                    &format!("migrate.steps.{old}"),
                    format!("maps to `{new}`, which is not a step of this version"),
                );
            }
        }
    }
    if !check.errors.is_empty() {
        return Err(check.errors);
    }
    for (at, _) in resolved {
        if let Some(cycle) = waitless_loop(&nodes, at) {
            check.error(
                &format!("{}.goto", nodes[at].path),
                format!("this goto makes a loop with no wait in it (through {}); add a `wait: {{ for: … }}` or `until_time` step to the loop", cycle.join(" → ")),
            );
        }
    }
    if !check.errors.is_empty() {
        return Err(check.errors);
    }
    Ok(Workflow::assemble(doc, triggers, nodes))
}

/// Validates project definitions: segments (no cycles), scoring rules, templates, delivery.
pub fn validate_definitions(defs: &Definitions, file: &str) -> Vec<Diagnostic> {
    let refs = References {
        definitions: Some(defs),
        workflows: None,
    };
    let mut check = Checker {
        file,
        refs,
        errors: Vec::new(),
        run_key: false,
    };
    for (name, condition) in &defs.segments {
        let path = format!("segments.{name}");
        check.slug(&path, name, "segment name");
        check.condition(&path, condition, false);
        if let Some(cycle) = segment_cycle(defs, name) {
            check.error(
                &path,
                format!(
                    "segments refer to each other in a circle: {}",
                    cycle.join(" → ")
                ),
            );
        }
    }
    for (i, rule) in defs.scoring.iter().enumerate() {
        check.where_(&format!("scoring[{i}].where"), &rule.where_);
        if rule.points == 0 {
            check.error(
                &format!("scoring[{i}].points"),
                "a rule worth 0 points does nothing",
            );
        }
    }
    for (name, template) in &defs.templates {
        let path = format!("templates.{name}");
        if template.parts().next().is_none() {
            check.error(
                &path,
                "the template has no parts (subject, html, text, sms or push)",
            );
        }
        if template.subject.is_some() != (template.html.is_some() || template.text.is_some()) {
            check.error(
                &path,
                "an email template needs a subject and an html or text body",
            );
        }
        for (part, error) in crate::render::check(template) {
            check.error(&format!("{path}.{part}"), format!("Liquid syntax: {error}"));
        }
    }
    for (id, broadcast) in &defs.broadcasts {
        check.broadcast(&format!("broadcasts.{id}"), id, broadcast);
    }
    for (id, audience) in &defs.audiences {
        check.audience(&format!("audiences.{id}"), id, audience, defs);
    }
    if let Some(delivery) = &defs.delivery {
        for (channel, cap) in &delivery.frequency_cap {
            if cap.per.seconds() == 0 {
                check.error(
                    &format!("delivery.frequency_cap.{}.per", channel.as_str()),
                    "the window cannot be 0s",
                );
            }
        }
        for (channel, quiet) in &delivery.quiet_hours {
            let path = format!("delivery.quiet_hours.{}", channel.as_str());
            for (key, value) in [("from", &quiet.from), ("to", &quiet.to)] {
                if let Err(e) = parse_local_time(value) {
                    check.error(&format!("{path}.{key}"), e);
                }
            }
        }
    }
    check.errors
}

struct Checker<'a> {
    file: &'a str,
    refs: References<'a>,
    errors: Vec<Diagnostic>,
    /// Whether the workflow has `entry.key`, which `match_key` needs.
    run_key: bool,
}

pub(crate) fn is_slug(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && text.len() <= 128
}

fn subtree_size(step: &StepDoc) -> usize {
    let lists = step
        .then
        .iter()
        .chain(step.else_.iter())
        .chain(step.split.iter().flatten().map(|b| &b.steps));
    1 + lists.flatten().map(subtree_size).sum::<usize>()
}

impl Checker<'_> {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors
            .push(Diagnostic::error(self.file, path, message));
    }

    fn slug(&mut self, path: &str, value: &str, what: &str) {
        if !is_slug(value) {
            self.error(
                path,
                format!("{what} `{value}` must be a slug: lowercase letters, digits, '-' and '_'"),
            );
        }
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
