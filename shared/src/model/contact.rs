//! The contact and its partition: everything the engine needs to decide for one contact,
//! loaded and saved as one unit (one DynamoDB Query, one embedded-store record).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::effect::{Effect, Timer, TimerKind};
use crate::model::history::EventHistory;
use crate::model::journal::JournalEntry;
use crate::model::run::Run;
use crate::ports::WorkItem;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default = "utc")]
    pub timezone: Tz,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub lists: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scores: BTreeMap<String, Score>,
    #[serde(default)]
    pub consent: Consent,
    #[serde(with = "crate::model::timestamp")]
    pub created_at: DateTime<Utc>,
}

fn utc() -> Tz {
    Tz::UTC
}

/// Why marketing (or any) messages must not reach this contact.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unsubscribed: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bounced: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub complained: bool,
}

/// A score: permanent points plus points that expire (scoring rules with `expires`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    pub base: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expiring: Vec<(DateTime<Utc>, i64)>,
}

impl Score {
    pub fn value_at(&self, now: DateTime<Utc>) -> i64 {
        self.base
            + self
                .expiring
                .iter()
                .filter(|(until, _)| *until > now)
                .map(|(_, p)| p)
                .sum::<i64>()
    }

    /// Drops expired points so the record does not grow.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        self.expiring.retain(|(until, _)| *until > now);
    }
}

impl Contact {
    pub fn new(id: impl Into<String>, created_at: DateTime<Utc>) -> Contact {
        Contact {
            id: id.into(),
            email: None,
            phone: None,
            timezone: Tz::UTC,
            fields: BTreeMap::new(),
            tags: BTreeSet::new(),
            lists: BTreeSet::new(),
            scores: BTreeMap::new(),
            consent: Consent::default(),
            created_at,
        }
    }

    pub fn score(&self, name: &str, now: DateTime<Utc>) -> i64 {
        self.scores.get(name).map_or(0, |s| s.value_at(now))
    }
}

/// The last email sent to the contact, so "opened the last email" can name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRef {
    pub message: String,
    #[serde(default)]
    pub run: String,
    pub workflow: String,
    pub step: String,
    pub template: String,
}

/// How many recently processed work items a partition remembers: enough to recognise a
/// redelivery or retry, which come minutes later, not hundreds of inputs later.
const HANDLED_KEPT: usize = 32;
/// Ended runs remembered for held messages: more than a contact has messages held at once.
pub const ENDED_KEPT: usize = 16;

/// What processing an input left to hand on — journal entries and effects — committed with
/// the state, so that a crash between the save and the hand-on loses nothing: whoever loads
/// the partition next hands it on again (each hand-on is idempotent) — unless the store
/// can tell it went (`ContactStore::journal_stored`) — and replaces or clears it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Outbox {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub journal: Vec<JournalEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<Effect>,
    /// Work for other contacts: a merged profile handed over to the one it merged into.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub work: Vec<WorkItem>,
}

impl Outbox {
    pub fn is_empty(&self) -> bool {
        self.journal.is_empty() && self.effects.is_empty() && self.work.is_empty()
    }
}

/// One contact's partition: the contact, its event history, its active runs and the
/// bookkeeping for reentry, segment entry and date triggers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactState {
    pub contact: Contact,
    #[serde(default)]
    pub history: EventHistory,
    /// Active runs by sequence number (finished runs leave; their count stays in `enrollments`).
    #[serde(default)]
    pub runs: BTreeMap<u64, Run>,
    /// How the latest runs left (the last [`ENDED_KEPT`], newest last): a message held for
    /// quiet hours is judged by its run's fate at release.
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub ended_runs: VecDeque<EndedRun>,
    /// How many runs each workflow has started for this contact.
    #[serde(default)]
    pub enrollments: BTreeMap<String, u32>,
    /// Named segments the contact matched when last checked (for `segment_entered`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub segments: BTreeSet<String>,
    /// Named segments whose membership is tracked for this contact. A segment a newly
    /// deployed `segment_entered` workflow names is recorded as it stood before the next
    /// input, so a contact who was already a member does not count as entering it (that is
    /// `enroll_existing`'s job); membership that starts from then on does.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tracked_segments: BTreeSet<String>,
    /// The broadcast runs that reached the contact lately (`price-drop:3`; the last
    /// [`BROADCASTS_KEPT`]): a run reaches it once, however often its page is offered.
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub broadcasts: VecDeque<String>,
    /// The synced ad audiences (`audiences:`) the contact was last pushed into, with the
    /// hashed identifiers pushed (what a removal or an address change takes back).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub audiences: BTreeMap<String, crate::hashed::HashedIds>,
    /// Audience changes pushed so far: each change's key counts on from it.
    #[serde(default, skip_serializing_if = "crate::model::contact::no_changes")]
    pub audience_changes: u64,
    /// The pending re-check of each watched segment whose membership time alone will
    /// change, by segment name.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        with = "crate::model::timestamp::by_name"
    )]
    pub segment_timers: BTreeMap<String, DateTime<Utc>>,
    /// Next firing of each date trigger, by `workflow#trigger-index`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        with = "crate::model::timestamp::by_name"
    )]
    pub date_timers: BTreeMap<String, DateTime<Utc>>,
    /// When each date trigger last fired; the next firing comes strictly after it.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        with = "crate::model::timestamp::by_name"
    )]
    pub date_fired: BTreeMap<String, DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_email: Option<SentRef>,
    #[serde(default)]
    pub next_run: u64,
    /// Fingerprints of the latest work items processed (`WorkItem::fingerprint`), oldest
    /// first: numbers, so remembering them costs no allocation per save.
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub handled: VecDeque<u64>,
    /// Committed but not yet handed on (see `Outbox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox: Option<Outbox>,
    /// Set once this profile was merged into another (`identity`): the id its inputs go
    /// to from then on. A merged profile keeps nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    /// The profiles merged into this one, directly or through others: their ids lead here,
    /// and deleting this contact deletes them.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub aliases: BTreeSet<String>,
    /// Bumped by the store on every save; writes are conditional on it.
    #[serde(default)]
    pub version: u64,
    /// Set by whoever creates this state after reading that its id has no tombstone: the
    /// store's first save need not lift one (on DynamoDB a delete, billed even when there
    /// is nothing to delete). Never stored.
    #[serde(skip)]
    pub no_tombstone: bool,
}

impl ContactState {
    pub fn new(contact: Contact) -> ContactState {
        ContactState {
            contact,
            history: EventHistory::default(),
            runs: BTreeMap::new(),
            enrollments: BTreeMap::new(),
            segments: BTreeSet::new(),
            tracked_segments: BTreeSet::new(),
            broadcasts: VecDeque::new(),
            audiences: BTreeMap::new(),
            audience_changes: 0,
            segment_timers: BTreeMap::new(),
            ended_runs: VecDeque::new(),
            date_timers: BTreeMap::new(),
            date_fired: BTreeMap::new(),
            last_email: None,
            next_run: 1,
            handled: VecDeque::new(),
            outbox: None,
            merged_into: None,
            aliases: BTreeSet::new(),
            version: 0,
            no_tombstone: false,
        }
    }

    /// Whether a timer is still the one the partition waits for — the one rule the engine
    /// and the wake-up function both apply. Timers are never cancelled: a run that moved
    /// on, a wait that was re-armed, a date that changed all leave stale timers behind,
    /// which find nothing to do.
    pub fn timer_is_live(&self, timer: &Timer) -> bool {
        match &timer.kind {
            TimerKind::Run { run, wait } => self
                .runs
                .get(run)
                .and_then(|r| r.waiting.as_ref())
                .is_some_and(|w| {
                    w.seq == *wait && (w.until == Some(timer.due) || w.recheck == Some(timer.due))
                }),
            TimerKind::Date { workflow, trigger } => {
                self.date_timers.get(&date_slot(workflow, *trigger)) == Some(&timer.due)
            }
            TimerKind::Segment { name } => self.segment_timers.get(name) == Some(&timer.due),
            TimerKind::Score { name } => self
                .contact
                .scores
                .get(name)
                .is_some_and(|s| s.expiring.iter().any(|(until, _)| *until == timer.due)),
        }
    }

    /// The run a message of `contact`'s run `run` belongs to here: active, or how it
    /// ended. `contact` is this contact, or a profile merged into it (whose runs carry
    /// their old ids as [`Run::was`]).
    pub fn run_of(&self, contact: &str, run: &str) -> (Option<&Run>, Option<&EndedRun>) {
        if contact == self.contact.id {
            let active = self.runs.values().find(|r| r.id() == run);
            let ended = self.ended_runs.iter().rev().find(|e| e.run == run);
            return (active, ended);
        }
        let id = crate::model::run::merged_run_id(run, contact);
        let active = self
            .runs
            .values()
            .find(|r| r.was.as_deref() == Some(id.as_str()));
        let ended = self.ended_runs.iter().rev().find(|e| e.run == id);
        (active, ended)
    }

    /// Remembers a processed work item; the oldest is forgotten past `HANDLED_KEPT`.
    pub fn remember_handled(&mut self, key: u64) {
        self.handled.push_back(key);
        while self.handled.len() > HANDLED_KEPT {
            self.handled.pop_front();
        }
    }
}

/// The key of a date trigger's pending timer in [`ContactState::date_timers`].
pub fn date_slot(workflow: &str, trigger: usize) -> String {
    format!("{workflow}#{trigger}")
}

/// A run that has left, as far as a held message of it needs to know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedRun {
    /// The run's id (`Run::id`).
    pub run: String,
    /// Ended before it finished its steps (`exit_when`, a stop, `otherwise: end`, an `end`
    /// step, the step limit), rather than walking off its last step.
    pub early: bool,
    /// Goals it had achieved when it left.
    pub goals: u32,
}

/// Serde: leave a zero count out.
pub(crate) fn no_changes(n: &u64) -> bool {
    *n == 0
}

/// How many broadcast runs a contact remembers having received.
pub const BROADCASTS_KEPT: usize = 64;
