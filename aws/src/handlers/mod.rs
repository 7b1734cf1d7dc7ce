//! The Lambda handlers: each takes its event source's payload and answers what Lambda
//! expects (an `SqsBatchResponse` with the records that failed, or an error to retry).

mod record;

pub mod dispatch;
pub mod evaluate;
pub mod feedback;
pub mod sweep;
pub mod wakeup;
