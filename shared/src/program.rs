//! A validated workflow version, compiled for the engine: steps flattened in document
//! order (pre-order) with explicit successors, so "the step after the enclosing one",
//! gotos and goal reachability are plain indices.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use crate::duration::{Duration, Offset};
use crate::language::condition::{Condition, Where};
use crate::language::step::{Experiment, GoalStep, ListStep, SendStep, TagStep, WebhookStep};
use crate::language::workflow::{Migrate, Reentry, WorkflowDoc};

pub type NodeId = usize;

#[derive(Clone, Debug)]
pub struct Workflow {
    pub id: String,
    pub version: u32,
    pub enabled: bool,
    pub triggers: Vec<Trigger>,
    pub enroll_existing: bool,
    pub segment: Option<Condition>,
    pub reentry: Reentry,
    pub key: Option<String>,
    pub exit_when: Option<Condition>,
    pub nodes: Vec<Node>,
    /// Goal nodes in document order.
    pub goals: Vec<NodeId>,
    /// Per node: the goals a run at this node can still walk onto (scope `below`).
    pub goals_below: Vec<Vec<NodeId>>,
    pub migrate: Option<Migrate>,
    /// The source, kept to tell whether a redeploy changed anything and to show it back.
    pub doc: WorkflowDoc,
    by_id: HashMap<String, NodeId>,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub id: String,
    /// Where the step is written (`steps[3].then[0]`), for diagnostics.
    pub path: String,
    pub kind: NodeKind,
    /// The step that follows in structured flow; `None` ends the run (completed).
    pub next: Option<NodeId>,
}

#[derive(Clone, Debug)]
pub enum NodeKind {
    Send(SendStep),
    Wait(Wait),
    If {
        condition: Condition,
        then: Option<NodeId>,
        otherwise: Option<NodeId>,
    },
    Split {
        branches: Vec<(f64, Option<NodeId>)>,
        /// Each branch's name (`name`, else `a`, `b`, …).
        names: Vec<String>,
        /// Its `experiment:` settings, if it has any.
        experiment: Option<Experiment>,
    },
    Goal(GoalStep),
    Tag(TagStep),
    List(ListStep),
    Score {
        name: String,
        change: ScoreChange,
    },
    Set(BTreeMap<String, Value>),
    Start(String),
    Stop(String),
    Webhook(WebhookStep),
    Goto(NodeId),
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreChange {
    Add(i64),
    Set(i64),
}

#[derive(Clone, Debug)]
pub enum Wait {
    For(Duration),
    Until(DateTime<Utc>),
    UntilTime {
        at: NaiveTime,
        days: Vec<chrono::Weekday>,
        tz: TzChoice,
    },
    Condition {
        condition: Condition,
        timeout: Option<Duration>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TzChoice {
    Contact,
    Named(Tz),
}

#[derive(Clone, Debug)]
pub enum Trigger {
    Event { name: String, where_: Where },
    TagAdded(String),
    TagRemoved(String),
    ListJoined(String),
    ListLeft(String),
    FieldChanged { field: String, to: Option<Value> },
    Date(DateRule),
    SegmentEntered(String),
    SegmentLeft(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct DateRule {
    pub field: String,
    pub each_year: bool,
    pub at: Option<NaiveTime>,
    pub offset: Offset,
}

impl Workflow {
    /// The goal a split's experiment compares its branches on: the one it names, else
    /// the first goal (in document order) a run can reach after the split.
    pub fn experiment_goal(&self, split: NodeId) -> Option<NodeId> {
        let NodeKind::Split { experiment, .. } = &self.nodes[split].kind else {
            return None;
        };
        if let Some(goal) = experiment.as_ref().and_then(|e| e.goal.as_ref()) {
            return self.by_id.get(goal).copied();
        }
        let reach = reachable_from(&self.nodes, split);
        self.goals.iter().copied().find(|&g| reach[g])
    }

    /// Assembles a compiled workflow and derives the indices the engine needs.
    pub(crate) fn assemble(doc: WorkflowDoc, triggers: Vec<Trigger>, nodes: Vec<Node>) -> Workflow {
        let by_id = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.clone(), i))
            .collect();
        let goals: Vec<NodeId> = nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n.kind, NodeKind::Goal(_)))
            .map(|(i, _)| i)
            .collect();
        let goals_below = (0..nodes.len())
            .map(|from| {
                let reach = reachable_from(&nodes, from);
                goals.iter().copied().filter(|g| reach[*g]).collect()
            })
            .collect();
        Workflow {
            id: doc.id.clone(),
            version: 1,
            enabled: doc.enabled,
            triggers,
            enroll_existing: doc.entry.enroll_existing,
            segment: doc.entry.segment.clone(),
            reentry: doc.entry.reentry,
            key: doc.entry.key.clone(),
            exit_when: doc.exit_when.clone(),
            nodes,
            goals,
            goals_below,
            migrate: doc.migrate.clone(),
            doc,
            by_id,
        }
    }

    pub fn node_index(&self, step_id: &str) -> Option<NodeId> {
        self.by_id.get(step_id).copied()
    }

    pub fn name(&self) -> &str {
        self.doc.name.as_deref().unwrap_or(&self.id)
    }
}

/// The nodes a run can move to directly from `node`.
pub fn successors(node: &Node) -> Vec<NodeId> {
    match &node.kind {
        NodeKind::If {
            then, otherwise, ..
        } => then.iter().chain(otherwise.iter()).copied().collect(),
        NodeKind::Split { branches, .. } => {
            branches.iter().filter_map(|(_, first)| *first).collect()
        }
        NodeKind::Goto(target) => vec![*target],
        NodeKind::End => vec![],
        _ => node.next.into_iter().collect(),
    }
}

/// Which nodes can be reached from `from` in one step or more (not `from` itself, unless a loop leads back).
pub fn reachable_from(nodes: &[Node], from: NodeId) -> Vec<bool> {
    let mut seen = vec![false; nodes.len()];
    let mut stack = successors(&nodes[from]);
    while let Some(n) = stack.pop() {
        if !seen[n] {
            seen[n] = true;
            stack.extend(successors(&nodes[n]));
        }
    }
    seen
}
