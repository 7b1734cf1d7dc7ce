//! Merging profiles: an anonymous visitor who identifies, an `alias`, two profiles with one
//! email. The source hands its whole state over in one work item and keeps only the way to
//! the target; the target takes it in once — it remembers every alias — so a redelivered
//! or repeated merge, in any order, counts nothing twice.

use chrono_tz::Tz;

use crate::engine::{Change, Cx, Input};
use crate::model::contact::{Contact, ContactState, ENDED_KEPT};
use crate::model::effect::{Effect, Timer, TimerKind};
use crate::model::journal::Kind;
use crate::model::reason::ExitReason;
use crate::model::run::merged_run_id;
use crate::ports::WorkItem;

impl Cx<'_> {
    /// The source side: everything goes to `into` in one hand-over; what stays is the
    /// way there (and the fingerprints of what this profile has handled).
    pub(crate) fn merge_into(&mut self, into: &str) {
        let me = self.state.contact.id.clone();
        if into == me || self.state.merged_into.is_some() {
            return;
        }
        let mut kept = ContactState::new(Contact::new(me.clone(), self.state.contact.created_at));
        kept.merged_into = Some(into.to_string());
        kept.handled = std::mem::take(&mut self.state.handled);
        kept.version = self.state.version;
        let mut handover = std::mem::replace(&mut *self.state, kept);
        handover.outbox = None;
        handover.version = 0;
        let entry = self.journal(Kind::Merged);
        entry.from = Some(me);
        entry.into = Some(into.to_string());
        self.out.work.push(WorkItem {
            contact: into.to_string(),
            input: Input::Absorb {
                from: Box::new(handover),
                hops: 0,
            },
            at: self.now,
        });
    }

    /// The target side: takes in a merged profile — tags and lists united, fields filling
    /// gaps, scores added, histories interleaved, the stricter consent — and its runs,
    /// each continuing here unless reentry forbids it beside a run of the same workflow.
    pub(crate) fn absorb(&mut self, from: ContactState) {
        let source = from.contact.id.clone();
        let me = self.state.contact.id.clone();
        if source == me || self.state.aliases.contains(&source) {
            return;
        }
        let now = self.now;
        let their = from.contact;
        let contact = &mut self.state.contact;
        contact.tags.extend(their.tags);
        contact.lists.extend(their.lists);
        for (name, value) in their.fields {
            contact.fields.entry(name).or_insert(value);
        }
        contact.email = contact.email.take().or(their.email);
        contact.phone = contact.phone.take().or(their.phone);
        if contact.timezone == Tz::UTC {
            contact.timezone = their.timezone;
        }
        contact.created_at = contact.created_at.min(their.created_at);
        contact.consent.unsubscribed |= their.consent.unsubscribed;
        contact.consent.bounced |= their.consent.bounced;
        contact.consent.complained |= their.consent.complained;
        let mut scored = Vec::new();
        for (name, score) in their.scores {
            let ours = contact.scores.entry(name.clone()).or_default();
            ours.base += score.base;
            for (until, points) in score.expiring.into_iter().filter(|(u, _)| *u > now) {
                ours.expiring.push((until, points));
                let kind = TimerKind::Score { name: name.clone() };
                let due = until;
                let contact = me.clone();
                self.out
                    .effects
                    .push(Effect::Timer(Timer { contact, due, kind }));
            }
            scored.push(name);
        }
        let state = &mut *self.state;
        state.history.absorb(from.history);
        for (workflow, count) in from.enrollments {
            *state.enrollments.entry(workflow).or_default() += count;
        }
        // Under the ids a contact that took the profile in knows them by.
        state
            .ended_runs
            .extend(from.ended_runs.into_iter().map(|mut e| {
                e.run = merged_run_id(&e.run, &source);
                e
            }));
        while state.ended_runs.len() > ENDED_KEPT {
            state.ended_runs.pop_front();
        }
        state.segments.extend(from.segments);
        state.tracked_segments.extend(from.tracked_segments);
        for (slot, fired) in from.date_fired {
            let ours = state.date_fired.entry(slot).or_insert(fired);
            *ours = (*ours).max(fired);
        }
        state.last_email = state.last_email.take().or(from.last_email);
        state.aliases.insert(source.clone());
        state.aliases.extend(from.aliases);

        for mut run in from.runs.into_values() {
            let fits = self
                .catalog
                .get(&run.workflow, run.version)
                .is_none_or(|wf| self.fits_beside_active(wf, run.key.as_ref()));
            if !fits {
                self.exit(&run, ExitReason::Merged);
                // It ran, and ends, on the profile it started on.
                if let Some(entry) = self.out.journal.last_mut() {
                    entry.contact = source.clone();
                }
                if let Some(ended) = self.state.ended_runs.back_mut() {
                    ended.run = merged_run_id(&run.id(), &source);
                }
                continue;
            }
            let seq = self.state.next_run.max(1);
            self.state.next_run = seq + 1;
            run.was = Some(merged_run_id(&run.id(), &source));
            run.seq = seq;
            if let Some(waiting) = &run.waiting {
                for due in waiting.until.into_iter().chain(waiting.recheck) {
                    let kind = TimerKind::Run {
                        run: seq,
                        wait: waiting.seq,
                    };
                    let contact = me.clone();
                    self.out
                        .effects
                        .push(Effect::Timer(Timer { contact, due, kind }));
                }
            }
            self.state.runs.insert(seq, run);
        }

        let entry = self.journal(Kind::Merged);
        entry.from = Some(source);
        entry.into = Some(me);
        for name in scored {
            let value = self.state.contact.score(&name, now);
            let entry = self.journal(Kind::ScoreChanged);
            entry.name = Some(name);
            entry.score = Some(value);
            entry.reason = Some("merged".into());
            self.changes.push(Change::Score);
        }
    }
}
