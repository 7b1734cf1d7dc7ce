//! Enrollment: which workflows a change starts, under which reentry rule and key; segment
//! entry; date triggers in the contact's timezone; `start` / `stop` of other workflows.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc};
use serde_json::Value;

use crate::calendar::{anniversary, field_date, resolve_local};
use crate::engine::eval::{loose_eq, where_matches};
use crate::engine::evidence::where_evidence;
use crate::engine::{Change, Cx};
use crate::language::workflow::Reentry;
use crate::model::contact::{date_slot, Contact};
use crate::model::effect::{Effect, Timer, TimerKind};
use crate::model::event::Event;
use crate::model::journal::Kind;
use crate::model::reason::ExitReason;
use crate::model::run::Run;
use crate::model::trace::{show, Trace};
use crate::program::{DateRule, Trigger, Workflow};

impl Change {
    /// The event a run started by this change sees as `{{ event.* }}`.
    fn as_event(&self, at: DateTime<Utc>) -> Option<Event> {
        Some(match self {
            Change::Event(e) => e.clone(),
            Change::TagAdded(t) => Event::new("tag_added", at).with("tag", t.as_str()),
            Change::TagRemoved(t) => Event::new("tag_removed", at).with("tag", t.as_str()),
            Change::ListJoined(l) => Event::new("list_joined", at).with("list", l.as_str()),
            Change::ListLeft(l) => Event::new("list_left", at).with("list", l.as_str()),
            Change::FieldChanged(f, v) => Event::new("field_changed", at)
                .with("field", f.as_str())
                .with("value", v.clone()),
            Change::Score | Change::Tick => return None,
        })
    }
}

fn trigger_matches(trigger: &Trigger, change: &Change, now: DateTime<Utc>) -> bool {
    match (trigger, change) {
        (Trigger::Event { name, where_ }, Change::Event(e)) => {
            *name == e.name && where_matches(where_, &e.props, now)
        }
        (Trigger::TagAdded(t), Change::TagAdded(c))
        | (Trigger::TagRemoved(t), Change::TagRemoved(c))
        | (Trigger::ListJoined(t), Change::ListJoined(c))
        | (Trigger::ListLeft(t), Change::ListLeft(c)) => t == c,
        (Trigger::FieldChanged { field, to }, Change::FieldChanged(name, value)) => {
            field == name && to.as_ref().is_none_or(|to| loose_eq(to, value))
        }
        _ => false,
    }
}

impl Cx<'_> {
    pub(crate) fn fire_triggers(&mut self, change: &Change) {
        let catalog = self.catalog;
        for wf in catalog.latest_all() {
            let matched = wf
                .triggers
                .iter()
                .find(|t| trigger_matches(t, change, self.now));
            if let Some(matched) = matched {
                self.enroll(wf, change.as_event(self.now), Some(matched));
            }
        }
    }

    pub(crate) fn enroll_by_id(&mut self, workflow: &str, trigger: Option<Event>, existing: bool) {
        let catalog = self.catalog;
        if let Some(wf) = catalog.latest(workflow) {
            if existing && !wf.enroll_existing {
                return;
            }
            self.enroll(wf, trigger, None);
        }
    }

    /// Starts a run if the workflow is enabled, its reentry rule and key allow it, and the
    /// contact matches its entry segment.
    /// `matched`: the trigger that fired (its property filter is part of why it entered).
    fn enroll(&mut self, wf: &Arc<Workflow>, trigger: Option<Event>, matched: Option<&Trigger>) {
        if !wf.enabled {
            return;
        }
        let key = match (&wf.key, &trigger) {
            (Some(property), Some(event)) => event.props.get(property).cloned(),
            _ => None,
        };
        let allowed = match wf.reentry {
            Reentry::Once => self.state.enrollments.get(&wf.id).copied().unwrap_or(0) == 0,
            _ => self.fits_beside_active(wf, key.as_ref()),
        };
        if !allowed {
            let trace = self.reentry_evidence(wf, key.as_ref());
            self.refuse(wf, "reentry", trace);
            return;
        }
        let segment = wf
            .segment
            .as_ref()
            .map(|s| self.contact_scope().evidence(s));
        if let Some(segment) = segment.as_ref().filter(|t| !t.holds) {
            self.refuse(wf, "segment", segment.clone());
            return;
        }
        let seq = self.state.next_run.max(1);
        self.state.next_run = seq + 1;
        *self.state.enrollments.entry(wf.id.clone()).or_default() += 1;
        let run = Run {
            seq,
            workflow: wf.id.clone(),
            version: wf.version,
            key,
            trigger,
            started_at: self.now,
            at: 0,
            step_started_at: self.now,
            waiting: None,
            achieved: Vec::new(),
            visits: 0,
            was: None,
        };
        let entry = self.journal(Kind::Entered);
        entry.workflow = Some(wf.id.clone());
        entry.run = Some(run.id());
        entry.version = Some(wf.version);
        if let Some(reason) = run.trigger.as_ref().map(|e| e.name.clone()) {
            entry.reason = Some(reason);
        }
        // Why it entered: the trigger's property filter and the entry segment, as found.
        let filter = match (matched, run.trigger.as_ref()) {
            (Some(Trigger::Event { where_, .. }), Some(event)) if !where_.is_empty() => {
                Some(where_evidence(where_, &event.props, self.now))
            }
            _ => None,
        };
        let of: Vec<Trace> = filter.into_iter().chain(segment).collect();
        if !of.is_empty() {
            self.attach(Trace::all(of));
        }
        self.start_run(wf, run);
    }

    /// Whether the reentry rule lets a run (with entry key `key`) be active beside the
    /// contact's active runs of `wf`: always when there are none; beside others only when
    /// runs are concurrent and, with `entry.key`, none has the same key.
    pub(crate) fn fits_beside_active(&self, wf: &Workflow, key: Option<&Value>) -> bool {
        let mut active = self.state.runs.values().filter(|r| r.workflow == wf.id);
        match wf.reentry {
            Reentry::Once | Reentry::AfterExit => active.next().is_none(),
            Reentry::Concurrent => {
                wf.key.is_none()
                    || !active.any(|r| r.key.as_ref().zip(key).is_some_and(|(a, b)| loose_eq(a, b)))
            }
        }
    }

    /// A trigger fired and the contact did not enter: journaled with the evidence.
    fn refuse(&mut self, wf: &Workflow, reason: &str, trace: Trace) {
        let entry = self.journal(Kind::EntryRefused);
        entry.workflow = Some(wf.id.clone());
        entry.reason = Some(reason.into());
        self.attach(trace);
    }

    /// Why the reentry rule refused a run: the rule and what stood in its way.
    fn reentry_evidence(&self, wf: &Workflow, key: Option<&Value>) -> Trace {
        let active: Vec<String> = self
            .state
            .runs
            .values()
            .filter(|r| r.workflow == wf.id)
            .map(|r| r.id())
            .collect();
        let (test, observed) = match wf.reentry {
            Reentry::Once => (
                "reentry once: never entered before".to_string(),
                Value::from(self.state.enrollments.get(&wf.id).copied().unwrap_or(0)),
            ),
            Reentry::AfterExit => ("reentry after_exit: no run active".into(), active.into()),
            Reentry::Concurrent => (
                format!(
                    "reentry concurrent: no active run with key {}",
                    key.map_or("none".into(), show)
                ),
                active.into(),
            ),
        };
        Trace::leaf(test, Some(observed), false)
    }

    /// Ends every active run of `workflow` (a `stop` step).
    pub(crate) fn stop_workflow(&mut self, workflow: &str) {
        let seqs: Vec<u64> = self
            .state
            .runs
            .values()
            .filter(|r| r.workflow == workflow)
            .map(|r| r.seq)
            .collect();
        for seq in seqs {
            if let Some(run) = self.state.runs.remove(&seq) {
                self.exit(&run, ExitReason::Stopped);
            }
        }
    }

    /// Starts workflows whose `segment_entered` segment the contact now matches.
    /// Records the membership of segments this contact is not tracked for yet, as it is
    /// before the input: what was true already does not fire `segment_entered`. A contact
    /// that is new with this input (never stored, or stored but never through the
    /// pipeline: a simulated contact's introduction) was a member of nothing: whatever it
    /// matches after the input, it enters.
    pub(crate) fn track_new_segments(&mut self) {
        let catalog = self.catalog;
        // A segment no workflow watches any more is forgotten, so watching it again later
        // starts from its membership then, not from a stale one.
        let watched = catalog.watched_segments();
        self.state.tracked_segments.retain(|s| watched.contains(s));
        self.state.segments.retain(|s| watched.contains(s));
        self.state.segment_timers.retain(|s, _| watched.contains(s));
        if self.state.version == 0 || self.state.handled.is_empty() {
            self.state.tracked_segments = catalog.watched_segments().clone();
            return;
        }
        for (name, condition) in catalog.watched_segment_conditions() {
            if self.state.tracked_segments.contains(name) {
                continue;
            }
            let member = self.contact_scope().holds(condition);
            self.state.tracked_segments.insert(name.clone());
            if member {
                self.state.segments.insert(name.clone());
            }
        }
    }

    pub(crate) fn check_segments(&mut self) {
        let catalog = self.catalog;
        for (name, condition) in catalog.watched_segment_conditions() {
            let matches = self.contact_scope().holds(condition);
            let was = self.state.segments.contains(name);
            if matches == was {
                continue;
            }
            let kind = if matches {
                self.state.segments.insert(name.clone());
                "segment_entered"
            } else {
                self.state.segments.remove(name);
                "segment_left"
            };
            let trace = self.contact_scope().evidence(condition);
            let journaled = if matches {
                Kind::SegmentEntered
            } else {
                Kind::SegmentLeft
            };
            self.journal(journaled).name = Some(name.clone());
            self.attach(trace);
            let event = Event::new(kind, self.now).with("segment", name.as_str());
            for wf in catalog.latest_all() {
                let fires = wf.triggers.iter().any(|t| match t {
                    Trigger::SegmentEntered(s) => matches && s == name,
                    Trigger::SegmentLeft(s) => !matches && s == name,
                    _ => false,
                });
                if fires {
                    self.enroll(wf, Some(event.clone()), None);
                }
            }
        }
    }

    /// Keeps one pending timer per watched segment, at the next instant its answer can
    /// change by time alone (an inactivity threshold, an event leaving a window, points
    /// expiring) — the same mechanism as waits — so `segment_entered` and `segment_left`
    /// fire at that moment with no input.
    pub(crate) fn refresh_segment_timers(&mut self) {
        let catalog = self.catalog;
        for (name, condition) in catalog.watched_segment_conditions() {
            match self.contact_scope().next_change(condition) {
                Some(due) if self.state.segment_timers.get(name) != Some(&due) => {
                    self.state.segment_timers.insert(name.clone(), due);
                    let contact = self.state.contact.id.clone();
                    let kind = TimerKind::Segment { name: name.clone() };
                    self.out
                        .effects
                        .push(Effect::Timer(Timer { contact, due, kind }));
                }
                Some(_) => {}
                None => {
                    self.state.segment_timers.remove(name);
                }
            }
        }
    }

    /// Keeps one pending timer per date trigger, at its next firing from now on (and
    /// strictly after its last firing).
    pub(crate) fn refresh_date_timers(&mut self) {
        let catalog = self.catalog;
        for (wf, index, rule) in catalog.date_rules() {
            let slot = date_slot(&wf.id, *index);
            let after = match self.state.date_fired.get(&slot) {
                Some(fired) => self.now.max(*fired + Duration::seconds(1)),
                None => self.now,
            };
            let next = if wf.enabled {
                next_date_firing(rule, &self.state.contact, after)
            } else {
                None
            };
            match next {
                Some(due) if self.state.date_timers.get(&slot) != Some(&due) => {
                    self.state.date_timers.insert(slot, due);
                    let contact = self.state.contact.id.clone();
                    let kind = TimerKind::Date {
                        workflow: wf.id.clone(),
                        trigger: *index,
                    };
                    self.out
                        .effects
                        .push(Effect::Timer(Timer { contact, due, kind }));
                }
                Some(_) => {}
                None => {
                    self.state.date_timers.remove(&slot);
                }
            }
        }
    }

    /// A date trigger's timer fired: enroll if it is still the current one.
    pub(crate) fn on_date_timer(&mut self, workflow: &str, index: usize, due: DateTime<Utc>) {
        let slot = date_slot(workflow, index);
        if self.state.date_timers.get(&slot) != Some(&due) || due > self.now {
            return;
        }
        self.state.date_timers.remove(&slot);
        self.state.date_fired.insert(slot, due);
        let catalog = self.catalog;
        if let Some(wf) = catalog.latest(workflow) {
            if let Some(Trigger::Date(rule)) = wf.triggers.get(index) {
                let event = Event::new("date", self.now).with("field", rule.field.as_str());
                self.enroll(wf, Some(event), None);
            }
        }
    }
}

/// The next instant at or after `after` when `rule` fires for `contact`, in its timezone.
pub fn next_date_firing(
    rule: &DateRule,
    contact: &Contact,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let tz = contact.timezone;
    let value: &Value = contact.fields.get(&rule.field)?;
    let (date, own_time) = field_date(value, tz)?;
    let time = rule.at.or(own_time).unwrap_or(NaiveTime::MIN);
    let firing =
        |d: chrono::NaiveDate| resolve_local(tz, d.and_time(time) + rule.offset.to_chrono());
    if !rule.each_year {
        return Some(firing(date)).filter(|t| *t >= after);
    }
    let year = after.with_timezone(&tz).year();
    (year - 1..=year + 2)
        .map(|y| firing(anniversary(date, y)))
        .find(|t| *t >= after)
}
