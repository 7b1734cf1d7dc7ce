//! In-memory adapters for the ports (the simulator, tests): `memory` (every port),
//! `contacts` (the memory store's contacts, open or packed). `kairos serve`'s embedded
//! store (SQLite) lives in the CLI; the AWS adapters are the `kairos-aws` crate.

pub(crate) mod contacts;
pub mod memory;
