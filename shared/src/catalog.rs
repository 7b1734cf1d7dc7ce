//! The catalog: every deployed workflow version plus the project definitions. Versions are
//! immutable; a redeploy of an unchanged definition keeps the version.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::language::definitions::Definitions;
use crate::language::validate::{validate_workflow, References};
use crate::language::workflow::WorkflowDoc;
use crate::model::broadcast::BroadcastRun;
use crate::program::{DateRule, Trigger, Workflow};

#[derive(Clone, Debug, Default)]
pub struct Catalog {
    workflows: BTreeMap<String, Vec<Arc<Workflow>>>,
    definitions: Arc<Definitions>,
    date_rules: Vec<(Arc<Workflow>, usize, DateRule)>,
    watched_segments: BTreeSet<String>,
    /// The branch each decided experiment takes from now on, by (workflow, split step).
    winners: BTreeMap<(String, String), String>,
    /// Every broadcast run, by (broadcast, number).
    broadcast_runs: BTreeMap<(String, u32), BroadcastRun>,
    /// The journal-only feedback events some deployed document (any version) names.
    mentioned_feedback: BTreeSet<String>,
}

/// The outcome of a deploy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deployed {
    /// A new immutable version.
    New(u32),
    /// The definition is the same as the newest version's.
    Unchanged(u32),
}

impl Deployed {
    pub fn version(self) -> u32 {
        match self {
            Deployed::New(v) | Deployed::Unchanged(v) => v,
        }
    }
}

impl Catalog {
    pub fn new(definitions: Definitions) -> Catalog {
        let mut catalog = Catalog {
            definitions: Arc::new(definitions),
            ..Catalog::default()
        };
        catalog.reindex();
        catalog
    }

    pub fn definitions(&self) -> &Definitions {
        &self.definitions
    }

    pub fn set_definitions(&mut self, definitions: Definitions) {
        self.definitions = Arc::new(definitions);
        self.reindex();
    }

    /// The branch an experiment's `winner:` picked, once it has.
    pub fn winner(&self, workflow: &str, step: &str) -> Option<&str> {
        self.winners
            .get(&(workflow.to_string(), step.to_string()))
            .map(String::as_str)
    }

    /// Records an experiment's winner: new runs of that split take `branch`. The first
    /// decision stands.
    pub fn set_winner(&mut self, workflow: &str, step: &str, branch: &str) {
        self.winners
            .entry((workflow.to_string(), step.to_string()))
            .or_insert_with(|| branch.to_string());
    }

    /// A broadcast run.
    pub fn broadcast_run(&self, broadcast: &str, number: u32) -> Option<&BroadcastRun> {
        self.broadcast_runs.get(&(broadcast.to_string(), number))
    }

    /// A broadcast's runs, oldest first.
    pub fn broadcast_runs(&self, broadcast: &str) -> impl Iterator<Item = &BroadcastRun> {
        self.broadcast_runs
            .range((broadcast.to_string(), 0)..=(broadcast.to_string(), u32::MAX))
            .map(|(_, run)| run)
    }

    /// Every journal index an entry can name (`JournalEntry::index_name`): each workflow
    /// ever deployed (versions are never removed) and each broadcast defined or run.
    pub fn journal_indexes(&self) -> BTreeSet<String> {
        let broadcasts = self
            .broadcast_runs
            .keys()
            .map(|(broadcast, _)| broadcast)
            .chain(self.definitions.broadcasts.keys());
        self.workflows
            .keys()
            .cloned()
            .chain(broadcasts.map(|b| crate::model::broadcast::journal_index(b)))
            .collect()
    }

    /// Whether `index` is one of [`Catalog::journal_indexes`]: stores find a contact's
    /// entries under the indexes the catalog knows, so an entry may name no other.
    pub fn knows_journal_index(&self, index: &str) -> bool {
        match index.strip_prefix("broadcast:") {
            Some(broadcast) => {
                self.definitions.broadcasts.contains_key(broadcast)
                    || self.broadcast_runs(broadcast).next().is_some()
            }
            None => self.workflows.contains_key(index),
        }
    }

    /// Every broadcast run.
    pub fn all_broadcast_runs(&self) -> impl Iterator<Item = &BroadcastRun> {
        self.broadcast_runs.values()
    }

    /// Records a broadcast run as it is now.
    pub fn set_broadcast_run(&mut self, run: BroadcastRun) {
        self.broadcast_runs
            .insert((run.broadcast.clone(), run.number), run);
    }

    /// Adds a version of a workflow. `migrate.from` must name an earlier version.
    pub fn deploy(&mut self, mut workflow: Workflow) -> Result<Deployed, String> {
        let versions = self.workflows.entry(workflow.id.clone()).or_default();
        if let Some(latest) = versions.last() {
            if latest.doc == workflow.doc {
                return Ok(Deployed::Unchanged(latest.version));
            }
        }
        let version = versions.last().map_or(1, |w| w.version + 1);
        if let Some(migrate) = &workflow.migrate {
            if migrate.from == 0 || migrate.from >= version {
                return Err(format!(
                    "migrate.from: version {} of `{}` does not exist (this deploy creates version {version})",
                    migrate.from, workflow.id
                ));
            }
        }
        workflow.version = version;
        versions.push(Arc::new(workflow));
        self.reindex();
        Ok(Deployed::New(version))
    }

    fn reindex(&mut self) {
        self.date_rules.clear();
        self.watched_segments.clear();
        for wf in self.workflows.values().filter_map(|v| v.last()) {
            for (i, trigger) in wf.triggers.iter().enumerate() {
                match trigger {
                    Trigger::Date(rule) => self.date_rules.push((wf.clone(), i, rule.clone())),
                    Trigger::SegmentEntered(name) | Trigger::SegmentLeft(name) => {
                        self.watched_segments.insert(name.clone());
                    }
                    _ => {}
                }
            }
        }
        // An audience's segment is watched like a trigger's: its changes are pushed.
        for audience in self.definitions.audiences.values() {
            self.watched_segments.insert(audience.segment.clone());
        }
        // Named as a value anywhere — a trigger, a condition, a scoring rule — counts: a
        // false match only costs the engine a round trip, never a decision.
        let documents: Vec<String> = self
            .workflows
            .values()
            .flatten()
            .filter_map(|wf| serde_json::to_string(&wf.doc).ok())
            .chain(serde_json::to_string(&*self.definitions).ok())
            .collect();
        self.mentioned_feedback = crate::model::journal::JOURNAL_ONLY_FEEDBACK
            .iter()
            .filter(|name| documents.iter().any(|d| d.contains(&format!("\"{name}\""))))
            .map(|name| name.to_string())
            .collect();
    }

    /// Whether a deployed document names the event (one of the journal-only feedback
    /// events; see [`crate::model::journal::JOURNAL_ONLY_FEEDBACK`]).
    pub fn mentions_feedback(&self, name: &str) -> bool {
        self.mentioned_feedback.contains(name)
    }

    pub fn latest(&self, id: &str) -> Option<&Arc<Workflow>> {
        self.workflows.get(id).and_then(|v| v.last())
    }

    pub fn get(&self, id: &str, version: u32) -> Option<&Arc<Workflow>> {
        self.workflows
            .get(id)?
            .iter()
            .find(|w| w.version == version)
    }

    pub fn versions(&self, id: &str) -> &[Arc<Workflow>] {
        self.workflows.get(id).map_or(&[], Vec::as_slice)
    }

    /// The newest version of every workflow, by id.
    pub fn latest_all(&self) -> impl Iterator<Item = &Arc<Workflow>> {
        self.workflows.values().filter_map(|v| v.last())
    }

    pub fn ids(&self) -> BTreeSet<String> {
        self.workflows.keys().cloned().collect()
    }

    pub(crate) fn date_rules(&self) -> &[(Arc<Workflow>, usize, DateRule)] {
        &self.date_rules
    }

    pub(crate) fn watched_segments(&self) -> &BTreeSet<String> {
        &self.watched_segments
    }

    /// The watched segments with their conditions (a name the definitions lack is skipped:
    /// validation refuses it, so only a definitions change under a live workflow leaves one).
    pub(crate) fn watched_segment_conditions(
        &self,
    ) -> impl Iterator<Item = (&String, &crate::language::condition::Condition)> {
        self.watched_segments
            .iter()
            .filter_map(|name| Some((name, self.definitions.segments.get(name)?)))
    }

    /// The catalog from its stored documents (`(key, JSON)` as [`workflow_key`] and
    /// [`DEFINITIONS_KEY`] name them, in any order). Stored documents were valid when
    /// deployed; one that no longer loads is an error, not skipped, so no version silently
    /// disappears. Every store replays through here.
    pub fn replay(
        documents: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Catalog, String> {
        let mut definitions = Definitions::default();
        let mut workflows = BTreeMap::new();
        let mut winners = Vec::new();
        let mut runs = Vec::new();
        for (key, json) in documents {
            if key == DEFINITIONS_KEY {
                definitions =
                    serde_json::from_str(&json).map_err(|e| format!("stored definitions: {e}"))?;
            } else if let Some((workflow, step)) = parse_winner_key(&key) {
                let branch: String =
                    serde_json::from_str(&json).map_err(|e| format!("stored {key}: {e}"))?;
                winners.push((workflow, step, branch));
            } else if key.starts_with("BR#") {
                let run: BroadcastRun =
                    serde_json::from_str(&json).map_err(|e| format!("stored {key}: {e}"))?;
                runs.push(run);
            } else if let Some((id, version)) = parse_workflow_key(&key) {
                workflows.insert((id, version), (key, json));
            }
        }
        let mut catalog = Catalog::new(definitions);
        for ((id, version), (key, json)) in workflows {
            // Stored documents are JSON written by us: no YAML parser on this path.
            let doc: WorkflowDoc =
                serde_json::from_str(&json).map_err(|e| format!("stored {key}: {e}"))?;
            let workflow = validate_workflow(doc, &key, References::default()).map_err(|d| {
                let all: Vec<String> = d.iter().map(|d| d.to_string()).collect();
                format!("stored {key}: {}", all.join("; "))
            })?;
            match catalog.deploy(workflow)? {
                Deployed::New(v) if v == version => {}
                other => {
                    return Err(format!(
                        "stored {key}: replays as version {} of `{id}`, not {version}",
                        other.version()
                    ))
                }
            }
        }
        for (workflow, step, branch) in winners {
            catalog.set_winner(&workflow, &step, &branch);
        }
        for run in runs {
            catalog.set_broadcast_run(run);
        }
        Ok(catalog)
    }
}

/// The key of a stored broadcast run: `BR#<broadcast>#<number, 6 digits>`. Its document
/// is the run as JSON.
pub fn broadcast_run_key(broadcast: &str, number: u32) -> String {
    format!("BR#{broadcast}#{number:06}")
}

/// The key of an experiment's stored winner: `WIN#<workflow>#<split step>` (ids are
/// slugs: no `#` in them). Its document is the branch name as a JSON string.
pub fn winner_key(workflow: &str, step: &str) -> String {
    format!("WIN#{workflow}#{step}")
}

fn parse_winner_key(key: &str) -> Option<(String, String)> {
    let (workflow, step) = key.strip_prefix("WIN#")?.split_once('#')?;
    Some((workflow.to_string(), step.to_string()))
}

/// The key a stored workflow version goes by: `WF#<id>#V#<version, 6 digits>`, so keys
/// sort by version.
pub fn workflow_key(id: &str, version: u32) -> String {
    format!("WF#{id}#V#{version:06}")
}

/// The key of the stored definitions.
pub const DEFINITIONS_KEY: &str = "DEFS";

fn parse_workflow_key(key: &str) -> Option<(String, u32)> {
    let rest = key.strip_prefix("WF#")?;
    let (id, version) = rest.rsplit_once("#V#")?;
    Some((id.to_string(), version.parse().ok()?))
}
