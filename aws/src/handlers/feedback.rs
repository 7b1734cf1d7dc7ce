//! feedback: SES event notifications (through SNS) become engine events for the contact
//! the message was sent to — `email_delivered`, `email_bounced` (`bounce: hard | soft`),
//! `email_complained`, `email_opened`, `email_clicked` — with the workflow, run, step and
//! template the message belonged to (from the tags set at send time, see `ses_tags`). Hard bounces and
//! complaints then suppress the address (the engine records consent from these events).
//! Duplicates are claimed away; SNS envelopes whose `Message` is an object (emulators) or
//! a string (AWS) are both read.

use crate::app::Aws;
use crate::ses_tags;
use chrono::{DateTime, Utc};
use kairos_core::engine::Input;
use kairos_core::ports::{PortError, WorkItem};
use kairos_core::service::accept::{accept, Submission};
use kairos_core::Event;
use serde_json::Value;

/// The feedback function.
pub struct Feedback {
    /// The AWS ports.
    pub aws: Aws,
}

/// One SES notification turned into an event for one contact.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// The contact the message was sent to (from its tags).
    pub contact: String,
    /// The engine event the notification becomes.
    pub event: Event,
}

/// Reads the SES notifications out of an SNS Lambda event.
pub fn notices(sns_event: &Value, now: DateTime<Utc>) -> Vec<(String, Notice)> {
    let mut out = Vec::new();
    for record in sns_event
        .get("Records")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let sns = &record["Sns"];
        let id = sns
            .get("MessageId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let message = match &sns["Message"] {
            Value::String(text) => serde_json::from_str::<Value>(text).unwrap_or(Value::Null),
            other => other.clone(),
        };
        if let Some(notice) = notice(&message, now) {
            out.push((id, notice));
        }
    }
    out
}

fn notice(ses: &Value, now: DateTime<Utc>) -> Option<Notice> {
    let kind = ses
        .get("eventType")
        .or_else(|| ses.get("notificationType"))
        .and_then(Value::as_str)?;
    let mail = &ses["mail"];
    let tag = |name: &str| {
        mail["tags"][name]
            .get(0)
            .and_then(Value::as_str)
            .and_then(ses_tags::decode)
    };
    let contact = tag("contact")?;
    let at = |v: &Value| {
        v.as_str()
            .and_then(|t| kairos_core::calendar::parse_timestamp(t).ok())
    };
    let (name, detail, when) = match kind {
        "Delivery" => ("email_delivered", None, at(&ses["delivery"]["timestamp"])),
        "Bounce" => {
            let hard = ses["bounce"]["bounceType"].as_str() == Some("Permanent");
            (
                "email_bounced",
                Some(("bounce", Value::from(if hard { "hard" } else { "soft" }))),
                at(&ses["bounce"]["timestamp"]),
            )
        }
        "Complaint" => ("email_complained", None, at(&ses["complaint"]["timestamp"])),
        "Open" => ("email_opened", None, at(&ses["open"]["timestamp"])),
        "Click" => (
            "email_clicked",
            ses["click"]["link"]
                .as_str()
                .map(|l| ("link", Value::from(l))),
            at(&ses["click"]["timestamp"]),
        ),
        _ => return None,
    };
    let mut event = Event::new(name, when.unwrap_or(now));
    for key in ["workflow", "run", "step", "template"] {
        if let Some(value) = tag(key) {
            event.props.insert(key.to_string(), Value::String(value));
        }
    }
    if let Some((key, value)) = detail {
        event.props.insert(key.to_string(), value);
    }
    Some(Notice { contact, event })
}

impl Feedback {
    /// Hands each notice to the contact's work queue once. Returns how many were new.
    pub async fn handle(&self, sns_event: &Value, now: DateTime<Utc>) -> Result<usize, PortError> {
        let mut handed = 0;
        for (id, notice) in notices(sns_event, now) {
            let key = format!("feedback/{id}/{}/{}", notice.contact, notice.event.name);
            // Named by the notification, so a redelivered one is the same input (claimed
            // after it is queued: see `kairos_core::service::accept`).
            let mut event = notice.event;
            event.id = Some(key.clone());
            let at = event.at;
            let item = WorkItem {
                contact: notice.contact.clone(),
                input: Input::Event(event),
                at,
            };
            let submission = Submission {
                item,
                dedupe: Some(key),
            };
            if accept(&self.aws, [submission]).await? == 0 {
                continue;
            }
            tracing::info!(contact = %notice.contact, "feedback event");
            handed += 1;
        }
        Ok(handed)
    }
}
