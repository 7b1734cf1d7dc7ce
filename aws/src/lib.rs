//! Kairos on AWS: the adapters of the domain crate's ports on DynamoDB, SQS, SES and SNS,
//! and the Lambda handlers built on them. The function crates under `functions/` only
//! wire a handler to the Lambda runtime; `kairos serve --aws-endpoint` and the tests run
//! the same handlers in-process.
//!
//! - [`names`]: table and queue names/URLs and the sender, read from the environment.
//! - [`table`]: DynamoDB single-table design, one file per item family — contact
//!   partitions, journal, claims, stored payloads, the sharded timer index, the catalog,
//!   `enroll_existing` fan-outs.
//! - [`queues`]: SQS work queue (FIFO, one group per contact), delay queue, dispatch
//!   queue; the timer port that puts near timers on the delay queue and far ones in the
//!   index.
//! - [`mail`]: SES (email, raw MIME built from parsed addresses) and SNS (SMS, push).
//! - [`pace`]: emails paced to this instance's share of SES's sending rate.
//! - [`ses_tags`]: the message tags that make SES events attributable, escaped for SES.
//! - [`webhooks`]: the HTTP(S) webhook sender on the SDK's own hyper + rustls stack.
//! - [`secrets`]: the store key and the unsubscribe secret, read from SSM at init.
//! - [`app`]: everything a function needs, built once from one SDK configuration.
//! - [`handlers`]: the six functions' handlers (intake's is the HTTP router of
//!   `kairos-api`).
//! - [`local`]: for running outside AWS only — provisioning the table and queues on an
//!   emulator, and Lambda's SQS event source emulated in-process.
//! - [`init_tracing`]: the functions' JSON logs.
//!
//! Queue messages carry their payload inline (queues encrypted at rest); one too large for
//! a message is stored in the contact's partition and named by key (see [`queues`]).

#![warn(unreachable_pub, missing_docs)]

pub mod app;
pub mod handlers;
pub mod local;
pub mod mail;
pub mod names;
pub mod pace;
pub mod queues;
pub mod secrets;
pub mod ses_tags;
pub mod table;
pub mod webhooks;

/// JSON logs for CloudWatch, filtered by `RUST_LOG`, without timestamps (Lambda adds
/// them): the one logging setup of every function's `main`.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
}

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use kairos_core::ports::PortError;

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
