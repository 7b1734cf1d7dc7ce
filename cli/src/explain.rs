//! `kairos explain CONTACT SCENARIO.yaml [--workflow W]`: the scenario simulated, then one
//! contact's story in plain words — why it entered, which branches it took and why, why a
//! message went out, waited or was not sent (`kairos_core::explain`).

use std::path::Path;

use kairos_core::JournalEntry;

use crate::output;
use crate::scenario;
use crate::simulate::{run, Virtual};

/// The command: simulate, keep the contact's entries, print its story.
pub fn command(contact: &str, path: &Path, workflow: Option<&str>) -> Result<(), String> {
    let scenario = scenario::load(path).map_err(|errors| output::diagnostics(&errors))?;
    let mut kept: Vec<JournalEntry> = Vec::new();
    let mut sink = |e: JournalEntry| {
        if e.contact == contact {
            kept.push(e);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    runtime
        .block_on(run(scenario, &mut Virtual, &mut sink, &mut |_| {}))
        .map_err(|e| e.to_string())?;
    if kept.is_empty() {
        return Err(format!(
            "{}: nothing happened to `{contact}` in this scenario (is the id right?)",
            path.display()
        ));
    }
    for line in kairos_core::explain::story(&kept, workflow) {
        println!("{line}");
    }
    Ok(())
}
