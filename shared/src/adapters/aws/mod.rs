//! The AWS adapters.
//!
//! - `names`: table and queue names/URLs, read from the environment.
//! - `table`: DynamoDB single-table design — contact partitions, journal, claims, stored
//!   work and jobs, the sharded timer index, the catalog.
//! - `queues`: SQS work queue (FIFO, one group per contact), delay queue, dispatch queue;
//!   the timer port that puts near timers on the delay queue and far ones in the index.
//! - `mail`: SES (email) and SNS (SMS, push).
//! - `event_source`: Lambda's SQS event source mapping, for running functions in-process.
//! - `ses_tags`: the message tags that make SES events attributable, escaped for SES.
//!
//! Queue bodies carry ids only: the payload (event properties, message) is stored in the
//! contact's partition and looked up by the consumer, so no personal data sits on a queue.

pub mod app;
pub mod event_source;
pub mod mail;
pub mod names;
pub mod provision;
pub mod queues;
pub mod ses_tags;
pub mod table;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::ports::PortError;

/// Maps an SDK error to a port error: throttling, timeouts and 5xx are retryable; the
/// rest (validation, access denied, missing resources) are not.
pub(crate) fn port_error<E: ProvideErrorMetadata + std::fmt::Debug>(
    what: &str,
    err: SdkError<E>,
) -> PortError {
    let (retryable, detail) = match &err {
        SdkError::ServiceError(e) => {
            let code = e.err().code().unwrap_or("error");
            let throttled = code.contains("Throttl")
                || code.contains("ProvisionedThroughput")
                || code.contains("RequestLimit");
            let detail = format!("{code}: {}", e.err().message().unwrap_or_default());
            (throttled || e.raw().status().as_u16() >= 500, detail)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            (true, format!("{err:?}"))
        }
        other => (false, format!("{other:?}")),
    };
    if retryable {
        PortError::Unavailable {
            what: what.into(),
            detail,
        }
    } else {
        PortError::Failed {
            what: what.into(),
            detail,
        }
    }
}
