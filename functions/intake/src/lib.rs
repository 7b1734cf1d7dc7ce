//! Kairos intake: the HTTP API.
//!
//! - `api`: the axum router and its handlers (HTTP in, domain calls, HTTP out).
//! - `backend`: what the API needs from the world, for AWS and for `kairos serve`.
//! - `error`: the error body and statuses of the contract.

pub mod api;
pub mod backend;
pub mod error;

pub use api::{router, App};
pub use backend::Backend;
