//! Delivery policy: whether a message the engine asked for goes out now, waits for the end
//! of quiet hours, or is suppressed — and why. Pure, like the engine: dispatch drivers call
//! it with the contact's partition and act on the answer.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::address::EmailAddress;
use crate::calendar::{parse_local_time, quiet_window_end};
use crate::language::definitions::Definitions;
use crate::language::step::{Category, Channel};
use crate::model::contact::ContactState;
use crate::model::effect::Message;
use crate::model::reason::Suppression;
use crate::model::trace::Trace;

#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Send now, to this address (email, E.164 phone number or push token).
    Send { to: String },
    /// Do not send; the reason is journaled (`message_suppressed`) with its evidence.
    Suppress(Suppression, Trace),
    /// Quiet hours: try again at this instant (`message_delayed`), with the evidence.
    Delay(DateTime<Utc>, Trace),
}

/// A refusal with the test that failed and what it found.
fn suppress(reason: Suppression, test: String, observed: Option<Value>) -> Decision {
    Decision::Suppress(reason, Trace::leaf(test, observed, false))
}

/// The built-in event recorded when a message of this channel is sent.
pub fn sent_event_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "email_sent",
        Channel::Sms => "sms_sent",
        Channel::Push => "push_sent",
    }
}

pub fn decide(
    message: &Message,
    state: &ContactState,
    defs: &Definitions,
    now: DateTime<Utc>,
) -> Decision {
    let contact = &state.contact;
    let marketing = message.category == Category::Marketing;
    // A held message belongs to its run: released only into a run still under way.
    if let Some(held_at) = message.held_at_goals {
        let (active, ended) = state.run_of(&message.contact, &message.run);
        let (early, goals) = match (active, ended) {
            (Some(run), _) => (false, run.achieved.len() as u32),
            (None, Some(e)) => (e.early, e.goals),
            // Long gone (forgotten): nothing says it should not go.
            (None, None) => (false, held_at),
        };
        if early {
            let test = format!("run {} still under way", message.run);
            return suppress(Suppression::RunEnded, test, Some("ended".into()));
        }
        if goals > held_at {
            let test = format!(
                "run {} reached no goal since the message was held",
                message.run
            );
            let observed = serde_json::json!({ "goals_then": held_at, "goals_now": goals });
            return suppress(Suppression::GoalAchieved, test, Some(observed));
        }
    }
    let to = match message.channel {
        Channel::Email => contact.email.clone(),
        Channel::Sms => contact.phone.clone(),
        Channel::Push => contact
            .fields
            .get("push_token")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    let channel = message.channel.as_str();
    let Some(to) = to else {
        let test = format!("the contact has an address for {channel}");
        return suppress(Suppression::NoAddress, test, None);
    };
    if message.channel == Channel::Sms && !is_e164(&to) {
        let test = "the phone number is E.164".to_string();
        return suppress(Suppression::InvalidPhone, test, Some(to.into()));
    }
    // Stored before addresses were checked at the boundary, or written by a field: never
    // handed to a mailer unless it is an address.
    if message.channel == Channel::Email && EmailAddress::parse(&to).is_err() {
        let test = "the email is an address".to_string();
        return suppress(Suppression::InvalidEmail, test, Some(to.into()));
    }
    if message.channel == Channel::Email {
        // Hard bounces and complaints stop every email, transactional included.
        if contact.consent.bounced {
            let test = "the address has not bounced hard".to_string();
            return suppress(Suppression::Bounced, test, None);
        }
        if contact.consent.complained {
            let test = "the contact has not complained".to_string();
            return suppress(Suppression::Complained, test, None);
        }
    }
    if marketing && contact.consent.unsubscribed {
        let test = "the contact takes marketing messages (not unsubscribed)".to_string();
        return suppress(Suppression::Unsubscribed, test, None);
    }
    if !defs.templates.is_empty()
        && !defs
            .templates
            .get(&message.template)
            .is_some_and(|t| t.serves(message.channel))
    {
        let test = format!("template {} exists for {channel}", message.template);
        return suppress(Suppression::RenderError, test, None);
    }
    let Some(policy) = defs.delivery.as_ref().filter(|_| marketing) else {
        return Decision::Send { to };
    };
    if let Some(cap) = policy.frequency_cap.get(&message.channel) {
        let sent = state
            .history
            .log(sent_event_name(message.channel))
            .map_or(0, |log| {
                log.between(Some(now - Duration::seconds(cap.per.seconds())), now)
                    .iter()
                    .filter(|e| {
                        e.props.get("category").and_then(Value::as_str) == Some("marketing")
                    })
                    .count()
            });
        if sent >= cap.max as usize {
            let test = format!(
                "frequency cap {channel}: fewer than {} marketing messages in {}",
                cap.max, cap.per
            );
            return suppress(Suppression::FrequencyCap, test, Some(sent.into()));
        }
    }
    if let Some(quiet) = policy.quiet_hours.get(&message.channel) {
        if let (Ok(from), Ok(to_time)) =
            (parse_local_time(&quiet.from), parse_local_time(&quiet.to))
        {
            if let Some(end) = quiet_window_end(now, from, to_time, contact.timezone) {
                let tz = contact.timezone;
                let test = format!(
                    "quiet hours {channel} {}–{} in {}",
                    quiet.from,
                    quiet.to,
                    tz.name()
                );
                let local = now.with_timezone(&tz).format("%H:%M").to_string();
                return Decision::Delay(end, Trace::leaf(test, Some(local.into()), true));
            }
        }
    }
    Decision::Send { to }
}

/// `+` and 8 to 15 digits, the first not 0 (E.164).
pub fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}
