//! Kairos domain crate: the workflow language, validation and lint, and the pure,
//! deterministic engine that every driver (Lambda functions, `kairos serve`, the
//! simulator) runs through the same ports.
//!
//! Layout:
//! - [`address`]: email addresses and mailboxes that cannot break a header.
//! - [`duration`]: `90s` / `1d12h` durations and signed offsets.
//! - [`calendar`]: local time in the contact's timezone (DST-correct), `HH:MM`, RFC 3339.
//! - [`diagnostic`]: errors and warnings with file, path and line.
//! - [`language`]: what users write — workflow and definitions documents, parsing,
//!   validation ([`language::validate`]) and lint ([`language::lint`]).
//! - [`program`]: a validated workflow version compiled for the engine.
//! - [`catalog`]: deployed workflow versions and project definitions.
//! - [`model`]: contacts and their partition, events and compact history, runs, journal
//!   entries and effects.
//! - [`engine`]: `process(catalog, state, input, now) -> (journal, effects)`.
//! - [`delivery`]: whether a message goes out now, later (quiet hours) or not (and why).
//! - [`pipeline`]: the steps every driver runs around the engine, generic over the ports.
//! - [`service`]: the use cases — deploy, accept an input once, preview a contact —
//!   over a backend's [`service::Ports`].
//! - [`identity`]: which contact an id leads to after merges; which contact an
//!   identify merges into.
//! - [`journey`]: a workflow in words (steps, conditions, triggers, exits) for pictures.
//! - [`explain`]: a contact's journal, with its decision traces, told in plain words.
//! - [`failpoint`]: named failpoints at the pipeline's boundaries, for crash tests.
//! - [`hashed`]: a contact's identifiers hashed as ad platforms' customer lists take them.
//! - [`keys`]: deterministic keys from content, for idempotent writes and dedupe.
//! - [`report`]: per-step counts and goal conversion from a journal.
//! - [`experiment`]: splits compared as experiments (rates, intervals, p-values, winner).
//! - [`render`]: Liquid templates rendered for a contact.
//! - [`unsubscribe`]: signed one-click unsubscribe tokens and links.
//! - [`ports`]: the small traits for everything outside the engine (store, timers, work
//!   queue, catalog, mailer); [`adapters`] holds the in-memory implementations.

pub mod adapters;
pub mod address;
pub mod calendar;
pub mod catalog;
pub mod delivery;
pub mod diagnostic;
pub mod duration;
pub mod engine;
pub mod experiment;
pub mod explain;
pub mod failpoint;
pub mod hashed;
pub mod identity;
pub mod journey;
pub mod keys;
pub mod language;
pub mod model;
pub mod pipeline;
pub mod ports;
pub mod program;
pub mod render;
pub mod report;
pub mod service;
pub mod unsubscribe;

pub use catalog::{Catalog, Deployed};
pub use diagnostic::{Diagnostic, Severity};
pub use duration::{Duration, Offset};
pub use engine::{process, Input, Output, Profile};
pub use model::contact::{Contact, ContactState};
pub use model::effect::{Effect, Message, Timer, TimerKind};
pub use model::event::Event;
pub use model::journal::{JournalEntry, Kind};
pub use program::Workflow;
