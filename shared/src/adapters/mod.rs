//! In-process adapters for the ports: in memory (the simulator, tests) and on files
//! (`kairos serve`'s embedded default). The AWS adapters are the `kairos-aws` crate.

pub mod file;
pub mod memory;
