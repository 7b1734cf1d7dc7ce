//! Dispatch: one job — a message or a webhook — decided, rendered and delivered.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::catalog::Catalog;
use crate::delivery::{decide, Decision};
use crate::engine::Input;
use crate::language::step::{Category, Channel};
use crate::model::broadcast::RunState;
use crate::model::contact::ContactState;
use crate::model::effect::{Message, WebhookCall};
use crate::model::journal::{JournalEntry, Kind};
use crate::model::reason::Suppression;
use crate::ports::{
    ContactStore, DispatchJob, DispatchQueue, Mailer, Outgoing, PortError, WebhookSender, WorkItem,
    WorkQueue,
};
use crate::render::{context, render};
use crate::unsubscribe::{Links, ALL_MARKETING};

/// How often a paused broadcast's held message looks whether its run was resumed.
const PAUSED_RECHECK_MINUTES: i64 = 5;
/// A message the provider keeps refusing for now is tried this often before its queue
/// record fails (then SQS retries and dead-letters it): about a day at the longest wait,
/// past SES's daily quota reset.
const MAX_PROVIDER_RETRIES: u32 = 100;

/// Marks a message held (quiet hours, its turn at the sending rate) with its run's goals
/// as they stand now — from the run, or from how it left if it has already (a last-step
/// message): at release it goes only if the run is still there and achieved none since.
fn hold_at_goals(held: &mut Message, state: &ContactState) {
    if held.held_at_goals.is_some() {
        return;
    }
    let (active, ended) = state.run_of(&held.contact, &held.run);
    let goals = match (active, ended) {
        (Some(run), _) => run.achieved.len() as u32,
        (None, Some(e)) => e.goals,
        (None, None) => 0,
    };
    held.held_at_goals = Some(goals);
}

/// How long a message waits after the provider refused it `retries` times: not at all the
/// first time (the SDK has already retried with its own backoff), then 30 s, doubling, at
/// most 15 minutes (what an SQS delay holds).
fn provider_backoff(retries: u32) -> chrono::Duration {
    if retries <= 1 {
        return chrono::Duration::zero();
    }
    let seconds = 30i64.saturating_mul(1i64 << (retries - 2).min(10));
    chrono::Duration::seconds(seconds.min(900))
}

/// What the provider made of a message.
enum Delivery {
    Sent,
    /// Its key was claimed already: a repeat, nothing sent.
    Repeat,
    /// Refused for now (throttled, unavailable): worth another try later.
    Refused(PortError),
    /// Its turn at the provider's sending rate is reserved for then: held, nothing claimed.
    NotYet(DateTime<Utc>),
}

/// What became of a job: done (its queue entry and stored payload can go), or queued
/// again to run later (held for quiet hours) under the same payload, which must stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Done,
    Held,
}

/// The dispatch role: the delivery policy, templates and providers.
pub struct Dispatcher<'a, S, Q, D, M, W> {
    pub catalog: &'a Catalog,
    /// Unsubscribe links for marketing email; without them no `List-Unsubscribe` header.
    pub links: Option<&'a Links>,
    pub store: &'a S,
    /// Where `email_sent` (etc.) goes back to, as an event for the engine.
    pub work: &'a Q,
    /// Where a job held for quiet hours is queued again.
    pub dispatch: &'a D,
    pub mailer: &'a M,
    pub webhooks: &'a W,
}

impl<S, Q, D, M, W> Dispatcher<'_, S, Q, D, M, W>
where
    S: ContactStore,
    Q: WorkQueue,
    D: DispatchQueue,
    M: Mailer,
    W: WebhookSender,
{
    /// One dispatch job, and what became of it.
    pub async fn run_job(
        &self,
        job: DispatchJob,
        now: DateTime<Utc>,
    ) -> Result<(Vec<JournalEntry>, Fate), PortError> {
        match job {
            DispatchJob::Message(message) => self.send(message, now).await,
            DispatchJob::Webhook(call) => Ok((self.call_webhook(call, now).await?, Fate::Done)),
        }
    }

    /// A message: the delivery policy decides; a message it lets through is rendered and
    /// delivered. Every outcome but a repeat of a delivered message is journaled.
    async fn send(
        &self,
        message: Message,
        now: DateTime<Utc>,
    ) -> Result<(Vec<JournalEntry>, Fate), PortError> {
        // A message of a profile merged since goes to the contact it merged into.
        let Some(state) = crate::identity::resolve(self.store, &message.contact).await? else {
            return Ok((Vec::new(), Fate::Done));
        };
        // Not due yet (a broadcast's throttle slot or local time, its reserved turn at the
        // sending rate): a queue that cannot hold it that long (SQS: 15 minutes) or
        // rounds its delay delivered it early; it waits again, unjournaled.
        let due = match message.turn_at {
            Some(turn) if turn > now => Some(turn),
            _ if message.broadcast.is_some() && message.due > now => Some(message.due),
            _ => None,
        };
        if let Some(due) = due {
            self.dispatch
                .push(DispatchJob::Message(message), Some(due))
                .await?;
            return Ok((Vec::new(), Fate::Held));
        }
        let mut entry = message.journal_entry(now, Kind::MessageSent);
        let mut fate = Fate::Done;
        let decision = match self.broadcast_state(&message) {
            Some(RunState::Paused) => {
                // Paused: it waits, unjournaled, and looks again in a few minutes.
                let again = now + chrono::Duration::minutes(PAUSED_RECHECK_MINUTES);
                self.dispatch
                    .push(DispatchJob::Message(message), Some(again))
                    .await?;
                return Ok((Vec::new(), Fate::Held));
            }
            Some(RunState::Cancelled) => {
                let test = format!("broadcast run {} not cancelled", message.run);
                Decision::Suppress(
                    Suppression::BroadcastCancelled,
                    crate::model::trace::Trace::leaf(test, Some("cancelled".into()), false),
                )
            }
            _ => decide(&message, &state, self.catalog.definitions(), now),
        };
        match decision {
            Decision::Suppress(reason, trace) => {
                entry.kind = Kind::MessageSuppressed;
                entry.reason = Some(reason.as_str().to_string());
                entry.trace = Some(Box::new(trace));
            }
            Decision::Delay(until, trace) => {
                entry.kind = Kind::MessageDelayed;
                entry.until = Some(until);
                entry.trace = Some(Box::new(trace));
                let mut held = message;
                hold_at_goals(&mut held, &state);
                self.dispatch
                    .push(DispatchJob::Message(held), Some(until))
                    .await?;
                fate = Fate::Held;
            }
            Decision::Send { to } => match self.render(&message, &state, to) {
                // Never a blank or half-filled message: suppressed, visibly.
                Err(error) => {
                    entry.kind = Kind::MessageSuppressed;
                    entry.reason = Some(Suppression::RenderError.as_str().into());
                    entry.message = Some(error);
                }
                Ok(outgoing) => match self.deliver(&outgoing, now).await? {
                    Delivery::Sent => {}
                    Delivery::Repeat => return Ok((Vec::new(), Fate::Done)),
                    // The provider throttles or fails for now: the message waits, longer
                    // each time, instead of failing its queue record until it dead-letters
                    // unsent (SES's sending rate or daily quota reached, an outage).
                    Delivery::Refused(e) if message.provider_retries < MAX_PROVIDER_RETRIES => {
                        let mut again = message;
                        again.provider_retries += 1;
                        again.turn_at = None;
                        let until = now + provider_backoff(again.provider_retries);
                        entry.kind = Kind::MessageDelayed;
                        entry.reason = Some("provider_unavailable".into());
                        entry.message = Some(e.to_string());
                        entry.until = Some(until);
                        self.dispatch
                            .push(DispatchJob::Message(again), Some(until))
                            .await?;
                        fate = Fate::Held;
                    }
                    Delivery::Refused(e) => return Err(e),
                    // Pacing, not a failure: held until its reserved turn (journaled once),
                    // like a quiet-hours hold, and no provider retry spent.
                    Delivery::NotYet(turn) => {
                        let mut held = message;
                        held.turn_at = Some(turn);
                        hold_at_goals(&mut held, &state);
                        entry.kind = Kind::MessageDelayed;
                        entry.reason = Some("sending_rate".into());
                        entry.message = Some("its turn at the provider's sending rate".into());
                        entry.until = Some(turn);
                        self.dispatch
                            .push(DispatchJob::Message(held), Some(turn))
                            .await?;
                        fate = Fate::Held;
                    }
                },
            },
        }
        self.store
            .append_journal(std::slice::from_ref(&entry))
            .await?;
        Ok((vec![entry], fate))
    }

    /// The state of the broadcast run a message belongs to (none: not a broadcast's).
    fn broadcast_state(&self, message: &Message) -> Option<RunState> {
        let broadcast = message.broadcast.as_deref()?;
        let number = message.run.rsplit_once(':')?.1.parse().ok()?;
        Some(self.catalog.broadcast_run(broadcast, number)?.state)
    }

    /// The message as the provider gets it: its template rendered for the contact, with
    /// an unsubscribe link on marketing email.
    fn render(
        &self,
        message: &Message,
        state: &ContactState,
        to: String,
    ) -> Result<Outgoing, String> {
        let marketing_email =
            message.category == Category::Marketing && message.channel == Channel::Email;
        let unsubscribe_url = self
            .links
            .filter(|l| marketing_email && !l.public_url.is_empty())
            .map(|l| l.unsubscribe_url(&message.contact, ALL_MARKETING));
        let template = self
            .catalog
            .definitions()
            .templates
            .get(&message.template)
            .ok_or_else(|| format!("no template `{}` in the definitions", message.template))?;
        let rendered = render(
            template,
            &context(message, state, unsubscribe_url.as_deref()),
        )?;
        Ok(Outgoing {
            message: message.clone(),
            to,
            subject: rendered.subject,
            html: rendered.html,
            text: rendered.text,
            unsubscribe_url,
        })
    }

    /// Claims the message's key, sends, and records the send as an event for the engine.
    /// A crash between claim and send loses that one message (visible: claimed, never
    /// `message_sent`) rather than risking a duplicate; a refusal worth retrying gives the
    /// claim back.
    async fn deliver(
        &self,
        outgoing: &Outgoing,
        now: DateTime<Utc>,
    ) -> Result<Delivery, PortError> {
        let message = &outgoing.message;
        // A turn reserved when it was held is its own: it does not ask for another.
        if message.turn_at.is_none() {
            if let Some(turn) = self.mailer.turn(outgoing).await {
                return Ok(Delivery::NotYet(turn));
            }
        }
        if !self.store.claim(&message.key).await? {
            return Ok(Delivery::Repeat);
        }
        crate::failpoint::hit("dispatch.after_claim")?;
        if let Err(e) = self.mailer.send(outgoing).await {
            if e.retryable() {
                self.store.release(&message.key).await?;
                return Ok(Delivery::Refused(e));
            }
            return Err(e);
        }
        crate::failpoint::hit("dispatch.after_send")?;
        self.work
            .push(WorkItem {
                contact: message.contact.clone(),
                input: Input::Event(message.sent_event(now)),
                at: now,
            })
            .await?;
        Ok(Delivery::Sent)
    }

    async fn call_webhook(
        &self,
        call: WebhookCall,
        now: DateTime<Utc>,
    ) -> Result<Vec<JournalEntry>, PortError> {
        // A contact deleted since the call was queued is not sent anywhere any more — but
        // an audience change goes: it carries only hashes, and the platform must learn it.
        if call.audience.is_none()
            && crate::identity::resolve(self.store, &call.contact)
                .await?
                .is_none()
        {
            return Ok(Vec::new());
        }
        if !self.store.claim(&call.key).await? {
            return Ok(Vec::new());
        }
        let status = match self.webhooks.call(&call).await {
            Ok(status) => status,
            Err(e) => {
                if e.retryable() {
                    self.store.release(&call.key).await?;
                }
                return Err(e);
            }
        };
        let mut entry = JournalEntry::new(now, &call.contact, Kind::WebhookCalled);
        entry.workflow = Some(call.workflow).filter(|w| !w.is_empty());
        entry.step = Some(call.step).filter(|s| !s.is_empty());
        entry.run = Some(call.run).filter(|r| !r.is_empty());
        entry.name = call.audience;
        entry.url = Some(call.url);
        entry.value = Some(Value::from(status));
        self.store
            .append_journal(std::slice::from_ref(&entry))
            .await?;
        Ok(vec![entry])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_provider_backoff_grows_to_fifteen_minutes() {
        let waits: Vec<i64> = (1..=8)
            .map(|n| super::provider_backoff(n).num_seconds())
            .collect();
        assert_eq!(waits, [0, 30, 60, 120, 240, 480, 900, 900]);
        assert_eq!(super::provider_backoff(100).num_seconds(), 900);
    }
}
