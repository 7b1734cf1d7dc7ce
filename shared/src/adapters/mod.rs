//! In-memory adapters for the ports (the simulator, tests). `kairos serve`'s embedded
//! store (SQLite) lives in the CLI; the AWS adapters are the `kairos-aws` crate.

pub mod memory;
