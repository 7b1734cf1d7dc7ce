//! feedback: SES event records (through SNS) become engine events for the contact the
//! message was sent to — `email_delivered`, `email_bounced` (`bounce: hard | soft`),
//! `email_complained`, `email_opened`, `email_clicked`, and `email_accepted` (Send),
//! `email_rejected`, `email_rendering_failed`, `email_delivery_delayed` — with the
//! workflow, run, step and template the message belonged to (from the tags set at send
//! time, see `ses_tags`), journaled on the message's step. Hard bounces and complaints then
//! suppress the address (the engine records consent from these events).
//!
//! A bounce or complaint record without our tags (a send from another system on the same
//! identity, a tag lost, AWS's own sample records) still suppresses: its recipients are
//! looked up by address (the `by-email` index). A payload that is not an SNS envelope of
//! SES records is an error — Lambda retries it and then puts it on the function's
//! dead-letter queue — never a silent success. Duplicates are claimed away; SNS envelopes
//! whose `Message` is an object (emulators) or a string (AWS) are both read.

use chrono::{DateTime, Utc};
use kairos_core::engine::Input;
use kairos_core::ports::{ContactStore, PortError, WorkItem};
use kairos_core::service::accept::{accept, Submission};
use kairos_core::Event;
use serde_json::Value;

use crate::app::Aws;
use crate::ses_tags;
use kairos_core::service::feedback::{self, Handled};

/// The feedback function.
pub struct Feedback {
    /// The AWS ports.
    pub aws: Aws,
}

/// One SES record turned into an event, for the contact its tags name or for whoever has
/// the addresses it names.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// Who it is about.
    pub to: Recipient,
    /// The engine event the record becomes.
    pub event: Event,
}

/// Whom a record is about.
#[derive(Clone, Debug, PartialEq)]
pub enum Recipient {
    /// The contact the message's tags name.
    Contact(String),
    /// No tags: the contacts with these addresses (bounces and complaints only).
    Addresses(Vec<String>),
}

fn failed(detail: String) -> PortError {
    PortError::Failed {
        what: "feedback payload".into(),
        detail,
    }
}

/// The records of an SNS event: (SNS message id, notice). A record that is not an SES
/// event, or a payload that is not an SNS event, is an error naming where.
pub fn notices(sns_event: &Value, now: DateTime<Utc>) -> Result<Vec<(String, Notice)>, PortError> {
    let records = sns_event
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| failed("not an SNS event: no `Records` list".into()))?;
    let mut out = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let sns = record
            .get("Sns")
            .ok_or_else(|| failed(format!("Records[{i}] is not an SNS record")))?;
        let id = sns
            .get("MessageId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let message = match &sns["Message"] {
            Value::String(text) => serde_json::from_str::<Value>(text)
                .map_err(|e| failed(format!("Records[{i}].Sns.Message is not JSON: {e}")))?,
            other => other.clone(),
        };
        match notice(&message, now) {
            Ok(Some(notice)) => out.push((id, notice)),
            // A record we know and do not use (Subscription; an untagged delivery or open
            // of a send from elsewhere): nothing to do, and nothing wrong.
            Ok(None) => {}
            Err(why) => return Err(failed(format!("Records[{i}].Sns.Message: {why}"))),
        }
    }
    Ok(out)
}

fn notice(ses: &Value, now: DateTime<Utc>) -> Result<Option<Notice>, String> {
    let kind = ses
        .get("eventType")
        .or_else(|| ses.get("notificationType"))
        .and_then(Value::as_str)
        .ok_or("not an SES record: no `eventType` or `notificationType`")?;
    let mail = &ses["mail"];
    let tag = |name: &str| {
        mail["tags"][name]
            .get(0)
            .and_then(Value::as_str)
            .and_then(ses_tags::decode)
    };
    let at = |v: &Value| {
        v.as_str()
            .and_then(|t| kairos_core::calendar::parse_timestamp(t).ok())
    };
    let text = |v: &Value| {
        v.as_str()
            .map(|t| Value::from(t.chars().take(500).collect::<String>()))
    };
    let addresses = |list: &Value| -> Vec<String> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["emailAddress"].as_str().map(str::to_string))
            .collect()
    };
    let (name, detail, when, recipients) = match kind {
        "Delivery" => (
            "email_delivered",
            None,
            at(&ses["delivery"]["timestamp"]),
            None,
        ),
        "Bounce" => {
            let hard = ses["bounce"]["bounceType"].as_str() == Some("Permanent");
            (
                "email_bounced",
                Some(("bounce", Value::from(if hard { "hard" } else { "soft" }))),
                at(&ses["bounce"]["timestamp"]),
                Some(addresses(&ses["bounce"]["bouncedRecipients"])),
            )
        }
        "Complaint" => (
            "email_complained",
            None,
            at(&ses["complaint"]["timestamp"]),
            Some(addresses(&ses["complaint"]["complainedRecipients"])),
        ),
        "Open" => ("email_opened", None, at(&ses["open"]["timestamp"]), None),
        "Click" => (
            "email_clicked",
            ses["click"]["link"]
                .as_str()
                .map(|l| ("link", Value::from(l))),
            at(&ses["click"]["timestamp"]),
            None,
        ),
        "Send" => ("email_accepted", None, at(&mail["timestamp"]), None),
        "Reject" => (
            "email_rejected",
            text(&ses["reject"]["reason"]).map(|r| ("detail", r)),
            None,
            None,
        ),
        "Rendering Failure" => (
            "email_rendering_failed",
            text(&ses["failure"]["errorMessage"]).map(|r| ("detail", r)),
            None,
            None,
        ),
        "DeliveryDelay" => (
            "email_delivery_delayed",
            text(&ses["deliveryDelay"]["delayType"]).map(|r| ("detail", r)),
            at(&ses["deliveryDelay"]["timestamp"]),
            None,
        ),
        "Subscription" | "AmazonSnsSubscriptionSucceeded" => return Ok(None),
        other => return Err(format!("unknown SES record type `{other}`")),
    };
    let to = match (tag("contact"), recipients) {
        (Some(contact), _) => Recipient::Contact(contact),
        (None, Some(addresses)) if !addresses.is_empty() => Recipient::Addresses(addresses),
        // Untagged and about no address of ours to suppress: nothing to attribute.
        (None, _) => return Ok(None),
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
    Ok(Some(Notice { to, event }))
}

impl Feedback {
    /// The function on `aws`.
    pub fn new(aws: Aws) -> Feedback {
        Feedback { aws }
    }

    /// One SNS event: each record becomes an event for its contact(s), queued once (a
    /// redelivered notification is claimed away). An unrecognised payload is an error.
    pub async fn handle(&self, sns_event: &Value, now: DateTime<Utc>) -> Result<usize, PortError> {
        let mut handed = 0;
        let notices = notices(sns_event, now)?;
        // Checked within the last second: a deploy that starts listening to deliveries
        // reaches feedback within it.
        let catalog = self
            .aws
            .table
            .catalog_within(crate::table::CONSUMER_CATALOG_AGE)
            .await?;
        for (id, notice) in notices {
            let contacts = match notice.to {
                Recipient::Contact(contact) => vec![contact],
                Recipient::Addresses(addresses) => {
                    let mut found = Vec::new();
                    for address in addresses {
                        found.extend(self.aws.table.contacts_by_email(&address).await?);
                    }
                    found
                }
            };
            for contact in contacts {
                let only =
                    feedback::journal_only(&self.aws.table, &catalog, &contact, &notice.event);
                if only.await? == Handled::Journaled {
                    handed += 1;
                    continue;
                }
                let key = format!("feedback/{id}/{contact}/{}", notice.event.name);
                // Named by the notification, so a redelivered one is the same input (claimed
                // after it is queued: see `kairos_core::service::accept`).
                let mut event = notice.event.clone();
                event.id = Some(key.clone());
                let at = event.at;
                let item = WorkItem {
                    contact: contact.clone(),
                    input: Input::Event(event),
                    at,
                };
                let submission = Submission {
                    item,
                    dedupe: Some(key),
                };
                if accept(&self.aws, [submission]).await? > 0 {
                    tracing::info!(%contact, "feedback event");
                    handed += 1;
                }
            }
        }
        Ok(handed)
    }
}
