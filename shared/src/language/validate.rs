//! Validation: from a parsed document to a compiled [`Workflow`], collecting every error
//! with its path. Reference checks (segments, templates, other workflows) run when the
//! caller knows what exists.

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

    fn triggers(&mut self, doc: &WorkflowDoc) -> Vec<Trigger> {
        let mut out = Vec::new();
        for (i, t) in doc.entry.triggers.iter().enumerate() {
            let path = format!("entry.triggers[{i}]");
            match self.trigger(&path, t) {
                Some(trigger) => out.push(trigger),
                None => continue,
            }
        }
        out
    }

    fn trigger(&mut self, path: &str, t: &TriggerDoc) -> Option<Trigger> {
        let kinds = t.kinds();
        if kinds.len() != 1 {
            let found = if kinds.is_empty() {
                "none".to_string()
            } else {
                kinds.join(", ")
            };
            self.error(path, format!("a trigger needs exactly one of event, tag_added, tag_removed, list_joined, list_left, field_changed, date, segment_entered (found: {found})"));
            return None;
        }
        if t.where_.is_some() && t.event.is_none() {
            self.error(
                &format!("{path}.where"),
                "`where` filters an event trigger's properties; this trigger has no `event`",
            );
        }
        if t.to.is_some() && t.field_changed.is_none() {
            self.error(
                &format!("{path}.to"),
                "`to` belongs to a field_changed trigger",
            );
        }
        if let Some(name) = &t.event {
            let where_ = t.where_.clone().unwrap_or_default();
            self.where_(&format!("{path}.where"), &where_);
            return Some(Trigger::Event {
                name: name.clone(),
                where_,
            });
        }
        if let Some(segment) = &t.segment_entered {
            self.segment_ref(&format!("{path}.segment_entered"), segment);
            return Some(Trigger::SegmentEntered(segment.clone()));
        }
        if let Some(date) = &t.date {
            let at = match date.at.as_deref().map(parse_local_time) {
                Some(Err(e)) => {
                    self.error(&format!("{path}.date.at"), e);
                    None
                }
                Some(Ok(at)) => Some(at),
                None => None,
            };
            return Some(Trigger::Date(DateRule {
                field: date.field.clone(),
                each_year: date.each_year,
                at,
                offset: date.offset.unwrap_or(Offset::default()),
            }));
        }
        let simple = [
            (&t.tag_added, Trigger::TagAdded as fn(String) -> Trigger),
            (&t.tag_removed, Trigger::TagRemoved),
            (&t.list_joined, Trigger::ListJoined),
            (&t.list_left, Trigger::ListLeft),
        ];
        for (value, make) in simple {
            if let Some(v) = value {
                return Some(make(v.clone()));
            }
        }
        t.field_changed.as_ref().map(|field| Trigger::FieldChanged {
            field: field.clone(),
            to: t.to.clone(),
        })
    }

    fn segment_ref(&mut self, path: &str, name: &str) {
        if let Some(defs) = self.refs.definitions {
            if !defs.segments.contains_key(name) {
                let known: Vec<&str> = defs.segments.keys().map(String::as_str).collect();
                self.error(
                    path,
                    format!(
                        "unknown segment `{name}` (defined: {})",
                        list_or_none(&known)
                    ),
                );
            }
        }
    }

    fn where_(&mut self, path: &str, filter: &Where) {
        for (property, predicate) in filter {
            self.ops(&format!("{path}.{property}"), &predicate.0);
        }
    }

    fn ops(&mut self, path: &str, ops: &Ops) {
        if ops.is_empty() {
            self.error(path, "no test given: use one of eq, ne, gt, gte, lt, lte, in, contains, starts_with, exists, older_than, within_last");
        }
        for (name, value) in [
            ("gt", &ops.gt),
            ("gte", &ops.gte),
            ("lt", &ops.lt),
            ("lte", &ops.lte),
        ] {
            if let Some(v) = value {
                if !(v.is_number() || v.is_string()) {
                    self.error(
                        &format!("{path}.{name}"),
                        format!("`{name}` compares with a number, a date or a string, not {v}"),
                    );
                }
            }
        }
    }

    fn numeric_ops(&mut self, path: &str, ops: &Ops) {
        self.ops(path, ops);
        let others = Ops {
            eq: None,
            ne: None,
            gt: None,
            gte: None,
            lt: None,
            lte: None,
            in_: None,
            ..ops.clone()
        };
        if !others.is_empty() {
            self.error(
                path,
                "only eq, ne, gt, gte, lt and lte apply to a number here",
            );
        }
        for v in [
            &ops.eq, &ops.ne, &ops.gt, &ops.gte, &ops.lt, &ops.lte, &None,
        ]
        .into_iter()
        .flatten()
        {
            if !v.is_number() {
                self.error(path, format!("expected a number, found {v}"));
            }
        }
    }

    /// Checks a condition. `in_run`: run-relative tests (`since`, `match_key`) are allowed.
    fn condition(&mut self, path: &str, condition: &Condition, in_run: bool) {
        match condition {
            Condition::All(list) | Condition::Any(list) => {
                let word = if matches!(condition, Condition::All(_)) {
                    "all"
                } else {
                    "any"
                };
                for (i, c) in list.iter().enumerate() {
                    self.condition(&format!("{path}.{word}[{i}]"), c, in_run);
                }
            }
            Condition::Not(inner) => self.condition(&format!("{path}.not"), inner, in_run),
            Condition::Field(test) => self.ops(&format!("{path}.field"), &test.test),
            Condition::Score(test) => self.numeric_ops(&format!("{path}.score"), &test.test),
            Condition::Segment(name) => self.segment_ref(&format!("{path}.segment"), name),
            Condition::Event(test) => {
                let path = format!("{path}.event");
                self.where_(&format!("{path}.where"), &test.where_);
                if let Some(count) = &test.count {
                    self.numeric_ops(&format!("{path}.count"), count);
                }
                if let Some(sum) = &test.sum {
                    self.numeric_ops(&format!("{path}.sum"), &sum.test);
                }
                if test.since.is_some() && !in_run {
                    self.error(
                        &format!("{path}.since"),
                        "`since` counts from a run's start or step; here there is no run",
                    );
                }
                if test.match_key && !(in_run && self.run_key) {
                    let why = if in_run {
                        "the workflow has no `entry.key`"
                    } else {
                        "here there is no run"
                    };
                    self.error(
                        &format!("{path}.match_key"),
                        format!("`match_key` compares with the run's key, but {why}"),
                    );
                }
            }
            Condition::Tag(_) | Condition::List(_) | Condition::InactiveFor(_) => {}
        }
    }

    fn unique_ids(&mut self, steps: &[StepDoc]) {
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        fn walk(
            list: &[StepDoc],
            path: &str,
            seen: &mut BTreeMap<String, String>,
            dups: &mut Vec<(String, String, String)>,
        ) {
            for (i, step) in list.iter().enumerate() {
                let here = format!("{path}[{i}]");
                if let Some(first) = seen.get(&step.id) {
                    dups.push((here.clone(), step.id.clone(), first.clone()));
                } else {
                    seen.insert(step.id.clone(), here.clone());
                }
                if let Some(then) = &step.then {
                    walk(then, &format!("{here}.then"), seen, dups);
                }
                if let Some(else_) = &step.else_ {
                    walk(else_, &format!("{here}.else"), seen, dups);
                }
                for (b, branch) in step.split.iter().flatten().enumerate() {
                    walk(
                        &branch.steps,
                        &format!("{here}.split[{b}].steps"),
                        seen,
                        dups,
                    );
                }
            }
        }
        let mut dups = Vec::new();
        walk(steps, "steps", &mut seen, &mut dups);
        for (path, id, first) in dups {
            self.error(
                &format!("{path}.id"),
                format!("duplicate step id `{id}` (first used at {first})"),
            );
        }
    }

    /// Appends the nodes of `list` in pre-order; `after` is where the run goes when the list ends.
    fn emit(
        &mut self,
        list: &[StepDoc],
        list_path: &str,
        after: Option<usize>,
        nodes: &mut Vec<Node>,
        gotos: &mut Vec<(usize, String)>,
    ) {
        for (i, step) in list.iter().enumerate() {
            let path = format!("{list_path}[{i}]");
            let at = nodes.len();
            let next = if i + 1 < list.len() {
                Some(at + subtree_size(step))
            } else {
                after
            };
            self.slug(&format!("{path}.id"), &step.id, "step id");
            nodes.push(Node {
                id: step.id.clone(),
                path: path.clone(),
                kind: NodeKind::End,
                next,
            });
            let kind = self.step_kind(step, &path, at, next, nodes, gotos);
            nodes[at].kind = kind;
        }
    }

    fn step_kind(
        &mut self,
        step: &StepDoc,
        path: &str,
        at: usize,
        next: Option<usize>,
        nodes: &mut Vec<Node>,
        gotos: &mut Vec<(usize, String)>,
    ) -> NodeKind {
        let kinds = step.kinds();
        if kinds.len() != 1 {
            let found = if kinds.is_empty() {
                "none".to_string()
            } else {
                kinds.join(", ")
            };
            self.error(path, format!("a step has exactly one kind (send, wait, if, split, goal, tag, list, score, set, start, stop, webhook, goto, end); found: {found}"));
        }
        if step.if_.is_none() {
            for (key, list) in [("then", &step.then), ("else", &step.else_)] {
                if list.is_some() {
                    self.error(
                        &format!("{path}.{key}"),
                        format!("`{key}` belongs to an `if` step"),
                    );
                }
            }
        }
        if kinds.len() != 1 {
            return NodeKind::End;
        }
        if let Some(send) = &step.send {
            self.template_ref(
                &format!("{path}.send.template"),
                &send.template,
                send.channel,
            );
            return NodeKind::Send(send.clone());
        }
        if let Some(wait) = &step.wait {
            return match self.wait(&format!("{path}.wait"), wait) {
                Some(w) => NodeKind::Wait(w),
                None => NodeKind::End,
            };
        }
        if let Some(condition) = &step.if_ {
            self.condition(&format!("{path}.if"), condition, true);
            let then_list = step.then.as_deref().unwrap_or_default();
            let else_list = step.else_.as_deref().unwrap_or_default();
            let then_first = (!then_list.is_empty()).then_some(at + 1);
            let else_start = at + 1 + then_list.iter().map(subtree_size).sum::<usize>();
            let else_first = (!else_list.is_empty()).then_some(else_start);
            self.emit(then_list, &format!("{path}.then"), next, nodes, gotos);
            self.emit(else_list, &format!("{path}.else"), next, nodes, gotos);
            return NodeKind::If {
                condition: condition.clone(),
                then: then_first.or(next),
                otherwise: else_first.or(next),
            };
        }
        if let Some(branches) = &step.split {
            let mut compiled = Vec::new();
            if branches.is_empty() {
                self.error(
                    &format!("{path}.split"),
                    "a split needs at least one branch",
                );
            }
            for (b, branch) in branches.iter().enumerate() {
                if !branch.weight.is_finite() || branch.weight < 0.0 {
                    self.error(
                        &format!("{path}.split[{b}].weight"),
                        format!("a weight must be zero or more, not {}", branch.weight),
                    );
                }
                let first = (!branch.steps.is_empty()).then_some(nodes.len());
                self.emit(
                    &branch.steps,
                    &format!("{path}.split[{b}].steps"),
                    next,
                    nodes,
                    gotos,
                );
                compiled.push((branch.weight, first.or(next)));
            }
            if !branches.is_empty() && branches.iter().all(|b| b.weight == 0.0) {
                self.error(
                    &format!("{path}.split"),
                    "all split weights are zero: no branch can be chosen",
                );
            }
            return NodeKind::Split { branches: compiled };
        }
        if let Some(goal) = &step.goal {
            self.condition(&format!("{path}.goal.when"), &goal.when, true);
            return NodeKind::Goal(goal.clone());
        }
        if let Some(tag) = &step.tag {
            if tag.add.is_empty() && tag.remove.is_empty() {
                self.error(&format!("{path}.tag"), "give `add` or `remove` (or both)");
            }
            return NodeKind::Tag(tag.clone());
        }
        if let Some(list) = &step.list {
            if list.join.is_empty() && list.leave.is_empty() {
                self.error(&format!("{path}.list"), "give `join` or `leave` (or both)");
            }
            return NodeKind::List(list.clone());
        }
        if let Some(score) = &step.score {
            let name = score.name.clone().unwrap_or_else(|| "lead".into());
            return match (score.add, score.set) {
                (Some(add), None) => NodeKind::Score {
                    name,
                    change: ScoreChange::Add(add),
                },
                (None, Some(set)) => NodeKind::Score {
                    name,
                    change: ScoreChange::Set(set),
                },
                _ => {
                    self.error(
                        &format!("{path}.score"),
                        "give exactly one of `add` or `set`",
                    );
                    NodeKind::End
                }
            };
        }
        if let Some(fields) = &step.set {
            if fields.is_empty() {
                self.error(&format!("{path}.set"), "name at least one field to set");
            }
            return NodeKind::Set(fields.clone());
        }
        if let Some(other) = &step.start {
            self.workflow_ref(&format!("{path}.start"), other);
            return NodeKind::Start(other.clone());
        }
        if let Some(other) = &step.stop {
            self.workflow_ref(&format!("{path}.stop"), other);
            return NodeKind::Stop(other.clone());
        }
        if let Some(hook) = &step.webhook {
            if !(hook.url.starts_with("https://") || hook.url.starts_with("http://")) {
                self.error(
                    &format!("{path}.webhook.url"),
                    format!("`{}` is not an http(s) URL", hook.url),
                );
            }
            return NodeKind::Webhook(hook.clone());
        }
        if let Some(target) = &step.goto {
            gotos.push((at, target.clone()));
            return NodeKind::Goto(at);
        }
        if step.end == Some(false) {
            self.error(
                &format!("{path}.end"),
                "write `end: true` (an `end: false` step means nothing)",
            );
        }
        NodeKind::End
    }

    fn wait(&mut self, path: &str, wait: &WaitStep) -> Option<Wait> {
        let shapes = [
            wait.for_.is_some(),
            wait.until.is_some(),
            wait.until_time.is_some(),
        ];
        if shapes.iter().filter(|s| **s).count() != 1 {
            self.error(
                path,
                "a wait needs exactly one of `for`, `until` or `until_time`",
            );
            return None;
        }
        let condition_wait = matches!(wait.until, Some(Until::Condition(_)));
        if wait.timeout.is_some() && !condition_wait {
            self.error(
                &format!("{path}.timeout"),
                "`timeout` belongs to `wait: { until: <condition> }`",
            );
        }
        if wait.until_time.is_none() {
            if wait.days.is_some() {
                self.error(&format!("{path}.days"), "`days` belongs to `until_time`");
            }
            if wait.tz.is_some() {
                self.error(&format!("{path}.tz"), "`tz` belongs to `until_time`");
            }
        }
        if let Some(d) = wait.for_ {
            return Some(Wait::For(d));
        }
        match &wait.until {
            Some(Until::At(text)) => {
                return match parse_timestamp(text) {
                    Ok(t) => Some(Wait::Until(t)),
                    Err(e) => {
                        self.error(&format!("{path}.until"), e);
                        None
                    }
                }
            }
            Some(Until::Condition(condition)) => {
                self.condition(&format!("{path}.until"), condition, true);
                return Some(Wait::Condition {
                    condition: condition.clone(),
                    timeout: wait.timeout,
                });
            }
            None => {}
        }
        let text = wait.until_time.as_deref().unwrap_or_default();
        let at = match parse_local_time(text) {
            Ok(at) => at,
            Err(e) => {
                self.error(&format!("{path}.until_time"), e);
                return None;
            }
        };
        if wait.days.as_ref().is_some_and(Vec::is_empty) {
            self.error(
                &format!("{path}.days"),
                "an empty `days` list never matches; leave it out for every day",
            );
        }
        let tz = match wait.tz.as_deref() {
            None | Some("contact") => TzChoice::Contact,
            Some(name) => match parse_tz(name) {
                Ok(tz) => TzChoice::Named(tz),
                Err(e) => {
                    self.error(&format!("{path}.tz"), format!("{e}, or `contact`"));
                    return None;
                }
            },
        };
        let days = wait.days.iter().flatten().map(|d| d.to_chrono()).collect();
        Some(Wait::UntilTime { at, days, tz })
    }

    fn template_ref(&mut self, path: &str, name: &str, channel: crate::language::step::Channel) {
        let Some(defs) = self.refs.definitions else {
            return;
        };
        match defs.templates.get(name) {
            None => {
                let known: Vec<&str> = defs.templates.keys().map(String::as_str).collect();
                self.error(
                    path,
                    format!(
                        "unknown template `{name}` (defined: {})",
                        list_or_none(&known)
                    ),
                );
            }
            Some(t) if !t.serves(channel) => {
                self.error(
                    path,
                    format!("template `{name}` has no {} content", channel.as_str()),
                );
            }
            Some(_) => {}
        }
    }

    fn workflow_ref(&mut self, path: &str, id: &str) {
        if let Some(known) = self.refs.workflows {
            if !known.contains(id) {
                self.error(path, format!("unknown workflow `{id}`"));
            }
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

/// A path from the goto's target back to the goto that passes no wait step, if any.
fn waitless_loop(nodes: &[Node], goto_at: usize) -> Option<Vec<String>> {
    let NodeKind::Goto(target) = nodes[goto_at].kind else {
        return None;
    };
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut stack = vec![target];
    let mut seen = vec![false; nodes.len()];
    seen[target] = true;
    while let Some(n) = stack.pop() {
        if n == goto_at {
            let mut ids = vec![nodes[n].id.clone()];
            let mut cur = n;
            while let Some(&p) = parent.get(&cur) {
                ids.push(nodes[p].id.clone());
                cur = p;
            }
            ids.reverse();
            return Some(ids);
        }
        // Only waits that always wait break a loop: `for` more than 0s, or `until_time`.
        // (A past `until` date or an already-true condition passes straight through.)
        if matches!(nodes[n].kind, NodeKind::Wait(Wait::For(d)) if d.seconds() > 0)
            || matches!(nodes[n].kind, NodeKind::Wait(Wait::UntilTime { .. }))
        {
            continue;
        }
        for s in crate::program::successors(&nodes[n]) {
            if !seen[s] {
                seen[s] = true;
                parent.insert(s, n);
                stack.push(s);
            }
        }
    }
    None
}

/// A chain of segment references that comes back to `start`, if any.
fn segment_cycle(defs: &Definitions, start: &str) -> Option<Vec<String>> {
    fn refs_of(c: &Condition) -> Vec<String> {
        let mut out = Vec::new();
        c.walk(&mut |c| {
            if let Condition::Segment(name) = c {
                out.push(name.clone());
            }
        });
        out
    }
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((name, chain)) = stack.pop() {
        let Some(condition) = defs.segments.get(&name) else {
            continue;
        };
        for next in refs_of(condition) {
            let mut longer = chain.clone();
            longer.push(next.clone());
            if next == start {
                return Some(longer);
            }
            if seen.insert(next.clone()) {
                stack.push((next, longer));
            }
        }
    }
    None
}
