//! Walking a run through its steps: actions, branches, splits, waits, goals (walked onto
//! or jumped to), `exit_when`, timers, and migration of runs to a newer version.
//!
//! Longer than most files on purpose: these are the moves of one state machine (a run at a
//! step), and each reads the others' invariants (a goal jump cancels a wait; a wait's
//! timer is live only while the run is at it); split, they would have to be read together.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::calendar::next_local_time;
use crate::engine::changes::Origin;
use crate::engine::eval::Scope;
use crate::engine::{Command, Cx};
use crate::language::condition::Condition;
use crate::language::step::{GoalScope, Otherwise};
use crate::model::effect::{Effect, Message, Timer, TimerKind, WebhookCall};
use crate::model::journal::Kind;
use crate::model::reason::{ExitReason, WakeReason};
use crate::model::run::{Run, Waiting};
use crate::model::trace::Trace;
use crate::program::{NodeId, NodeKind, TzChoice, Wait, Workflow};

impl Cx<'_> {
    fn holds(&self, wf: &Workflow, run: Option<&Run>, condition: &Condition) -> bool {
        let scope = Scope {
            state: self.state,
            definitions: self.catalog.definitions(),
            now: self.now,
            run: run.map(|r| (r, wf.key.as_deref())),
        };
        scope.holds(condition)
    }

    /// `condition` with its evidence, for a decision that is journaled.
    fn evidence(&self, wf: &Workflow, run: Option<&Run>, condition: &Condition) -> Trace {
        let scope = Scope {
            state: self.state,
            definitions: self.catalog.definitions(),
            now: self.now,
            run: run.map(|r| (r, wf.key.as_deref())),
        };
        scope.evidence(condition)
    }

    /// Puts the evidence on the entry just journaled.
    pub(crate) fn attach(&mut self, trace: Trace) {
        if let Some(entry) = self.out.journal.last_mut() {
            entry.trace = Some(Box::new(trace));
        }
    }

    fn run_entry(
        &mut self,
        kind: Kind,
        wf: &Workflow,
        run: &Run,
        step: Option<NodeId>,
    ) -> &mut crate::model::journal::JournalEntry {
        let step_id = step.map(|n| wf.nodes[n].id.clone());
        let entry = self.journal(kind);
        entry.workflow = Some(wf.id.clone());
        entry.run = Some(run.id());
        entry.step = step_id;
        entry
    }

    pub(crate) fn exit(&mut self, run: &Run, reason: ExitReason) {
        let catalog = self.catalog;
        let step = catalog
            .get(&run.workflow, run.version)
            .and_then(|wf| wf.nodes.get(run.at))
            .map(|n| n.id.clone());
        let entry = self.journal(Kind::Exited);
        entry.workflow = Some(run.workflow.clone());
        entry.run = Some(run.id());
        entry.step = step;
        entry.reason = Some(reason.as_str().to_string());
        let ended = &mut self.state.ended_runs;
        ended.push_back(crate::model::contact::EndedRun {
            run: run.id(),
            early: reason != ExitReason::Completed,
            goals: run.achieved.len() as u32,
        });
        while ended.len() > crate::model::contact::ENDED_KEPT {
            ended.pop_front();
        }
    }

    /// Starts a run that has just entered: a goal in reach that already holds is jumped to
    /// before any step runs (no step before it executes, no message before it is sent);
    /// otherwise the run walks from its first step.
    pub(crate) fn start_run(&mut self, wf: &Arc<Workflow>, mut run: Run) {
        if let Some((goal, when)) = self.goal_to_jump_to(wf, &run) {
            self.run_entry(Kind::Step, wf, &run, Some(goal));
            let trace = self.evidence(wf, Some(&run), when);
            self.achieve(wf, &mut run, goal, trace);
            let next = wf.nodes[goal].next;
            run.at = goal;
            return self.drive(wf, run, next);
        }
        self.drive(wf, run, Some(0))
    }

    /// Walks `run` from `from` until it waits or ends; keeps it in the state if it waits.
    pub(crate) fn drive(&mut self, wf: &Arc<Workflow>, mut run: Run, from: Option<NodeId>) {
        if self.advance(wf, &mut run, from) {
            self.state.runs.insert(run.seq, run);
        }
    }

    /// Executes steps from `node` on. Returns whether the run is still alive (waiting).
    fn advance(&mut self, wf: &Workflow, run: &mut Run, mut node: Option<NodeId>) -> bool {
        run.waiting = None;
        // More steps than nodes in one walk means a node came round again without parking:
        // a loop whose waits did not wait (`for: 0s`, a past date, a condition already met).
        let mut steps_this_walk = 0;
        loop {
            let Some(at) = node else {
                self.exit(run, ExitReason::Completed);
                return false;
            };
            if let Some(exit) = &wf.exit_when {
                if self.holds(wf, Some(run), exit) {
                    let trace = self.evidence(wf, Some(run), exit);
                    self.exit(run, ExitReason::ExitWhen);
                    self.attach(trace);
                    return false;
                }
            }
            steps_this_walk += 1;
            if self.budget == 0 || steps_this_walk > wf.nodes.len() {
                self.exit(run, ExitReason::StepLimit);
                return false;
            }
            self.budget -= 1;
            run.at = at;
            run.step_started_at = self.now;
            run.visits += 1;
            let step = &wf.nodes[at];
            let next = step.next;
            let run_id = run.id();
            let origin = Origin {
                workflow: &wf.id,
                step: &step.id,
                run: &run_id,
            };
            match &step.kind {
                NodeKind::If {
                    condition,
                    then,
                    otherwise,
                } => {
                    let trace = self.evidence(wf, Some(run), condition);
                    let taken = trace.holds;
                    self.run_entry(Kind::Step, wf, run, Some(at)).branch =
                        Some(if taken { "then" } else { "else" }.into());
                    self.attach(trace);
                    node = if taken { *then } else { *otherwise };
                    continue;
                }
                NodeKind::Split {
                    branches, names, ..
                } => {
                    // An experiment that has a winner sends every new run its way.
                    let won = catalog_winner(self.catalog, wf, &step.id, names);
                    let chosen = won.unwrap_or_else(|| {
                        pick_branch(branches, &self.state.contact.id, &run_id, &step.id)
                    });
                    self.run_entry(Kind::Step, wf, run, Some(at)).branch = Some(chosen.to_string());
                    let test = match won {
                        Some(_) => "split: the experiment's winner takes every run: branch".into(),
                        None => {
                            let weights: Vec<String> =
                                branches.iter().map(|(w, _)| w.to_string()).collect();
                            format!(
                                "split {} (by weight, seeded by contact, run and step): branch",
                                weights.join(" / ")
                            )
                        }
                    };
                    let name = names.get(chosen).cloned().unwrap_or_default();
                    self.attach(Trace::leaf(test, Some(name.into()), true));
                    node = branches[chosen].1;
                    continue;
                }
                _ => {
                    self.run_entry(Kind::Step, wf, run, Some(at));
                }
            }
            match &step.kind {
                NodeKind::Send(send) => {
                    let message = Message {
                        key: step_key(&self.state.contact, &run_id, &step.id, run.visits),
                        contact: self.state.contact.id.clone(),
                        workflow: wf.id.clone(),
                        version: wf.version,
                        run: run_id.clone(),
                        step: step.id.clone(),
                        channel: send.channel,
                        template: send.template.clone(),
                        category: send.category,
                        event: run.trigger.clone(),
                        due: self.now,
                        held_at_goals: None,
                        broadcast: None,
                        provider_retries: 0,
                        turn_at: None,
                    };
                    self.out.effects.push(Effect::Send(message));
                }
                NodeKind::Wait(wait) => {
                    if let Some(until) = self.wait_until(wf, run, wait) {
                        self.park(wf, run, until);
                        return true;
                    }
                }
                NodeKind::Goal(goal) => {
                    let trace = self.evidence(wf, Some(run), &goal.when);
                    if trace.holds {
                        self.achieve(wf, run, at, trace);
                    } else {
                        // The goal step's entry says why it was not reached.
                        self.attach(trace.clone());
                        match goal.otherwise {
                            Otherwise::Continue => {}
                            Otherwise::End => {
                                self.exit(run, ExitReason::GoalEnd);
                                self.attach(trace);
                                return false;
                            }
                            Otherwise::Wait => {
                                let until = goal.timeout.map(|t| self.now + t.to_chrono());
                                self.park(wf, run, until);
                                return true;
                            }
                        }
                    }
                }
                NodeKind::Tag(tag) => self.change_tags(&tag.add, &tag.remove, Some(origin)),
                NodeKind::List(list) => self.change_lists(&list.join, &list.leave, Some(origin)),
                NodeKind::Score { name, change } => self.change_score(name, *change, origin),
                NodeKind::Set(fields) => self.set_fields(fields, Some(origin)),
                NodeKind::Start(other) => self.commands.push(Command::Start {
                    workflow: other.clone(),
                    trigger: run.trigger.clone(),
                }),
                NodeKind::Stop(other) => self.commands.push(Command::Stop {
                    workflow: other.clone(),
                }),
                NodeKind::Webhook(hook) => {
                    let contact = &self.state.contact;
                    let body = json!({
                        "contact": { "id": contact.id, "fields": contact.fields, "tags": contact.tags, "lists": contact.lists },
                        "run": { "id": run_id, "workflow": wf.id, "version": wf.version, "step": step.id, "started_at": run.started_at, "key": run.key },
                        "event": run.trigger,
                    });
                    self.out.effects.push(Effect::Webhook(WebhookCall {
                        key: step_key(contact, &run_id, &step.id, run.visits),
                        contact: contact.id.clone(),
                        workflow: wf.id.clone(),
                        run: run_id.clone(),
                        step: step.id.clone(),
                        url: hook.url.clone(),
                        method: hook.method,
                        headers: hook.headers.clone(),
                        body,
                        audience: None,
                    }));
                }
                NodeKind::Goto(target) => {
                    node = Some(*target);
                    continue;
                }
                NodeKind::End => {
                    self.exit(run, ExitReason::Ended);
                    return false;
                }
                NodeKind::If { .. } | NodeKind::Split { .. } => {}
            }
            node = next;
        }
    }

    /// When a wait step arriving now ends: `None` = it is already over (no wait),
    /// `Some(None)` = wait for a condition with no timeout, `Some(Some(t))` = until `t`.
    fn wait_until(&self, wf: &Workflow, run: &Run, wait: &Wait) -> Option<Option<DateTime<Utc>>> {
        let until = match wait {
            Wait::For(d) => self.now + d.to_chrono(),
            Wait::Until(t) => *t,
            Wait::UntilTime { at, days, tz } => {
                let tz = match tz {
                    TzChoice::Contact => self.state.contact.timezone,
                    TzChoice::Named(tz) => *tz,
                };
                next_local_time(self.now, *at, days, tz)
            }
            Wait::Condition { condition, timeout } => {
                if self.holds(wf, Some(run), condition) {
                    return None;
                }
                return Some(timeout.map(|t| self.now + t.to_chrono()));
            }
        };
        (until > self.now).then_some(Some(until))
    }

    /// Parks the run at its current step, with a timer when the wait has an end.
    fn park(&mut self, wf: &Workflow, run: &mut Run, until: Option<DateTime<Utc>>) {
        // `visits` only grows, so every wait of a run gets its own number.
        let seq = run.visits;
        run.waiting = Some(Waiting {
            until,
            seq,
            recheck: None,
        });
        self.run_entry(Kind::Waiting, wf, run, Some(run.at)).until = until;
        self.rearm(wf, run);
        if let Some(due) = until {
            let contact = self.state.contact.id.clone();
            self.out.effects.push(Effect::Timer(Timer {
                contact,
                due,
                kind: TimerKind::Run {
                    run: run.seq,
                    wait: seq,
                },
            }));
        }
    }

    /// Schedules a re-check for when a time-dependent condition the waiting run watches
    /// (`exit_when`, its goals, its wait) can next change its answer.
    fn rearm(&mut self, wf: &Workflow, run: &mut Run) {
        let Some(waiting) = run.waiting.clone() else {
            return;
        };
        let scope = Scope {
            state: self.state,
            definitions: self.catalog.definitions(),
            now: self.now,
            run: Some((run, wf.key.as_deref())),
        };
        let here = &wf.nodes[run.at];
        let wait_condition = match &here.kind {
            NodeKind::Wait(Wait::Condition { condition, .. }) => Some(condition),
            NodeKind::Goal(goal) => Some(&goal.when),
            _ => None,
        };
        let goals = wf.goals.iter().filter_map(|&g| match &wf.nodes[g].kind {
            NodeKind::Goal(goal)
                if !run.achieved.contains(&g)
                    && (goal.scope == GoalScope::Anywhere
                        || wf.goals_below[run.at].contains(&g)) =>
            {
                Some(&goal.when)
            }
            _ => None,
        });
        let recheck = wf
            .exit_when
            .iter()
            .chain(wait_condition)
            .chain(goals)
            .filter_map(|c| scope.next_change(c))
            .min()
            .filter(|t| waiting.until.is_none_or(|until| *t < until));
        if recheck == waiting.recheck {
            return;
        }
        if let Some(w) = run.waiting.as_mut() {
            w.recheck = recheck;
        }
        if let Some(due) = recheck {
            let contact = self.state.contact.id.clone();
            let kind = TimerKind::Run {
                run: run.seq,
                wait: waiting.seq,
            };
            self.out
                .effects
                .push(Effect::Timer(Timer { contact, due, kind }));
        }
    }

    fn achieve(&mut self, wf: &Workflow, run: &mut Run, goal: NodeId, trace: Trace) {
        if !run.achieved.contains(&goal) {
            run.achieved.push(goal);
        }
        self.run_entry(Kind::GoalAchieved, wf, run, Some(goal));
        self.attach(trace);
        let event = crate::model::event::Event::new("goal_achieved", self.now)
            .with("workflow", wf.id.as_str())
            .with("step", wf.nodes[goal].id.as_str());
        self.record_event(event);
    }

    /// After data changed: every active run checks `exit_when`, its goals and its condition wait.
    pub(crate) fn check_runs(&mut self) {
        let seqs: Vec<u64> = self.state.runs.keys().copied().collect();
        for seq in seqs {
            self.check_run(seq, false);
        }
    }

    /// Checks one run; `timer_fired` = its wait's timer is due now.
    fn check_run(&mut self, seq: u64, timer_fired: bool) {
        let catalog = self.catalog;
        let Some(mut run) = self.state.runs.remove(&seq) else {
            return;
        };
        let Some(wf) = catalog.get(&run.workflow, run.version) else {
            self.state.runs.insert(seq, run);
            return;
        };
        if let Some(exit) = &wf.exit_when {
            if self.holds(wf, Some(&run), exit) {
                let trace = self.evidence(wf, Some(&run), exit);
                self.exit(&run, ExitReason::ExitWhen);
                self.attach(trace);
                return;
            }
        }
        let here = &wf.nodes[run.at];
        // Waiting at a goal (otherwise: wait) that is now met: pass through it.
        if let NodeKind::Goal(goal) = &here.kind {
            if run.waiting.is_some() && self.holds(wf, Some(&run), &goal.when) {
                let at = run.at;
                let trace = self.evidence(wf, Some(&run), &goal.when);
                self.achieve(wf, &mut run, at, trace);
                let next = here.next;
                return self.drive(wf, run, next);
            }
        }
        if let Some((goal, when)) = self.goal_to_jump_to(wf, &run) {
            // A jump is an arrival at the goal step, as walking onto it is.
            self.run_entry(Kind::Step, wf, &run, Some(goal));
            let trace = self.evidence(wf, Some(&run), when);
            self.achieve(wf, &mut run, goal, trace);
            let next = wf.nodes[goal].next;
            run.at = goal;
            return self.drive(wf, run, next);
        }
        if let NodeKind::Wait(Wait::Condition { condition, .. }) = &here.kind {
            if self.holds(wf, Some(&run), condition) {
                let trace = self.evidence(wf, Some(&run), condition);
                self.run_entry(Kind::Woke, wf, &run, Some(run.at)).reason =
                    Some(WakeReason::Condition.as_str().into());
                self.attach(trace);
                let next = here.next;
                return self.drive(wf, run, next);
            }
        }
        if timer_fired {
            let reason = match &here.kind {
                NodeKind::Wait(Wait::Condition { .. }) | NodeKind::Goal(_) => WakeReason::Timeout,
                _ => WakeReason::Time,
            };
            // Timed out: what the wait or the goal was waiting for, still not there.
            let awaited = match &here.kind {
                NodeKind::Wait(Wait::Condition { condition, .. }) => Some(condition),
                NodeKind::Goal(goal) => Some(&goal.when),
                _ => None,
            };
            let trace = awaited.map(|c| self.evidence(wf, Some(&run), c));
            self.run_entry(Kind::Woke, wf, &run, Some(run.at)).reason =
                Some(reason.as_str().into());
            if let Some(trace) = trace {
                self.attach(trace);
            }
            let next = here.next;
            return self.drive(wf, run, next);
        }
        self.rearm(wf, &mut run);
        self.state.runs.insert(seq, run);
    }

    /// The goal a run jumps to now: among goals in reach (by scope) whose condition holds
    /// and that this run has not achieved yet, the one furthest down the workflow.
    fn goal_to_jump_to<'w>(&self, wf: &'w Workflow, run: &Run) -> Option<(NodeId, &'w Condition)> {
        let below = &wf.goals_below[run.at];
        wf.goals.iter().rev().find_map(|&g| {
            let NodeKind::Goal(goal) = &wf.nodes[g].kind else {
                return None;
            };
            let in_reach = match goal.scope {
                GoalScope::Below => below.contains(&g),
                GoalScope::Anywhere => true,
            };
            let jumps = g != run.at
                && in_reach
                && !run.achieved.contains(&g)
                && self.holds(wf, Some(run), &goal.when);
            jumps.then_some((g, &goal.when))
        })
    }

    pub(crate) fn on_timer(&mut self, timer: Timer) {
        if timer.due > self.now || !self.state.timer_is_live(&timer) {
            return;
        }
        match timer.kind {
            TimerKind::Date { workflow, trigger } => {
                self.on_date_timer(&workflow, trigger, timer.due)
            }
            // Already applied: `expire_scores` runs first for every input.
            TimerKind::Score { .. } => {}
            // Nothing to do here: settling checks every watched segment, as after any input.
            TimerKind::Segment { name } => {
                self.state.segment_timers.remove(&name);
            }
            TimerKind::Run { run, .. } => {
                // The wait's own end, or a re-check of a time-dependent condition.
                let ended = self
                    .state
                    .runs
                    .get(&run)
                    .and_then(|r| r.waiting.as_ref())
                    .is_some_and(|w| w.until == Some(timer.due));
                self.check_run(run, ended);
            }
        }
    }

    /// Moves runs onto a newer version that says `migrate: { from: <their version> }`.
    /// A waiting run keeps its wake-up time (and its timer stays valid).
    pub(crate) fn migrate_runs(&mut self) {
        let catalog = self.catalog;
        let seqs: Vec<u64> = self.state.runs.keys().copied().collect();
        for seq in seqs {
            let Some(run) = self.state.runs.get(&seq) else {
                continue;
            };
            let Some(latest) = catalog.latest(&run.workflow) else {
                continue;
            };
            let Some(migrate) = latest.migrate.as_ref().filter(|m| m.from == run.version) else {
                continue;
            };
            let Some(old) = catalog.get(&run.workflow, run.version) else {
                continue;
            };
            let old_id = &old.nodes[run.at].id;
            let new_id = migrate.steps.get(old_id).unwrap_or(old_id);
            let Some(new_at) = latest.node_index(new_id) else {
                continue;
            };
            let (version, step) = (latest.version, new_id.clone());
            if let Some(run) = self.state.runs.get_mut(&seq) {
                run.version = version;
                run.at = new_at;
                run.achieved.clear();
                let run = run.clone();
                let entry = self.journal(Kind::Migrated);
                entry.workflow = Some(run.workflow.clone());
                entry.run = Some(run.id());
                entry.step = Some(step);
                entry.version = Some(version);
            }
        }
    }
}

/// The key a step's message or webhook call is claimed by: the contact, when it was
/// created, the run, the step and the visit — once however often the work is retried. The
/// creation time tells a contact deleted and created again (its runs count from 1 again)
/// from the one before, whose claims outlive it for 30 days.
fn step_key(contact: &crate::model::contact::Contact, run: &str, step: &str, visit: u32) -> String {
    let born = contact.created_at.timestamp_micros();
    format!("{}/{born}/{run}/{step}/{visit}", contact.id)
}

/// The branch index of a split's decided winner, if its experiment has one.
fn catalog_winner(
    catalog: &crate::catalog::Catalog,
    wf: &Workflow,
    step: &str,
    names: &[String],
) -> Option<usize> {
    let name = catalog.winner(&wf.id, step)?;
    names.iter().position(|n| n == name)
}

/// A split branch chosen by weight, stable for the same contact, run and step.
fn pick_branch(branches: &[(f64, Option<NodeId>)], contact: &str, run: &str, step: &str) -> usize {
    let total: f64 = branches.iter().map(|(w, _)| w).sum();
    let mut hash = crate::keys::fnv1a(
        contact
            .bytes()
            .chain([0])
            .chain(run.bytes())
            .chain([0])
            .chain(step.bytes()),
    );
    // splitmix64 finaliser spreads FNV's low-entropy high bits.
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^= hash >> 31;
    let point = (hash >> 11) as f64 / (1u64 << 53) as f64 * total;
    let mut acc = 0.0;
    for (i, (weight, _)) in branches.iter().enumerate() {
        acc += weight;
        if point < acc && *weight > 0.0 {
            return i;
        }
    }
    branches.iter().rposition(|(w, _)| *w > 0.0).unwrap_or(0)
}
