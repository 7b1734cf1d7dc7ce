//! Experiment winners: an experiment with `winner:` is decided once, at the first check
//! after its `after` has passed since the first run took the split and every branch has
//! `min_per_branch` runs: the branch that beats the first at `confidence` (shared among the
//! comparisons), or the first if it beats every other, wins and new runs take it; if none
//! does, the weights hold for good. One look, not a look a minute: testing again and again
//! until something is significant would find winners that are not. Either way the
//! decision is journaled (`split_winner`; without `branch` when none won).
//!
//! Drivers call [`due_decisions`] periodically (the simulator each simulated hour,
//! `kairos serve` each minute, the sweep function on AWS each minute) and store what it
//! returns with [`record`].

use chrono::{DateTime, Utc};

use crate::catalog::Catalog;
use crate::experiment::{alpha, winner};
use crate::language::step::Experiment;
use crate::model::journal::{JournalEntry, Kind};
use crate::model::trace::Trace;
use crate::ports::{CatalogStore, ContactStore, PortError};
use crate::program::NodeKind;

/// A winner just found.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub workflow: String,
    pub step: String,
    /// The winning branch's name; empty when none won (the weights hold).
    pub branch: String,
    /// The `split_winner` entry to journal.
    pub entry: JournalEntry,
}

/// The workflows with an experiment to decide (`winner:`): the ones whose journal
/// [`due_decisions`] reads.
pub fn deciding_workflows(catalog: &Catalog) -> impl Iterator<Item = &str> {
    catalog
        .latest_all()
        .filter(|wf| {
            wf.nodes.iter().any(|n| {
                matches!(&n.kind, NodeKind::Split { experiment: Some(e), .. } if e.winner.is_some())
            })
        })
        .map(|wf| wf.id.as_str())
}

/// The winners due now among the catalog's undecided experiments with `winner:`.
pub async fn due_decisions<S: ContactStore>(
    store: &S,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<Vec<Decision>, PortError> {
    let mut decisions = Vec::new();
    for wf in catalog.latest_all() {
        let pending: Vec<(&str, &Experiment, &Vec<String>)> = wf
            .nodes
            .iter()
            .filter_map(|n| match &n.kind {
                NodeKind::Split {
                    names,
                    experiment: Some(e),
                    ..
                } if e.winner.is_some() && catalog.winner(&wf.id, &n.id).is_none() => {
                    Some((n.id.as_str(), e, names))
                }
                _ => None,
            })
            .collect();
        if pending.is_empty() {
            continue;
        }
        let journal = store.workflow_journal(&wf.id).await?;
        let report = crate::report::build(&journal, catalog);
        let Some(results) = report.workflows.iter().find(|w| w.workflow == wf.id) else {
            continue;
        };
        for (step, experiment, names) in pending {
            let Some(rule) = &experiment.winner else {
                continue;
            };
            let started = journal
                .iter()
                .find(|e| e.kind == Kind::Step && e.step.as_deref() == Some(step))
                .map(|e| e.at);
            if started.is_none_or(|t| t + rule.after.to_chrono() > now) {
                continue;
            }
            let Some(x) = results.experiments.iter().find(|x| x.step == step) else {
                continue;
            };
            let fewest = x.branches.iter().map(|b| b.entered).min().unwrap_or(0);
            if fewest < rule.min_per_branch {
                continue;
            }
            let best = winner(&x.branches, rule.min_per_branch, rule.confidence);
            // No winner is a decision too: the weights hold, and no later look is taken.
            let branch = best.map_or(String::new(), |b| names[b].clone());
            let level = alpha(&x.branches, rule.confidence);
            let first = &x.branches[0];
            let comparisons = x.branches.iter().skip(1).map(|b| {
                let d = b.difference.unwrap_or(0.0);
                let significant = b.p_value.is_some_and(|p| p < level);
                let (test, holds) = if best == Some(0) {
                    (
                        format!("{} beats {} (p < {level:.4})", first.branch, b.branch),
                        significant && d < 0.0,
                    )
                } else {
                    (
                        format!("{} beats {} (p < {level:.4})", b.branch, first.branch),
                        significant && d > 0.0,
                    )
                };
                let observed = serde_json::json!({
                    "rate": b.conversion_rate, "first": first.conversion_rate,
                    "difference": d, "p_value": b.p_value,
                });
                Trace::leaf(test, Some(observed), holds)
            });
            let runs = Trace::leaf(
                format!("every branch has at least {} runs", rule.min_per_branch),
                Some(fewest.into()),
                true,
            );
            let compared = Trace {
                test: "any".into(),
                observed: None,
                holds: best.is_some(),
                of: comparisons.collect(),
            };
            let mut entry = JournalEntry::new(now, "", Kind::SplitWinner);
            entry.workflow = Some(wf.id.clone());
            entry.step = Some(step.to_string());
            entry.branch = best.map(|_| branch.clone());
            if best.is_none() {
                entry.message = Some("no branch won: the weights hold".into());
            }
            entry.trace = Some(Box::new(Trace::all(vec![runs, compared])));
            decisions.push(Decision {
                workflow: wf.id.clone(),
                step: step.to_string(),
                branch,
                entry,
            });
        }
    }
    Ok(decisions)
}

/// Stores the decisions and journals those that were stored: the catalog's first
/// decision stands, so two checks that overlap journal one.
pub async fn record<C: CatalogStore, S: ContactStore>(
    catalog: &C,
    store: &S,
    decisions: &[Decision],
) -> Result<(), PortError> {
    for d in decisions {
        if catalog.put_winner(&d.workflow, &d.step, &d.branch).await? {
            store.append_journal(std::slice::from_ref(&d.entry)).await?;
        }
    }
    Ok(())
}
