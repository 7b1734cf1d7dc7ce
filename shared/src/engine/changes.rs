//! Applying changes to the contact: events (with scoring rules and consent), tags, lists,
//! fields and scores. Each real change is journaled and queued for triggers and goals.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::engine::eval::where_matches;
use crate::engine::{Change, Cx, Profile};
use crate::model::effect::{Effect, Timer, TimerKind};
use crate::model::event::Event;
use crate::model::journal::Kind;
use crate::program::ScoreChange;

/// Which run step made a change, for the journal.
#[derive(Clone, Copy)]
pub(crate) struct Origin<'a> {
    pub workflow: &'a str,
    pub step: &'a str,
    pub run: &'a str,
}

impl Cx<'_> {
    fn journal_change(
        &mut self,
        kind: Kind,
        origin: Option<Origin<'_>>,
    ) -> &mut crate::model::journal::JournalEntry {
        let entry = self.journal(kind);
        if let Some(o) = origin {
            entry.workflow = Some(o.workflow.to_string());
            entry.step = Some(o.step.to_string());
            entry.run = Some(o.run.to_string());
        }
        entry
    }

    pub(crate) fn record_event(&mut self, event: Event) {
        self.state.history.record(&event);
        if event.name == "email_sent" {
            // "The most recent email sent to the contact", for opens and clicks that name it.
            let prop = |k: &str| {
                event
                    .props
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            self.state.last_email = Some(crate::model::contact::SentRef {
                message: prop("message"),
                run: prop("run"),
                workflow: prop("workflow"),
                step: prop("step"),
                template: prop("template"),
            });
        }
        self.journal_feedback(&event);
        self.apply_consent(&event);
        self.apply_scoring(&event);
        self.changes.push(Change::Event(event));
    }

    /// Delivery feedback that names the message it is about becomes a journal entry on that
    /// message's step, so reports count delivered, opened and clicked per step — when the
    /// workflow (or broadcast) it names is deployed: an event posted with made-up tags is
    /// history, not a journal entry under a name no report or deletion looks for.
    fn journal_feedback(&mut self, event: &Event) {
        let contact = self.state.contact.id.clone();
        let entry = crate::model::journal::feedback_entry(event, &contact, self.now).filter(|e| {
            e.index_name()
                .is_none_or(|i| self.catalog.knows_journal_index(&i))
        });
        if let Some(entry) = entry {
            self.out.journal.push(entry);
        }
    }

    fn apply_consent(&mut self, event: &Event) {
        if event.name == "unsubscribed" {
            // From one list: leave it. From all marketing (or unnamed): stop marketing.
            match event.props.get("list").and_then(Value::as_str) {
                Some(list) if list != crate::unsubscribe::ALL_MARKETING => {
                    self.change_lists(&[], &[list.to_string()], None)
                }
                _ => self.state.contact.consent.unsubscribed = true,
            }
            return;
        }
        let consent = &mut self.state.contact.consent;
        match event.name.as_str() {
            "email_complained" => consent.complained = true,
            "email_bounced" => {
                let kind = event
                    .props
                    .get("bounce")
                    .or_else(|| event.props.get("bounce_type"))
                    .and_then(Value::as_str);
                if matches!(kind, None | Some("hard" | "Permanent" | "permanent")) {
                    consent.bounced = true;
                }
            }
            _ => {}
        }
    }

    fn apply_scoring(&mut self, event: &Event) {
        let catalog = self.catalog;
        let mut changed: BTreeMap<String, ()> = BTreeMap::new();
        for rule in catalog
            .definitions()
            .scoring
            .iter()
            .filter(|r| r.event == event.name)
        {
            if !where_matches(&rule.where_, &event.props, self.now) {
                continue;
            }
            let name = rule.score.clone().unwrap_or_else(|| "lead".into());
            let score = self.state.contact.scores.entry(name.clone()).or_default();
            match rule.expires {
                None => score.base += rule.points,
                Some(d) => {
                    let until = event.at + d.to_chrono();
                    if until <= self.now {
                        continue;
                    }
                    score.expiring.push((until, rule.points));
                    // The expiry is an event of its own: journaled at its instant.
                    let contact = self.state.contact.id.clone();
                    let kind = TimerKind::Score { name: name.clone() };
                    self.out.effects.push(Effect::Timer(Timer {
                        contact,
                        due: until,
                        kind,
                    }));
                }
            }
            changed.insert(name, ());
        }
        for name in changed.into_keys() {
            let value = self.state.contact.score(&name, self.now);
            let entry = self.journal(Kind::ScoreChanged);
            entry.name = Some(name);
            entry.score = Some(value);
            entry.reason = Some(format!("event {}", event.name));
            self.changes.push(Change::Score);
        }
    }

    pub(crate) fn change_tags(
        &mut self,
        add: &[String],
        remove: &[String],
        origin: Option<Origin<'_>>,
    ) {
        for tag in add {
            if self.state.contact.tags.insert(tag.clone()) {
                self.journal_change(Kind::TagAdded, origin).tag = Some(tag.clone());
                self.changes.push(Change::TagAdded(tag.clone()));
            }
        }
        for tag in remove {
            if self.state.contact.tags.remove(tag) {
                self.journal_change(Kind::TagRemoved, origin).tag = Some(tag.clone());
                self.changes.push(Change::TagRemoved(tag.clone()));
            }
        }
    }

    pub(crate) fn change_lists(
        &mut self,
        join: &[String],
        leave: &[String],
        origin: Option<Origin<'_>>,
    ) {
        for list in join {
            if self.state.contact.lists.insert(list.clone()) {
                self.journal_change(Kind::ListJoined, origin).list = Some(list.clone());
                self.changes.push(Change::ListJoined(list.clone()));
            }
        }
        for list in leave {
            if self.state.contact.lists.remove(list) {
                self.journal_change(Kind::ListLeft, origin).list = Some(list.clone());
                self.changes.push(Change::ListLeft(list.clone()));
            }
        }
    }

    pub(crate) fn set_fields(
        &mut self,
        fields: &BTreeMap<String, Value>,
        origin: Option<Origin<'_>>,
    ) {
        for (name, value) in fields {
            let changed = match name.as_str() {
                "email" => replace(
                    &mut self.state.contact.email,
                    value.as_str().map(str::to_string),
                ),
                "phone" => replace(
                    &mut self.state.contact.phone,
                    value.as_str().map(str::to_string),
                ),
                _ if value.is_null() => self.state.contact.fields.remove(name).is_some(),
                _ => {
                    self.state
                        .contact
                        .fields
                        .insert(name.clone(), value.clone())
                        .as_ref()
                        != Some(value)
                }
            };
            if changed {
                let entry = self.journal_change(Kind::FieldSet, origin);
                entry.field = Some(name.clone());
                entry.value = Some(value.clone());
                self.changes
                    .push(Change::FieldChanged(name.clone(), value.clone()));
            }
        }
    }

    pub(crate) fn identify(&mut self, profile: Profile) {
        if let Some(tz) = profile.timezone {
            self.state.contact.timezone = tz;
        }
        let mut fields = profile.fields;
        if let Some(email) = profile.email {
            fields.insert("email".into(), Value::String(email));
        }
        if let Some(phone) = profile.phone {
            fields.insert("phone".into(), Value::String(phone));
        }
        self.set_fields(&fields, None);
    }

    /// Points that have expired by now leave their scores, each score's new value is
    /// journaled (`reason: expired`) and is a change triggers, goals and segments see. Run
    /// first for every input, so the expiry is journaled even when another input comes
    /// before its timer (the timer then finds nothing left to do).
    pub(crate) fn expire_scores(&mut self) {
        let now = self.now;
        let expired: Vec<String> = self
            .state
            .contact
            .scores
            .iter()
            .filter(|(_, s)| s.expiring.iter().any(|(until, _)| *until <= now))
            .map(|(name, _)| name.clone())
            .collect();
        for name in expired {
            if let Some(score) = self.state.contact.scores.get_mut(&name) {
                score.prune(now);
            }
            let value = self.state.contact.score(&name, now);
            let entry = self.journal(Kind::ScoreChanged);
            entry.name = Some(name);
            entry.score = Some(value);
            entry.reason = Some("expired".into());
            self.changes.push(Change::Score);
        }
    }

    pub(crate) fn change_score(&mut self, name: &str, change: ScoreChange, origin: Origin<'_>) {
        let score = self
            .state
            .contact
            .scores
            .entry(name.to_string())
            .or_default();
        match change {
            ScoreChange::Add(points) => score.base += points,
            ScoreChange::Set(value) => {
                score.base = value;
                score.expiring.clear();
            }
        }
        let value = self.state.contact.score(name, self.now);
        let entry = self.journal_change(Kind::ScoreChanged, Some(origin));
        entry.name = Some(name.to_string());
        entry.score = Some(value);
        self.changes.push(Change::Score);
    }
}

fn replace(slot: &mut Option<String>, value: Option<String>) -> bool {
    let changed = *slot != value;
    *slot = value;
    changed
}
