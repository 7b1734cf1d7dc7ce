//! Outside AWS only: what the SAM template and Lambda's event source mappings do on AWS,
//! done here for `kairos serve --aws-endpoint` and the tests against an emulator.
//!
//! - [`provision`]: creates (or finds) the table, the queues with their DLQs and the SES
//!   identity.
//! - [`event_source`]: polls a queue and hands its messages to a handler as Lambda's SQS
//!   event source would (batch item failures, visibility, DLQ after the receive count).

pub mod event_source;
pub mod provision;
