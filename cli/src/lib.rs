//! The `kairos` command's library: everything the binary does, testable and benchable.
//!
//! - `project`: reading workflow and definitions files into checked workflows.
//! - `check`: `validate` and `lint`.
//! - `graph`: Mermaid and Graphviz flowcharts, optionally with report counts.
//! - `schema`: the JSON Schema of the workflow language, generated from its types.
//! - `scenario`: simulation scenario files.
//! - `simulate`: the pipeline on in-memory ports and a virtual clock.
//! - `explain`: one contact's story from a simulation, in plain words.
//! - `output`: journal rows, report tables, diagnostics for people.
//! - `embedded`: the embedded backend of `serve` (the store, the in-process pipeline loop).
//! - `store`: the embedded store, SQLite in WAL mode, every port.
//! - `outbox`: the local outbox of `serve`, with tracked opens and clicks.
//! - `deploy`: a project folder pushed to a running stack through its HTTP API.
//! - `audience`: a segment's hashed export, from a scenario or a running stack.
//! - `serve`: the HTTP API and the pipeline in one process (embedded store or AWS endpoint).

/// The allocator of the command, its tests and benches: a simulation allocates and frees
/// small records all the time, and glibc's malloc, free and consolidation were a third of
/// its CPU (`perf`, 10,000 contacts).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod audience;
pub mod check;
pub mod deploy;
pub mod embedded;
pub mod explain;
pub mod graph;
pub mod outbox;
pub mod output;
pub mod project;
pub mod scenario;
pub mod schema;
pub mod serve;
pub mod simulate;
pub mod store;
