//! The engine: pure and deterministic. `process(catalog, state, input, now)` moves one
//! contact's partition forward and returns the journal entries and effects. No I/O, no
//! clock, no randomness except seeded by (contact, run, step).
//!
//! - `changes`: applies an input to the contact (events, tags, lists, fields, scoring, consent).
//! - `enroll`: triggers, reentry and keys, segment entry, date triggers, `enroll_existing`.
//! - `runner`: walks a run through its steps; waits, goals, `exit_when`, timers.
//! - `eval`: condition evaluation; `evidence`: the same with its reasons, for traces.
//! - `merge`: one profile merged into another (identify, alias, a shared email).
//! - `broadcast`: a broadcast run's message (or workflow start) for one member.
//! - `audiences`: membership changes of synced ad audiences, posted once each.

pub mod audiences;
mod broadcast;
mod changes;
mod enroll;
pub mod eval;
pub mod evidence;
mod merge;
mod runner;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::Catalog;
use crate::model::contact::ContactState;
use crate::model::effect::{Effect, Timer};
use crate::model::event::Event;
use crate::model::journal::{JournalEntry, Kind};
use crate::ports::WorkItem;

/// Bounds the steps one input may cause (a safety net under the no-wait-loop validation).
const STEP_BUDGET: u32 = 10_000;
/// Bounds how often changes may cascade (a tag starts a workflow that sets a tag …).
const MAX_ROUNDS: u32 = 32;

/// What happened to a contact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// A custom or built-in event (`email_opened`, `unsubscribed`, …).
    Event(Event),
    Tags {
        #[serde(default)]
        add: Vec<String>,
        #[serde(default)]
        remove: Vec<String>,
    },
    Lists {
        #[serde(default)]
        join: Vec<String>,
        #[serde(default)]
        leave: Vec<String>,
    },
    /// Creates or updates the contact's profile.
    Identify(Profile),
    /// A wake-up the engine asked for earlier.
    Timer(Timer),
    /// A workflow was activated with `enroll_existing`: enroll this contact if it qualifies.
    EnrollExisting { workflow: String },
    /// Enroll the contact in a workflow now (API or operator), subject to reentry.
    Start { workflow: String },
    /// Re-derive date-trigger timers and segment membership (after a deploy).
    Refresh,
    /// Merge this profile into the contact `into`: hand everything over to it and keep
    /// only the way there (an alias, an identify naming both ids, a shared email).
    MergeInto {
        into: String,
        /// Merge only a profile that exists and is not a known contact (no email, no
        /// phone): what a write key may ask (see `identity::merge`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        only_anonymous: bool,
    },
    /// The contact is in the audience of a broadcast run (the fan-out found it a member
    /// at the firing): its message, not before `not_before` (the throttle's slot), or its
    /// workflow start.
    Broadcast {
        broadcast: String,
        number: u32,
        not_before: DateTime<Utc>,
    },
    /// Calls to make for a contact being deleted (its removals from synced ad audiences):
    /// handed to dispatch as they are, whether the contact is still there or not.
    Farewell {
        calls: Vec<crate::model::effect::WebhookCall>,
    },
    /// Take in a profile merged into this contact: its state as it stood at the merge.
    /// `hops` counts how often it was passed on along merged profiles (a bound on cycles).
    Absorb {
        from: Box<ContactState>,
        #[serde(default)]
        hops: u8,
    },
}

/// Profile data: any field left out stays as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<chrono_tz::Tz>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Value>,
}

/// What the engine decided.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Output {
    pub journal: Vec<JournalEntry>,
    pub effects: Vec<Effect>,
    /// Work for other contacts (a merge's hand-over).
    pub work: Vec<WorkItem>,
}

/// A data change that triggers may react to and goals must be checked after.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Change {
    Event(Event),
    TagAdded(String),
    TagRemoved(String),
    ListJoined(String),
    ListLeft(String),
    FieldChanged(String, Value),
    Score,
    /// Time passed (a timer fired) or a run started from outside: nothing to trigger on,
    /// but every run re-checks its goals, `exit_when` and condition waits.
    Tick,
}

/// Work to do for another workflow once the current run is back in place.
#[derive(Clone, Debug)]
pub(crate) enum Command {
    Start {
        workflow: String,
        trigger: Option<Event>,
    },
    Stop {
        workflow: String,
    },
}

/// Processes one input for one contact. Deterministic: the same catalog, state, input and
/// `now` always give the same new state and output.
pub fn process(
    catalog: &Catalog,
    state: &mut ContactState,
    input: Input,
    now: DateTime<Utc>,
) -> Output {
    let mut out = Output::default();
    let mut cx = Cx {
        catalog,
        state,
        now,
        out: &mut out,
        changes: Vec::new(),
        commands: Vec::new(),
        budget: STEP_BUDGET,
    };
    let input = match input {
        Input::MergeInto { into, .. } => {
            // The profile leaves as it is: nothing of it is settled here any more.
            cx.merge_into(&into);
            return out;
        }
        input => input,
    };
    cx.migrate_runs();
    cx.expire_scores();
    cx.track_new_segments();
    match input {
        Input::Event(event) => cx.record_event(event),
        Input::Tags { add, remove } => cx.change_tags(&add, &remove, None),
        Input::Lists { join, leave } => cx.change_lists(&join, &leave, None),
        Input::Identify(profile) => cx.identify(profile),
        Input::Timer(timer) => cx.on_timer(timer),
        Input::EnrollExisting { workflow } => cx.enroll_by_id(&workflow, None, true),
        Input::Start { workflow } => cx.enroll_by_id(&workflow, None, false),
        Input::Refresh => {}
        Input::Absorb { from, .. } => cx.absorb(*from),
        Input::Broadcast {
            broadcast,
            number,
            not_before,
        } => cx.receive_broadcast(&broadcast, number, not_before),
        Input::MergeInto { .. } | Input::Farewell { .. } => {}
    }
    if cx.changes.is_empty() {
        cx.changes.push(Change::Tick);
    }
    cx.settle();
    out
}

/// The engine's working context for one input.
pub(crate) struct Cx<'a> {
    catalog: &'a Catalog,
    state: &'a mut ContactState,
    now: DateTime<Utc>,
    out: &'a mut Output,
    changes: Vec<Change>,
    commands: Vec<Command>,
    budget: u32,
}

impl Cx<'_> {
    /// Conditions about the contact alone (segments, entry filters), at now.
    fn contact_scope(&self) -> eval::Scope<'_> {
        eval::Scope {
            state: self.state,
            definitions: self.catalog.definitions(),
            now: self.now,
            run: None,
        }
    }

    fn journal(&mut self, kind: Kind) -> &mut JournalEntry {
        self.out
            .journal
            .push(JournalEntry::new(self.now, &self.state.contact.id, kind));
        let last = self.out.journal.len() - 1;
        &mut self.out.journal[last]
    }

    /// Lets changes ripple: triggers, segment entry, then every run's exit, goal and wait
    /// checks, until nothing changes any more.
    fn settle(&mut self) {
        let mut rounds = 0;
        loop {
            self.run_commands();
            if self.changes.is_empty() {
                break;
            }
            if rounds >= MAX_ROUNDS {
                // Workflows that keep changing each other (a tag starts a workflow that sets
                // a tag that …): stopped, and said so — never dropped silently.
                let left = self.changes.len();
                self.journal(Kind::Warning).message = Some(format!(
                    "changes cascaded for {MAX_ROUNDS} rounds; the last {left} were not passed to triggers, segments and goals"
                ));
                break;
            }
            rounds += 1;
            let changes = std::mem::take(&mut self.changes);
            for change in &changes {
                self.fire_triggers(change);
                self.run_commands();
            }
            self.check_segments();
            self.check_runs();
        }
        self.sync_audiences();
        self.refresh_date_timers();
        self.refresh_segment_timers();
    }

    fn run_commands(&mut self) {
        while !self.commands.is_empty() {
            for command in std::mem::take(&mut self.commands) {
                match command {
                    Command::Start { workflow, trigger } => {
                        self.enroll_by_id(&workflow, trigger, false)
                    }
                    Command::Stop { workflow } => self.stop_workflow(&workflow),
                }
            }
        }
    }
}
