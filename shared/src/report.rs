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

/// Every broadcast run's counts in `journal` (entries that name a broadcast), by run.
pub fn broadcasts(journal: &[JournalEntry]) -> Vec<BroadcastReport> {
    let mut runs: BTreeMap<(&str, &str), BroadcastReport> = BTreeMap::new();
    let mut seen: BTreeSet<(Kind, &str, &str, Option<&str>)> = BTreeSet::new();
    for e in journal {
        let (Some(broadcast), Some(run)) = (e.broadcast.as_deref(), e.run.as_deref()) else {
            continue;
        };
        if !seen.insert((e.kind, e.contact.as_str(), run, e.reason.as_deref())) {
            continue;
        }
        let r = runs
            .entry((broadcast, run))
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
    runs.into_values().collect()
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
    now_at: u64,
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

/// Builds the report of every workflow in `catalog` from `journal`.
pub fn build(journal: &[JournalEntry], catalog: &Catalog) -> Report {
    // Where each run is (its last step) and whether it ended. Run ids count per contact
    // (`welcome:1` is every contact's first run), so a run is (contact, workflow, run).
    let mut position: BTreeMap<(&str, &str, &str), (&str, bool)> = BTreeMap::new();
    let mut steps: BTreeMap<(&str, &str), Counts> = BTreeMap::new();
    let mut runs: BTreeMap<&str, WorkflowReport> = BTreeMap::new();
    // Feedback already counted, by (kind, contact, workflow, run, step): opens repeat.
    let mut feedback_seen: BTreeSet<(Kind, &str, &str, &str, &str)> = BTreeSet::new();
    // Experiments: which branch each run took at a split, and the goals each run reached.
    let mut took: BTreeMap<(&str, &str), BTreeMap<(&str, &str), &str>> = BTreeMap::new();
    let mut reached: BTreeSet<(&str, &str, &str, &str)> = BTreeSet::new();
    for e in journal {
        let (Some(wf), Some(run)) = (e.workflow.as_deref(), e.run.as_deref()) else {
            continue;
        };
        let contact = e.contact.as_str();
        let step = e.step.as_deref();
        match e.kind {
            Kind::Entered => runs.entry(wf).or_default().entered += 1,
            Kind::Step | Kind::Migrated => {
                if let Some(step) = step {
                    if e.kind == Kind::Step {
                        steps.entry((wf, step)).or_default().entered += 1;
                        if let Some(branch) = e.branch.as_deref() {
                            took.entry((wf, step))
                                .or_default()
                                .insert((contact, run), branch);
                        }
                    }
                    position.insert((contact, wf, run), (step, false));
                }
            }
            Kind::GoalAchieved => {
                if let Some(step) = step {
                    reached.insert((contact, wf, run, step));
                    steps.entry((wf, step)).or_default().goals += 1;
                    position.insert((contact, wf, run), (step, false));
                }
            }
            Kind::MessageSent => {
                steps
                    .entry((wf, step.unwrap_or_default()))
                    .or_default()
                    .sent += 1
            }
            Kind::MessageSuppressed => {
                steps
                    .entry((wf, step.unwrap_or_default()))
                    .or_default()
                    .suppressed += 1
            }
            Kind::MessageDelivered
            | Kind::MessageOpened
            | Kind::MessageClicked
            | Kind::MessageRejected
            | Kind::MessageRenderFailed
            | Kind::MessageDelayedByProvider => {
                let step = step.unwrap_or_default();
                if !feedback_seen.insert((e.kind, contact, wf, run, step)) {
                    continue;
                }
                let c = steps.entry((wf, step)).or_default();
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
                *runs
                    .entry(wf)
                    .or_default()
                    .exited
                    .entry(reason.to_string())
                    .or_default() += 1;
                if let (Some(step), true) = (step, reason != "completed") {
                    steps.entry((wf, step)).or_default().left_early += 1;
                }
                if let Some(p) = position.get_mut(&(contact, wf, run)) {
                    p.1 = true;
                }
            }
            _ => {}
        }
    }
    for ((_, wf, _), (step, ended)) in &position {
        if !ended {
            steps.entry((wf, step)).or_default().now_at += 1;
            runs.entry(wf).or_default().active += 1;
        }
    }
    let mut report = Report {
        broadcasts: broadcasts(journal),
        ..Report::default()
    };
    for workflow in catalog.latest_all() {
        let mut wr = runs.remove(workflow.id.as_str()).unwrap_or_default();
        wr.workflow = workflow.id.clone();
        for node in &workflow.nodes {
            let c = steps
                .remove(&(workflow.id.as_str(), node.id.as_str()))
                .unwrap_or_default();
            let is_goal = matches!(node.kind, crate::program::NodeKind::Goal(_));
            let is_send = matches!(node.kind, crate::program::NodeKind::Send(_));
            wr.steps.push(StepReport {
                step: node.id.clone(),
                entered: c.entered,
                now_at: c.now_at,
                passed: c.entered.saturating_sub(c.now_at + c.left_early),
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
            let runs = took.get(&(workflow.id.as_str(), node.id.as_str()));
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
                        let wf = workflow.id.as_str();
                        counted.1 += u64::from(reached.contains(&(*contact, wf, *run, goal)));
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
        report.workflows.push(wr);
    }
    report
}
