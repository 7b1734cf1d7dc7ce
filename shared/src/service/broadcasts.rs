//! Broadcasts: a business event (or a broadcast's `at` time) fires a broadcast run; the run
//! fans out to its audience a page of contacts at a time — each page's members queued as
//! work for their contacts, then the run's position stored — so no single call visits
//! every contact, a crash resumes from the last stored page, and a page offered twice
//! sends nothing twice (the engine applies a repeated input once; each message's key is
//! its run and contact, claimed before sending).
//!
//! Drivers call [`fire`] for business events and [`work`] periodically (the simulator at
//! each firing and broadcast time, `kairos serve` every round, the sweep function on AWS
//! each minute).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::catalog::Catalog;
use crate::engine::eval::Scope;
use crate::engine::Input;
use crate::language::broadcast::Broadcast;
use crate::model::broadcast::{journal_index, BroadcastRun, RunState};
use crate::model::event::Event;
use crate::model::journal::{JournalEntry, Kind};
use crate::ports::{CatalogStore, ContactStore, PortError, WorkItem, WorkQueue};

/// Contacts looked at per fan-out page.
pub const PAGE: usize = 500;

/// What firing or working broadcasts did: the runs started, and the journal entries
/// appended about them (`broadcast_fired`, `broadcast_skipped`; about no contact).
#[derive(Debug, Default)]
pub struct Fired {
    pub runs: Vec<BroadcastRun>,
    pub journal: Vec<JournalEntry>,
}

/// Fires every broadcast `on` this business event whose filter it passes, once per
/// event `id` (a repeated id fires nothing more).
pub async fn fire<C: CatalogStore, S: ContactStore>(
    catalogs: &C,
    store: &S,
    event: Event,
    now: DateTime<Utc>,
) -> Result<Fired, PortError> {
    let catalog = catalogs.catalog().await?;
    let mut started = Vec::new();
    let mut journal = Vec::new();
    for (id, definition) in &catalog.definitions().broadcasts {
        let Some(on) = &definition.on else { continue };
        if on.business_event != event.name {
            continue;
        }
        match on.where_.passes(&event.props, event.at) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(why) => {
                let mut entry = JournalEntry::new(now, "", Kind::BroadcastSkipped);
                entry.broadcast = Some(id.clone());
                entry.message = Some(format!("`where` could not be evaluated: {why}"));
                journal.push(entry);
                continue;
            }
        }
        let seen = |run: &BroadcastRun| {
            event.id.is_some()
                && run.event.as_ref().and_then(|e| e.id.as_ref()) == event.id.as_ref()
        };
        if catalog.broadcast_runs(id).any(seen) {
            continue;
        }
        // Two deliveries of the same named event at once (a client's retry after a
        // timeout) race past the check above: the claim lets one through. Given back
        // when the run cannot be stored, so a retry fires it.
        let claim = event.id.as_ref().map(|e| format!("business/{id}/{e}"));
        if let Some(key) = &claim {
            if !store.claim(key).await? {
                continue;
            }
        }
        let run = match start(catalogs, &catalog, id, Some(event.clone()), now, false).await {
            Ok(Some(run)) => run,
            Ok(None) => continue,
            Err(e) => {
                if let Some(key) = &claim {
                    store.release(key).await?;
                }
                return Err(e);
            }
        };
        journal.push(fired_entry(&run, now));
        started.push(run);
    }
    if !journal.is_empty() {
        store.append_journal(&journal).await?;
    }
    Ok(Fired {
        runs: started,
        journal,
    })
}

/// Stores a new run under the next free number — or, `only_first` (a broadcast `at` a
/// time fires once), as run 1 only: `None` when a concurrent caller stored it first.
async fn start<C: CatalogStore>(
    catalogs: &C,
    catalog: &Catalog,
    id: &str,
    event: Option<Event>,
    now: DateTime<Utc>,
    only_first: bool,
) -> Result<Option<BroadcastRun>, PortError> {
    let mut number = catalog
        .broadcast_runs(id)
        .last()
        .map_or(1, |r| r.number + 1);
    loop {
        let run = BroadcastRun {
            broadcast: id.to_string(),
            number,
            event: event.clone(),
            fired_at: now,
            state: RunState::Running,
            cursor: None,
            fanned_out: false,
            members: 0,
        };
        // A concurrent firing took the number: the next one.
        if catalogs.put_broadcast_run(&run, true).await? {
            return Ok(Some(run));
        }
        if only_first {
            return Ok(None);
        }
        number += 1;
    }
}

fn fired_entry(run: &BroadcastRun, now: DateTime<Utc>) -> JournalEntry {
    let mut entry = JournalEntry::new(now, "", Kind::BroadcastFired);
    entry.broadcast = Some(run.broadcast.clone());
    entry.run = Some(run.id());
    entry.value = run.event.as_ref().map(|e| Value::Object(e.props.clone()));
    entry
}

/// Fires the broadcasts whose `at` has come (once each), then fans out running runs, at
/// most `pages` pages in all. Returns how many pages were worked — a driver calls again
/// while it is `pages` (more may be waiting) — and what was fired.
pub async fn work<C: CatalogStore, S: ContactStore, Q: WorkQueue>(
    catalogs: &C,
    store: &S,
    queue: &Q,
    now: DateTime<Utc>,
    pages: usize,
) -> Result<(usize, Fired), PortError> {
    let catalog = catalogs.catalog().await?;
    let mut fired = Fired::default();
    for (id, definition) in &catalog.definitions().broadcasts {
        let due = definition
            .at
            .as_deref()
            .and_then(|at| crate::calendar::parse_timestamp(at).ok())
            .is_some_and(|at| at <= now);
        if due && catalog.broadcast_runs(id).next().is_none() {
            let Some(run) = start(catalogs, &catalog, id, None, now, true).await? else {
                continue;
            };
            let entry = fired_entry(&run, now);
            store.append_journal(std::slice::from_ref(&entry)).await?;
            fired.journal.push(entry);
            fired.runs.push(run);
        }
    }
    let mut worked = 0;
    // Read again only when runs were just started (serve calls this every round).
    let catalog = match fired.runs.is_empty() {
        true => catalog,
        false => catalogs.catalog().await?,
    };
    let pending: Vec<BroadcastRun> = catalog
        .all_broadcast_runs()
        .filter(|r| !r.fanned_out && r.state != RunState::Paused)
        .cloned()
        .collect();
    for mut run in pending {
        while worked < pages && !run.fanned_out {
            run = fan_out_page(catalogs, &catalog, store, queue, run, now).await?;
            worked += 1;
        }
    }
    Ok((worked, fired))
}

/// One page of a run's fan-out: the members among the next [`PAGE`] contacts are queued
/// (the audience evaluated on each contact as it is now, at the firing's time), then the
/// run's position is stored.
pub async fn fan_out_page<C: CatalogStore, S: ContactStore, Q: WorkQueue>(
    catalogs: &C,
    catalog: &Catalog,
    store: &S,
    queue: &Q,
    mut run: BroadcastRun,
    now: DateTime<Utc>,
) -> Result<BroadcastRun, PortError> {
    let definition = catalog.definitions().broadcasts.get(&run.broadcast);
    let Some(definition) = definition.filter(|_| run.state != RunState::Cancelled) else {
        // Cancelled, or no longer defined: nobody more is offered it.
        run.fanned_out = true;
        catalogs.put_broadcast_run(&run, false).await?;
        return Ok(run);
    };
    let (ids, next) = store.contact_ids_after(run.cursor.as_deref(), PAGE).await?;
    let mut items = Vec::new();
    for id in &ids {
        let Some(state) = store.load(id).await? else {
            continue;
        };
        // A merged profile's contact is offered under its own id.
        if state.merged_into.is_some() {
            continue;
        }
        let scope = Scope {
            state: &state,
            definitions: catalog.definitions(),
            now: run.fired_at,
            run: None,
        };
        if !scope.holds(&definition.audience) {
            continue;
        }
        let not_before = run.fired_at + slot(definition, run.members);
        run.members += 1;
        items.push(WorkItem {
            contact: id.clone(),
            input: Input::Broadcast {
                broadcast: run.broadcast.clone(),
                number: run.number,
                not_before,
            },
            // A page offered again after a crash is the same input (its fingerprint is the
            // run and the contact), which the contact applies once.
            at: now,
        });
    }
    queue.push_all(items).await?;
    crate::failpoint::hit("broadcast.after_page")?;
    run.fanned_out = next.is_none();
    run.cursor = next;
    // The progress is ours to store, the state is not: a pause or cancel since this
    // page began stands.
    let current = catalogs.catalog().await?;
    if let Some(current) = current.broadcast_run(&run.broadcast, run.number) {
        run.state = current.state;
    }
    catalogs.put_broadcast_run(&run, false).await?;
    Ok(run)
}

/// How long after the firing the `slot`-th member's message may go: the throttle spreads
/// members evenly over each minute.
fn slot(definition: &Broadcast, slot: u64) -> Duration {
    match definition.throttle {
        Some(t) if t.per_minute > 0 => {
            Duration::milliseconds((slot as i64).saturating_mul(60_000) / i64::from(t.per_minute))
        }
        _ => Duration::zero(),
    }
}

/// What `POST /v1/broadcasts/{id}/{action}` asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Cancel,
}

/// Why a control did nothing.
#[derive(Debug, PartialEq)]
pub enum ControlError {
    /// No broadcast of that id.
    Unknown,
    /// No run it applies to (nothing running to pause, nothing paused to resume …).
    NothingToDo,
    Port(PortError),
}

impl From<PortError> for ControlError {
    fn from(e: PortError) -> ControlError {
        ControlError::Port(e)
    }
}

/// Pauses, resumes or cancels a broadcast's runs that it applies to; returns them.
pub async fn control<C: CatalogStore>(
    catalogs: &C,
    id: &str,
    action: Control,
) -> Result<Vec<BroadcastRun>, ControlError> {
    let catalog = catalogs.catalog().await?;
    if !catalog.definitions().broadcasts.contains_key(id)
        && catalog.broadcast_runs(id).next().is_none()
    {
        return Err(ControlError::Unknown);
    }
    let mut changed = Vec::new();
    for run in catalog.broadcast_runs(id) {
        let state = match (action, run.state) {
            (Control::Pause, RunState::Running) => RunState::Paused,
            (Control::Resume, RunState::Paused) => RunState::Running,
            (Control::Cancel, RunState::Running | RunState::Paused) => RunState::Cancelled,
            _ => continue,
        };
        let run = BroadcastRun {
            state,
            ..run.clone()
        };
        catalogs.put_broadcast_run(&run, false).await?;
        changed.push(run);
    }
    if changed.is_empty() {
        return Err(ControlError::NothingToDo);
    }
    Ok(changed)
}

/// A run as `GET /v1/broadcasts/{id}` shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RunStatus {
    /// `price-drop:3`.
    pub run: String,
    /// `running`, `paused` or `cancelled`.
    pub state: String,
    /// Whether every contact has been offered it.
    pub fanned_out: bool,
    #[schemars(with = "String")]
    pub fired_at: DateTime<Utc>,
    /// The business event's props, when one fired it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Value>,
    /// Members of the audience found so far (all of them once `fanned_out`).
    pub audience: u64,
    /// Members whose message has not gone out (or been suppressed) yet.
    pub queued: u64,
    pub sent: u64,
    /// Suppressed messages by reason (`unsubscribed`, `frequency_cap`, …).
    pub suppressed: BTreeMap<String, u64>,
    pub delivered: u64,
    pub opened: u64,
    pub clicked: u64,
}

/// Every run of a broadcast with its counts, from the journal entries naming it.
pub async fn status<S: ContactStore>(
    catalog: &Catalog,
    store: &S,
    id: &str,
) -> Result<Vec<RunStatus>, PortError> {
    let entries = store.workflow_journal(&journal_index(id)).await?;
    let mut runs: Vec<RunStatus> = catalog
        .broadcast_runs(id)
        .map(|r| RunStatus {
            run: r.id(),
            state: match r.state {
                RunState::Running => "running",
                RunState::Paused => "paused",
                RunState::Cancelled => "cancelled",
            }
            .into(),
            fanned_out: r.fanned_out,
            fired_at: r.fired_at,
            event: r.event.as_ref().map(|e| Value::Object(e.props.clone())),
            audience: r.members,
            ..RunStatus::default()
        })
        .collect();
    for counts in crate::report::broadcasts(&entries) {
        if let Some(status) = runs.iter_mut().find(|r| r.run == counts.run) {
            status.sent = counts.sent;
            status.suppressed = counts.suppressed;
            status.delivered = counts.delivered;
            status.opened = counts.opened;
            status.clicked = counts.clicked;
        }
    }
    for status in &mut runs {
        let done = status.sent + status.suppressed.values().sum::<u64>();
        status.queued = status.audience.saturating_sub(done);
    }
    Ok(runs)
}
