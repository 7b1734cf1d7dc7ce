//! The state the engine reads and writes: contacts, events and their history, runs,
//! broadcast runs,
//! journal entries with their decision traces, and effects; `timestamp`: how their times
//! are written and read.

pub mod broadcast;
pub mod contact;
pub mod effect;
pub mod event;
pub mod history;
pub mod journal;
pub mod reason;
pub mod run;
pub(crate) mod timestamp;
pub mod trace;
