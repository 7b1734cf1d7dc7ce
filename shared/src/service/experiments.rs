//! Experiment winners: an experiment with `winner:` is decided once — when its `after`
//! has passed since the first run took the split, every branch has `min_per_branch` runs,
//! and a branch beats the first (or the first beats every other) at `confidence`. From
//! then on new runs take the winner; the decision is journaled (`split_winner`).
//!
//! Drivers call [`due_decisions`] periodically (the simulator each simulated hour,
//! `kairos serve` each minute, the sweep function on AWS each minute) and store what it
//! returns with [`record`].

use chrono::{DateTime, Utc};

use crate::catalog::Catalog;
use crate::experiment::winner;
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
    pub branch: String,
    /// The `split_winner` entry to journal.
    pub entry: JournalEntry,
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
            let Some(best) = winner(&x.branches, rule.min_per_branch, rule.confidence) else {
                continue;
            };
            let branch = names[best].clone();
            let evidence = x.branches.iter().skip(1).map(|b| {
                let test = format!(
                    "{} against {}: p-value under {:.3}",
                    b.branch,
                    x.branches[0].branch,
                    1.0 - rule.confidence
                );
                let observed = serde_json::json!({
                    "rate": b.conversion_rate, "first": x.branches[0].conversion_rate, "p_value": b.p_value,
                });
                let holds = b.p_value.is_some_and(|p| p < 1.0 - rule.confidence);
                Trace::leaf(test, Some(observed), holds)
            });
            let mut entry = JournalEntry::new(now, "", Kind::SplitWinner);
            entry.workflow = Some(wf.id.clone());
            entry.step = Some(step.to_string());
            entry.branch = Some(branch.clone());
            entry.trace = Some(Box::new(Trace::all(evidence.collect())));
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

/// Stores the winners (the catalog's first decision stands) and journals them.
pub async fn record<C: CatalogStore, S: ContactStore>(
    catalog: &C,
    store: &S,
    decisions: &[Decision],
) -> Result<(), PortError> {
    for d in decisions {
        catalog.put_winner(&d.workflow, &d.step, &d.branch).await?;
        store.append_journal(std::slice::from_ref(&d.entry)).await?;
    }
    Ok(())
}
