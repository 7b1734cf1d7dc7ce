//! Reports: per workflow and step, how many runs entered, are there now, passed, and — for
//! goals — converted; for message steps, sent and suppressed, and how many of the sent were
//! delivered, opened and clicked (each counted once per run, however often a contact opens).
//! Built from journal entries alone, so the simulator, `kairos serve` and the API report
//! the same way.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::experiment::{compare, ExperimentReport};
use crate::model::journal::{JournalEntry, Kind};
use crate::program::NodeKind;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    pub workflows: Vec<WorkflowReport>,
    /// Per broadcast run: audience, sent, suppressed by reason, delivered, opened, clicked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub broadcasts: Vec<BroadcastReport>,
}

/// One broadcast run's counts, each contact counted once per kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BroadcastReport {
    pub broadcast: String,
    /// `price-drop:3`.
    pub run: String,
    /// Members the run reached (`broadcast_received`).
    pub audience: u64,
    pub sent: u64,
    /// Suppressed messages by reason (`unsubscribed`, `frequency_cap`, …).
    pub suppressed: BTreeMap<String, u64>,
    pub delivered: u64,
    pub opened: u64,
    pub clicked: u64,
}

/// Broadcast counters kept entry by entry (see [`Tally`]).
#[derive(Default)]
pub struct BroadcastTally {
    runs: BTreeMap<(String, String), BroadcastReport>,
    /// (kind, contact, run, reason) already counted: each contact once per kind.
    seen: BTreeSet<(Kind, String, String, Option<String>)>,
}

impl BroadcastTally {
    /// Counts `e` if it names a broadcast run.
    pub fn add(&mut self, e: &JournalEntry) {
        let (Some(broadcast), Some(run)) = (e.broadcast.as_deref(), e.run.as_deref()) else {
            return;
        };
        if !self
            .seen
            .insert((e.kind, e.contact.clone(), run.to_string(), e.reason.clone()))
        {
            return;
        }
        let r = self
            .runs
            .entry((broadcast.to_string(), run.to_string()))
            .or_insert_with(|| BroadcastReport {
                broadcast: broadcast.to_string(),
                run: run.to_string(),
                ..BroadcastReport::default()
            });
        match e.kind {
            Kind::BroadcastReceived => r.audience += 1,
            Kind::MessageSent => r.sent += 1,
            Kind::MessageSuppressed => {
                let reason = e.reason.clone().unwrap_or_default();
                *r.suppressed.entry(reason).or_default() += 1;
            }
            Kind::MessageDelivered => r.delivered += 1,
            Kind::MessageOpened => r.opened += 1,
            Kind::MessageClicked => r.clicked += 1,
            _ => {}
        }
    }

    /// The counts, by run.
    pub fn finish(self) -> Vec<BroadcastReport> {
        self.runs.into_values().collect()
    }
}

/// Every broadcast run's counts in `journal` (entries that name a broadcast), by run.
pub fn broadcasts(journal: &[JournalEntry]) -> Vec<BroadcastReport> {
    let mut tally = BroadcastTally::default();
    journal.iter().for_each(|e| tally.add(e));
    tally.finish()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkflowReport {
    pub workflow: String,
    /// Runs started.
    pub entered: u64,
    /// Runs still active.
    pub active: u64,
    /// Finished runs by exit reason.
    pub exited: BTreeMap<String, u64>,
    pub steps: Vec<StepReport>,
    /// Each split compared as an experiment on its goal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub experiments: Vec<ExperimentReport>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepReport {
    pub step: String,
    pub entered: u64,
    pub now_at: u64,
    pub passed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal_conversions: Option<u64>,
    /// Goal conversions over runs that entered the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clicked: Option<u64>,
    /// Provider rejections and render failures (SES Reject, Rendering Failure), per run;
    /// shown only when there were some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<u64>,
    /// Deliveries the provider is still retrying (SES DeliveryDelay), per run; shown only
    /// when there were some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delayed_by_provider: Option<u64>,
}

#[derive(Default)]
struct Counts {
    entered: u64,
    left_early: u64,
    goals: u64,
    sent: u64,
    suppressed: u64,
    delivered: u64,
    opened: u64,
    clicked: u64,
    rejected: u64,
    delayed_by_provider: u64,
}

/// The counts of `step` in `wf`, made on first use.
fn counts<'a>(
    steps: &'a mut BTreeMap<(String, String), Counts>,
    wf: &str,
    step: &str,
) -> &'a mut Counts {
    steps.entry((wf.to_string(), step.to_string())).or_default()
}

/// A run: (contact, workflow, run id). Run ids count per contact (`welcome:1` is every
/// contact's first run).
type RunKey = (String, String, String);

/// The report's counters, kept entry by entry: what a report needs is the journal streamed
/// past it once (`kairos simulate --report` tallies as it prints), not the journal held.
/// Per run it keeps where the run is, the branch it took and the goals it reached.
#[derive(Default)]
pub struct Tally {
    /// Where each run is (its last step) and whether it ended.
    position: BTreeMap<RunKey, (String, bool)>,
    steps: BTreeMap<(String, String), Counts>,
    runs: BTreeMap<String, WorkflowReport>,
    /// Feedback already counted, by (kind, run, step): opens repeat.
    feedback_seen: BTreeSet<(Kind, RunKey, String)>,
    /// Experiments: the branch each run took at a split (by workflow and step).
    took: BTreeMap<(String, String), BTreeMap<(String, String), String>>,
    /// The goals each run reached: (run, goal step).
    reached: BTreeSet<(RunKey, String)>,
    broadcasts: BroadcastTally,
}

impl Tally {
    /// Counts one journal entry.
    pub fn add(&mut self, e: &JournalEntry) {
        self.broadcasts.add(e);
        let (Some(wf), Some(run)) = (e.workflow.as_deref(), e.run.as_deref()) else {
            return;
        };
        let key = || (e.contact.clone(), wf.to_string(), run.to_string());
        let step = e.step.as_deref();
        match e.kind {
            Kind::Entered => self.runs.entry(wf.to_string()).or_default().entered += 1,
            Kind::Step | Kind::Migrated => {
                if let Some(step) = step {
                    if e.kind == Kind::Step {
                        counts(&mut self.steps, wf, step).entered += 1;
                        if let Some(branch) = e.branch.as_deref() {
                            self.took
                                .entry((wf.to_string(), step.to_string()))
                                .or_default()
                                .insert((e.contact.clone(), run.to_string()), branch.to_string());
                        }
                    }
                    self.position.insert(key(), (step.to_string(), false));
                }
            }
            Kind::GoalAchieved => {
                if let Some(step) = step {
                    self.reached.insert((key(), step.to_string()));
                    counts(&mut self.steps, wf, step).goals += 1;
                    self.position.insert(key(), (step.to_string(), false));
                }
            }
            Kind::MessageSent => counts(&mut self.steps, wf, step.unwrap_or_default()).sent += 1,
            Kind::MessageSuppressed => {
                counts(&mut self.steps, wf, step.unwrap_or_default()).suppressed += 1
            }
            Kind::MessageDelivered
            | Kind::MessageOpened
            | Kind::MessageClicked
            | Kind::MessageRejected
            | Kind::MessageRenderFailed
            | Kind::MessageDelayedByProvider => {
                let step = step.unwrap_or_default();
                if !self.feedback_seen.insert((e.kind, key(), step.to_string())) {
                    return;
                }
                let c = counts(&mut self.steps, wf, step);
                match e.kind {
                    Kind::MessageDelivered => c.delivered += 1,
                    Kind::MessageOpened => c.opened += 1,
                    Kind::MessageClicked => c.clicked += 1,
                    Kind::MessageDelayedByProvider => c.delayed_by_provider += 1,
                    _ => c.rejected += 1,
                }
            }
            Kind::Exited => {
                let reason = e.reason.as_deref().unwrap_or("ended");
                *self
                    .runs
                    .entry(wf.to_string())
                    .or_default()
                    .exited
                    .entry(reason.to_string())
                    .or_default() += 1;
                if let (Some(step), true) = (step, reason != "completed") {
                    counts(&mut self.steps, wf, step).left_early += 1;
                }
                if let Some(p) = self.position.get_mut(&key()) {
                    p.1 = true;
                }
            }
            _ => {}
        }
    }

    /// The report of every workflow in `catalog` (and every broadcast run) counted so far.
    pub fn finish(self, catalog: &Catalog) -> Report {
        let workflows = catalog
            .latest_all()
            .map(|workflow| self.report_of(workflow, catalog))
            .collect();
        Report {
            workflows,
            broadcasts: self.broadcasts.finish(),
        }
    }

    /// The report of `workflow` counted so far, leaving the counters as they are (a store
    /// that keeps a tally answers from it and goes on counting).
    pub fn workflow_report(&self, workflow: &str, catalog: &Catalog) -> Option<WorkflowReport> {
        catalog
            .latest(workflow)
            .map(|workflow| self.report_of(workflow, catalog))
    }

    fn report_of(&self, workflow: &crate::program::Workflow, catalog: &Catalog) -> WorkflowReport {
        let mut wr = self.runs.get(&workflow.id).cloned().unwrap_or_default();
        wr.workflow = workflow.id.clone();
        // Where the runs still going are now.
        let mut now_at: BTreeMap<&str, u64> = BTreeMap::new();
        for ((_, wf, _), (step, ended)) in &self.position {
            if wf == &workflow.id && !ended {
                wr.active += 1;
                *now_at.entry(step).or_default() += 1;
            }
        }
        let none = Counts::default();
        for node in &workflow.nodes {
            let c = self
                .steps
                .get(&(workflow.id.clone(), node.id.clone()))
                .unwrap_or(&none);
            let now_at = now_at.get(node.id.as_str()).copied().unwrap_or(0);
            let is_goal = matches!(node.kind, crate::program::NodeKind::Goal(_));
            let is_send = matches!(node.kind, crate::program::NodeKind::Send(_));
            wr.steps.push(StepReport {
                step: node.id.clone(),
                entered: c.entered,
                now_at,
                passed: c.entered.saturating_sub(now_at + c.left_early),
                goal_conversions: is_goal.then_some(c.goals),
                conversion_rate: is_goal.then(|| {
                    if wr.entered == 0 {
                        0.0
                    } else {
                        c.goals as f64 / wr.entered as f64
                    }
                }),
                sent: is_send.then_some(c.sent),
                suppressed: is_send.then_some(c.suppressed),
                delivered: is_send.then_some(c.delivered),
                opened: is_send.then_some(c.opened),
                clicked: is_send.then_some(c.clicked),
                rejected: (c.rejected > 0).then_some(c.rejected),
                delayed_by_provider: (c.delayed_by_provider > 0).then_some(c.delayed_by_provider),
            });
        }
        for (at, node) in workflow.nodes.iter().enumerate() {
            let NodeKind::Split {
                branches, names, ..
            } = &node.kind
            else {
                continue;
            };
            let Some(goal) = workflow.experiment_goal(at) else {
                continue;
            };
            let goal = workflow.nodes[goal].id.as_str();
            let runs = self.took.get(&(workflow.id.clone(), node.id.clone()));
            let counts: Vec<(String, bool, u64, u64)> = (0..branches.len())
                .map(|b| {
                    let label = b.to_string();
                    let mut counted = (0, 0);
                    for ((contact, run), _) in runs
                        .into_iter()
                        .flatten()
                        .filter(|(_, taken)| **taken == label)
                    {
                        counted.0 += 1;
                        let run = (contact.clone(), workflow.id.clone(), run.clone());
                        counted.1 += u64::from(self.reached.contains(&(run, goal.to_string())));
                    }
                    // An empty branch goes straight on: the control group.
                    let holdout = branches[b].1 == node.next;
                    (names[b].clone(), holdout, counted.0, counted.1)
                })
                .collect();
            wr.experiments.push(ExperimentReport {
                step: node.id.clone(),
                goal: goal.to_string(),
                branches: compare(&counts),
                // An empty decision: none won.
                winner: catalog
                    .winner(&workflow.id, &node.id)
                    .filter(|w| !w.is_empty())
                    .map(str::to_string),
            });
        }
        wr
    }
}

/// Builds the report of every workflow in `catalog` from `journal`.
pub fn build(journal: &[JournalEntry], catalog: &Catalog) -> Report {
    let mut tally = Tally::default();
    journal.iter().for_each(|e| tally.add(e));
    tally.finish(catalog)
}
