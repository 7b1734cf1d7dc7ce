//! Runs one contact through a workflow file on the in-memory engine and prints the journal
//! as JSON lines: `cargo run -p kairos-core --example journey [WORKFLOW.yaml]`.
//! (The `kairos simulate` command grows out of this loop.)

use std::collections::BTreeSet;
use std::process::ExitCode;

use chrono::{DateTime, Duration, Utc};
use kairos_core::language::load_workflow;
use kairos_core::{process, Catalog, Contact, ContactState, Effect, Event, Input, Timer};

fn main() -> ExitCode {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("{}/../examples/welcome.yaml", env!("CARGO_MANIFEST_DIR")));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let workflow = match load_workflow(&path, &text, Default::default()) {
        Ok(wf) => wf,
        Err(errors) => {
            errors.iter().for_each(|e| eprintln!("{e}"));
            return ExitCode::FAILURE;
        }
    };
    let trigger = workflow.triggers.iter().find_map(|t| match t {
        kairos_core::program::Trigger::Event { name, .. } => Some(name.clone()),
        _ => None,
    });
    let mut catalog = Catalog::default();
    let id = workflow.id.clone();
    if let Err(e) = catalog.deploy(workflow) {
        eprintln!("{path}: {e}");
        return ExitCode::FAILURE;
    }
    let start: DateTime<Utc> = DateTime::from_timestamp(1_767_600_000, 0).unwrap_or_default(); // 2026-01-05T08:00:00Z
    let mut contact = Contact::new("ann", start);
    contact.timezone = chrono_tz::Europe::Berlin;
    let mut state = ContactState::new(contact);
    let mut timers: BTreeSet<Timer> = BTreeSet::new();
    let run = |state: &mut ContactState,
               input: Input,
               now: DateTime<Utc>,
               timers: &mut BTreeSet<Timer>| {
        let out = process(&catalog, state, input, now);
        for entry in &out.journal {
            println!("{}", serde_json::to_string(entry).unwrap_or_default());
        }
        timers.extend(out.effects.into_iter().filter_map(|e| {
            if let Effect::Timer(t) = e {
                Some(t)
            } else {
                None
            }
        }));
    };
    let first = match trigger {
        Some(name) => Input::Event(Event::new(name, start)),
        None => Input::Start { workflow: id },
    };
    run(&mut state, first, start, &mut timers);
    let end = start + Duration::days(60);
    while let Some(timer) = timers.pop_first().filter(|t| t.due <= end) {
        let now = timer.due;
        run(&mut state, Input::Timer(timer), now, &mut timers);
    }
    ExitCode::SUCCESS
}
