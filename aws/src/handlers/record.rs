//! The two things every SQS handler does with a record: read its body, report it failed.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use serde::de::DeserializeOwned;

/// A record's body read as `T` (what the queue carries); `Err` says why it is poison.
pub(crate) fn body<T: DeserializeOwned>(record: &SqsMessage) -> Result<T, String> {
    let text = record.body.as_deref().ok_or("poison message: no body")?;
    serde_json::from_str(text).map_err(|e| format!("poison message: {e}"))
}

/// Reports a record as failed: SQS delivers it again, and after the queue's
/// `maxReceiveCount` moves it to the dead-letter queue.
pub(crate) fn fail(response: &mut SqsBatchResponse, record: &SqsMessage, reason: &str) {
    let id = record.message_id.clone().unwrap_or_default();
    tracing::warn!(message_id = %id, %reason, "record failed");
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = id;
    response.batch_item_failures.push(failure);
}
