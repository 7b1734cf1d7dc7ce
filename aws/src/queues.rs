//! SQS: the per-contact work queue (FIFO, message group = contact), the delay queue for
//! timers due within 15 minutes (exact `DelaySeconds`), and the dispatch queue.
//!
//! A message carries its payload (the work item, the dispatch job) inline: one send, no
//! item put, read and deleted in DynamoDB around it (a third of the reference flow's
//! writes). That puts event properties on the queues; SQS encrypts every queue at rest
//! (SSE-SQS, set in the template), keeps a message at most 14 days, and a deleted
//! contact's queued work does nothing (the tombstone). A payload too large for a message
//! (a merge's hand-over of a whole profile) is stored in the contact's partition and the
//! message names its key — as every message did before, so those still read.

use aws_sdk_sqs::Client;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::names::Names;
use super::port_error;
use super::table::Table;
use kairos_core::keys::short_hash;
use kairos_core::model::effect::Timer;
use kairos_core::ports::{DispatchJob, DispatchQueue, PortError, TimerQueue, WorkItem, WorkQueue};

/// SQS delays stop at 15 minutes; later timers wait in the table's index for the sweep.
pub const MAX_DELAY_SECONDS: i64 = 900;

/// Payloads up to this size (as JSON) travel inline; SQS takes 256 KB per message.
const INLINE_BYTES: usize = 200 * 1024;

/// A work-queue or dispatch-queue message body: whose, and the payload itself — or the key
/// it is stored under in the contact's partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PayloadRef<T> {
    /// Whose payload.
    pub contact: String,
    /// The stored payload's key; absent when the payload is inline, so a function from
    /// before inline payloads (mid-deploy) refuses the message — it comes back for a
    /// current one — instead of finding no stored payload and taking it for done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The payload, when it travels in the message (a missing `Option` field reads as
    /// `None`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline: Option<T>,
}

/// Whether SQS takes `body` as it is: serde_json escapes control characters but writes
/// U+FFFE and U+FFFF raw, and SQS refuses a body with either (event properties are
/// anyone's text).
fn sqs_accepts(body: &str) -> bool {
    !body.contains(['\u{FFFE}', '\u{FFFF}'])
}

/// `body` (JSON) with the characters SQS refuses written as JSON escapes: the same JSON,
/// one SQS takes.
fn escaped_for_sqs(body: String) -> String {
    if sqs_accepts(&body) {
        return body;
    }
    body.replace('\u{FFFE}', "\\ufffe")
        .replace('\u{FFFF}', "\\uffff")
}

impl<T: Serialize + DeserializeOwned> PayloadRef<T> {
    /// The message body for `payload`: inline when SQS takes it, else stored under `key`
    /// first.
    async fn body(
        table: &Table,
        contact: String,
        key: String,
        payload: T,
    ) -> Result<String, PortError> {
        let inline = PayloadRef {
            contact,
            key: None,
            inline: Some(payload),
        };
        let body = serde_json::to_string(&inline).map_err(|e| body_error("message", e))?;
        if body.len() <= INLINE_BYTES && sqs_accepts(&body) {
            return Ok(body);
        }
        let PayloadRef {
            contact, inline, ..
        } = inline;
        if let Some(payload) = inline {
            table.put_payload(&contact, &key, &payload).await?;
        }
        reference_body::<T>(contact, key)
    }

    /// The payload: the inline one, or the stored one (`None` once it was processed and
    /// removed, or its contact deleted).
    pub async fn payload(&self, table: &Table) -> Result<Option<T>, PortError>
    where
        T: Clone,
    {
        match (&self.inline, &self.key) {
            (Some(payload), _) => Ok(Some(payload.clone())),
            (None, Some(key)) => table.payload(&self.contact, key).await,
            (None, None) => Err(PortError::Failed {
                what: "queue message".into(),
                detail: "names no payload".into(),
            }),
        }
    }

    /// Removes the stored payload, if there is one, once its message is done.
    pub async fn done(&self, table: &Table) -> Result<(), PortError> {
        match (&self.inline, &self.key) {
            (None, Some(key)) => table.delete_payload(&self.contact, key).await,
            _ => Ok(()),
        }
    }
}

/// A delay-queue message body: the timer itself (ids and a time, nothing personal).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerMessage {
    /// The timer to wake.
    pub timer: Timer,
}

#[derive(Clone)]
/// The three queues, and the table their payloads and far timers live in.
pub struct Queues {
    /// SQS.
    pub sqs: Client,
    /// Where payloads and the timer index are.
    pub table: Table,
    /// Where the queues are.
    pub names: Names,
}

fn body_error(what: &str, e: serde_json::Error) -> PortError {
    PortError::Failed {
        what: what.into(),
        detail: e.to_string(),
    }
}

/// The message body naming a stored payload. The contact id (in the key too) may hold a
/// character SQS refuses: escaped, as in a timer's body.
fn reference_body<T: Serialize>(contact: String, key: String) -> Result<String, PortError> {
    let reference = PayloadRef::<T> {
        contact,
        key: Some(key),
        inline: None,
    };
    let body = serde_json::to_string(&reference).map_err(|e| body_error("message", e))?;
    Ok(escaped_for_sqs(body))
}

/// A timer's delay-queue message and its delay: the exact remaining time, rounded up to
/// the next whole second (SQS delays are whole seconds) — a wake-up may be up to a second
/// late, never early — and at most 15 minutes.
fn delayed(timer: &Timer, now: DateTime<Utc>) -> Result<(String, i32), PortError> {
    let millis = (timer.due - now).num_milliseconds().max(0);
    let delay = ((millis + 999) / 1000).min(MAX_DELAY_SECONDS) as i32;
    let body = serde_json::to_string(&TimerMessage {
        timer: timer.clone(),
    })
    .map_err(|e| body_error("timer", e))?;
    // A contact id may hold a character SQS refuses in a body.
    Ok((escaped_for_sqs(body), delay))
}

impl Queues {
    /// Puts a timer on the delay queue with the exact remaining delay (at most 15 minutes).
    pub async fn send_to_delay_queue(
        &self,
        timer: &Timer,
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        let (body, delay) = delayed(timer, now)?;
        self.sqs
            .send_message()
            .queue_url(&self.names.delay_queue_url)
            .message_body(body)
            .delay_seconds(delay)
            .send()
            .await
            .map_err(|e| port_error("send to the delay queue", e))?;
        Ok(())
    }

    /// Puts up to ten timers on the delay queue in one `SendMessageBatch`, each with its
    /// own delay; which of them SQS took (a batch can succeed in part).
    pub async fn send_timers_to_delay_queue(
        &self,
        timers: &[Timer],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>, PortError> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        let mut entries = Vec::with_capacity(timers.len());
        for (i, timer) in timers.iter().enumerate() {
            let (body, delay) = delayed(timer, now)?;
            let entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .delay_seconds(delay)
                .build()
                .map_err(|e| PortError::Failed {
                    what: "send to the delay queue".into(),
                    detail: e.to_string(),
                })?;
            entries.push(entry);
        }
        let out = self
            .sqs
            .send_message_batch()
            .queue_url(&self.names.delay_queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| port_error("send to the delay queue", e))?;
        let mut sent = vec![false; timers.len()];
        for ok in &out.successful {
            if let Some(flag) = ok.id.parse::<usize>().ok().and_then(|i| sent.get_mut(i)) {
                *flag = true;
            }
        }
        Ok(sent)
    }

    /// Receives one message from a queue and deletes it (in-process polling for `kairos
    /// serve --aws-endpoint`; on Lambda the event source mapping does this).
    pub async fn receive_one(&self, queue_url: &str) -> Result<Option<String>, PortError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(1)
            .send()
            .await
            .map_err(|e| port_error("receive", e))?;
        let Some(message) = out.messages.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        if let Some(handle) = message.receipt_handle() {
            self.sqs
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .map_err(|e| port_error("delete a message", e))?;
        }
        Ok(message.body)
    }
}

/// What the bodies of one `SendMessageBatch` may add up to (SQS: 256 KiB), with room for
/// the attributes.
const BATCH_BYTES: usize = 240 * 1024;

impl Queues {
    async fn send_work_batch(
        &self,
        entries: Vec<aws_sdk_sqs::types::SendMessageBatchRequestEntry>,
    ) -> Result<(), PortError> {
        let count = entries.len();
        let out = self
            .sqs
            .send_message_batch()
            .queue_url(&self.names.work_queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| port_error("send to the work queue", e))?;
        let Some(failure) = out.failed.first() else {
            return Ok(());
        };
        let what = "send to the work queue".to_string();
        let detail = format!(
            "SQS took {} of {count}: {} {}",
            out.successful.len(),
            failure.code,
            failure.message.as_deref().unwrap_or_default()
        );
        // The sender's fault (an entry SQS will never take) is not worth a retry.
        Err(if out.failed.iter().any(|f| f.sender_fault) {
            PortError::Failed { what, detail }
        } else {
            PortError::Unavailable { what, detail }
        })
    }
}

impl WorkQueue for Queues {
    async fn push(&self, item: WorkItem) -> Result<(), PortError> {
        let key = item.key();
        let group = short_hash(&item.contact);
        let body = PayloadRef::body(&self.table, item.contact.clone(), key.clone(), item).await?;
        self.sqs
            .send_message()
            .queue_url(&self.names.work_queue_url)
            .message_body(body)
            .message_group_id(group)
            .message_deduplication_id(key)
            .send()
            .await
            .map_err(|e| port_error("send to the work queue", e))?;
        Ok(())
    }

    /// Up to ten items to a `SendMessageBatch` (SQS bills a batch of up to 64 KB as one
    /// request), a batch cut before its bodies pass SQS's 256 KB; items of one contact keep
    /// their order (FIFO, one group per contact). A batch SQS takes in part fails the
    /// whole push: its retry sends all again, and the deduplication ids (the items' keys)
    /// keep the ones already taken from being queued twice.
    async fn push_all(&self, items: Vec<WorkItem>) -> Result<(), PortError> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        let mut batch: Vec<SendMessageBatchRequestEntry> = Vec::new();
        let mut bytes = 0;
        for item in items {
            let key = item.key();
            let group = short_hash(&item.contact);
            let body =
                PayloadRef::body(&self.table, item.contact.clone(), key.clone(), item).await?;
            if batch.len() == 10 || (!batch.is_empty() && bytes + body.len() > BATCH_BYTES) {
                self.send_work_batch(std::mem::take(&mut batch)).await?;
                bytes = 0;
            }
            bytes += body.len();
            let entry = SendMessageBatchRequestEntry::builder()
                .id(batch.len().to_string())
                .message_body(body)
                .message_group_id(group)
                .message_deduplication_id(key)
                .build()
                .map_err(|e| PortError::Failed {
                    what: "send to the work queue".into(),
                    detail: e.to_string(),
                })?;
            batch.push(entry);
        }
        if !batch.is_empty() {
            self.send_work_batch(batch).await?;
        }
        Ok(())
    }

    async fn pop(&self) -> Result<Option<WorkItem>, PortError> {
        let Some(body) = self.receive_one(&self.names.work_queue_url).await? else {
            return Ok(None);
        };
        let reference: PayloadRef<WorkItem> =
            serde_json::from_str(&body).map_err(|e| body_error("work message", e))?;
        let item = reference.payload(&self.table).await?;
        reference.done(&self.table).await?;
        Ok(item)
    }
}

impl DispatchQueue for Queues {
    async fn push(
        &self,
        job: DispatchJob,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<(), PortError> {
        let (contact, key) = match &job {
            DispatchJob::Message(m) => (m.contact.clone(), format!("m-{}", short_hash(&m.key))),
            DispatchJob::Webhook(w) => (w.contact.clone(), format!("h-{}", short_hash(&w.key))),
        };
        // Whole seconds, rounded up: a job back a moment late is harmless, one back early
        // is held again.
        let delay = not_before.map_or(0, |t| {
            let millis = (t - Utc::now()).num_milliseconds();
            ((millis + 999) / 1000).clamp(0, MAX_DELAY_SECONDS)
        }) as i32;
        let body = PayloadRef::body(&self.table, contact, key, job).await?;
        self.sqs
            .send_message()
            .queue_url(&self.names.dispatch_queue_url)
            .message_body(body)
            .delay_seconds(delay)
            .send()
            .await
            .map_err(|e| port_error("send to the dispatch queue", e))?;
        Ok(())
    }

    async fn pop_due(&self, _now: DateTime<Utc>) -> Result<Option<DispatchJob>, PortError> {
        let Some(body) = self.receive_one(&self.names.dispatch_queue_url).await? else {
            return Ok(None);
        };
        let reference: PayloadRef<DispatchJob> =
            serde_json::from_str(&body).map_err(|e| body_error("dispatch message", e))?;
        reference.payload(&self.table).await
    }

    async fn next_held(&self) -> Result<Option<DateTime<Utc>>, PortError> {
        // SQS holds delayed messages itself and hands them out when due.
        Ok(None)
    }
}

impl TimerQueue for Queues {
    async fn schedule(&self, timer: Timer) -> Result<(), PortError> {
        let now = Utc::now();
        if (timer.due - now).num_seconds() <= MAX_DELAY_SECONDS {
            self.send_to_delay_queue(&timer, now).await
        } else {
            self.table.put_timer(&timer).await
        }
    }

    async fn take_due(&self, now: DateTime<Utc>) -> Result<Vec<Timer>, PortError> {
        self.table.take_timers(now).await
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, PortError> {
        self.table.next_timer().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct BeforeInline {
        contact: String,
        key: String,
    }

    #[test]
    fn a_stored_payload_of_a_contact_id_sqs_would_refuse_is_named_in_a_body_it_takes() {
        let contact = "odd\u{FFFE}id".to_string();
        let body =
            reference_body::<serde_json::Value>(contact.clone(), format!("{contact}/k")).unwrap();
        assert!(sqs_accepts(&body), "{body}");
        let back: PayloadRef<serde_json::Value> = serde_json::from_str(&body).unwrap();
        assert_eq!(back.contact, contact);
        assert_eq!(back.key, Some(format!("{contact}/k")));
    }

    #[test]
    fn a_timer_of_a_contact_id_sqs_would_refuse_is_escaped_and_reads_back() {
        let timer = Timer {
            due: Utc::now(),
            contact: "odd\u{FFFE}id\u{FFFF}".into(),
            kind: kairos_core::TimerKind::Run { run: 1, wait: 1 },
        };
        let (body, _) = delayed(&timer, Utc::now()).unwrap();
        assert!(sqs_accepts(&body), "{body}");
        let back: TimerMessage = serde_json::from_str(&body).unwrap();
        assert_eq!(back.timer, timer);
    }

    #[test]
    fn an_inline_message_is_refused_by_a_reader_from_before_inline_payloads() {
        let inline = PayloadRef {
            contact: "ann".into(),
            key: None,
            inline: Some(serde_json::json!({"n": 1})),
        };
        let body = serde_json::to_string(&inline).unwrap();
        assert!(serde_json::from_str::<BeforeInline>(&body).is_err());
        let stored = PayloadRef::<serde_json::Value> {
            contact: "ann".into(),
            key: Some("k".into()),
            inline: None,
        };
        let body = serde_json::to_string(&stored).unwrap();
        assert!(serde_json::from_str::<BeforeInline>(&body).is_ok());
    }

    #[test]
    fn bodies_with_characters_sqs_refuses_are_not_sent_inline() {
        let text = serde_json::to_string(&serde_json::json!({"x": "a\u{FFFF}b"})).unwrap();
        assert!(!sqs_accepts(&text));
        let text = serde_json::to_string(&serde_json::json!({"x": "a\u{1}\u{FDD0}😀"})).unwrap();
        assert!(sqs_accepts(&text));
    }
}
