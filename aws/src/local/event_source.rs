//! What Lambda's SQS event source mapping does, for running the functions in one process
//! (`kairos serve --aws-endpoint`, the cross-function tests): receive a batch as a Lambda
//! SQS event, hand it to a handler, delete the records it did not report as failed
//! (`ReportBatchItemFailures`) in one `DeleteMessageBatch`. Failed records stay and come back after the visibility
//! timeout, until the queue's redrive policy moves them to the dead-letter queue.

use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use serde_json::{json, Value};

use crate::port_error;
use kairos_core::ports::PortError;

/// One received batch: the event a handler takes and the receipt handles to settle it.
pub struct Batch {
    /// The batch as Lambda would hand it to a handler.
    pub event: SqsEvent,
    receipts: Vec<(Option<String>, String)>,
}

/// Receives up to 10 messages (waiting up to `wait_seconds` for the first); nothing is
/// deleted yet.
pub async fn receive(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    wait_seconds: i32,
) -> Result<Batch, PortError> {
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_seconds)
        .send()
        .await
        .map_err(|e| port_error("SQS receive", e))?;
    let messages = out.messages.unwrap_or_default();
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
            })
        })
        .collect();
    let event =
        serde_json::from_value(json!({ "Records": records })).map_err(|e| PortError::Failed {
            what: "SQS receive".into(),
            detail: format!("not a Lambda SQS event: {e}"),
        })?;
    let receipts = messages
        .iter()
        .filter_map(|m| {
            let handle = m.receipt_handle()?.to_string();
            Some((m.message_id().map(str::to_string), handle))
        })
        .collect();
    Ok(Batch { event, receipts })
}

impl Batch {
    /// Whether nothing was received.
    pub fn is_empty(&self) -> bool {
        self.event.records.is_empty()
    }

    /// Deletes the records `response` did not report as failed; returns how many.
    pub async fn settle(
        &self,
        sqs: &aws_sdk_sqs::Client,
        queue_url: &str,
        response: &SqsBatchResponse,
    ) -> Result<usize, PortError> {
        let failed = |id: &Option<String>| {
            response
                .batch_item_failures
                .iter()
                .any(|f| Some(f.item_identifier.as_str()) == id.as_deref())
        };
        // One DeleteMessageBatch per batch, as Lambda's poller settles a batch (SQS bills
        // the call once for up to ten records).
        let mut entries = Vec::new();
        for (i, (_, handle)) in self
            .receipts
            .iter()
            .filter(|(id, _)| !failed(id))
            .enumerate()
        {
            let entry = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(handle)
                .build()
                .map_err(|e| PortError::Failed {
                    what: "SQS delete".into(),
                    detail: e.to_string(),
                })?;
            entries.push(entry);
        }
        let deleted = entries.len();
        if deleted == 0 {
            return Ok(0);
        }
        let out = sqs
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| port_error("SQS delete", e))?;
        if let Some(failure) = out.failed.first() {
            return Err(PortError::Unavailable {
                what: "SQS delete".into(),
                detail: format!(
                    "{} of {deleted} not deleted: {}",
                    out.failed.len(),
                    failure.code
                ),
            });
        }
        Ok(deleted)
    }
}

/// Receives one batch, runs `handle` on it and settles it; returns how many records came.
pub async fn poll<F, Fut>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    wait_seconds: i32,
    handle: F,
) -> Result<usize, PortError>
where
    F: FnOnce(SqsEvent) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    let batch = receive(sqs, queue_url, wait_seconds).await?;
    if batch.is_empty() {
        return Ok(0);
    }
    let response = handle(batch.event.clone()).await;
    batch.settle(sqs, queue_url, &response).await?;
    Ok(batch.event.records.len())
}
