//! The pipeline: what every driver does around the engine, one file per role.
//!
//! - [`evaluate`]: one work item — load the contact's partition, run the engine, save
//!   with a version condition together with an outbox of journal and effects, then hand
//!   them on (timers to the timer queue, messages and webhooks to the dispatch queue). A
//!   retry never applies an input twice and never loses an effect.
//! - [`dispatch`]: one dispatch job — decide (the delivery policy), render, deliver:
//!   a send claims its key before calling the provider and records `email_sent` (etc.)
//!   back as an event.
//! - [`local`]: the in-process loop (simulator, `kairos serve`) over the work queue, the
//!   dispatch queue and the timers. On AWS each role is its own Lambda function fed by SQS.

pub mod dispatch;
pub mod evaluate;
pub mod local;

pub use dispatch::{Dispatcher, Fate};
pub use evaluate::{Evaluator, Recent};
pub use local::Pipeline;
