//! Steps: ids, the step kinds compiled into nodes, waits, and references to templates and
//! other workflows.

use super::*;

impl Checker<'_> {
    pub(super) fn unique_ids(&mut self, steps: &[StepDoc]) {
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
    pub(super) fn emit(
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

    pub(super) fn step_kind(
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
        if step.experiment.is_some() && step.split.is_none() {
            self.error(
                &format!("{path}.experiment"),
                "`experiment` belongs to a `split` step",
            );
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
            let names = branches
                .iter()
                .enumerate()
                .map(|(i, b)| crate::language::step::branch_name(b, i))
                .collect();
            if let Some(winner) = step.experiment.as_ref().and_then(|e| e.winner.as_ref()) {
                if !(winner.confidence > 0.5 && winner.confidence < 1.0) {
                    self.error(
                        &format!("{path}.experiment.winner.confidence"),
                        format!(
                            "a confidence is between 0.5 and 1 (e.g. 0.95), not {}",
                            winner.confidence
                        ),
                    );
                }
            }
            return NodeKind::Split {
                branches: compiled,
                names,
                experiment: step.experiment.clone(),
            };
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

    pub(super) fn wait(&mut self, path: &str, wait: &WaitStep) -> Option<Wait> {
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

    pub(super) fn template_ref(
        &mut self,
        path: &str,
        name: &str,
        channel: crate::language::step::Channel,
    ) {
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

    pub(super) fn workflow_ref(&mut self, path: &str, id: &str) {
        if let Some(known) = self.refs.workflows {
            if !known.contains(id) {
                self.error(path, format!("unknown workflow `{id}`"));
            }
        }
    }
}
