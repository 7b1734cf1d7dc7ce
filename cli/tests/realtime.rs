//! The simulator and the embedded runner share the engine and queue semantics: the same
//! scenario through virtual time and through a wall clock (3 days compressed into about a
//! second and a half) gives the same journal.

use std::path::Path;

use kairos_cli::scenario;
use kairos_cli::simulate::{run, Pace, Virtual, WallClock};
use kairos_core::JournalEntry;

fn journal(pace: &mut dyn Pace, example: &str) -> Vec<JournalEntry> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(example)
        .join("scenario.yaml");
    let scenario = scenario::load(&path).expect("example scenario loads");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut entries = Vec::new();
    runtime
        .block_on(run(
            scenario,
            pace,
            &mut |e| entries.push(e.clone()),
            &mut |_| {},
        ))
        .unwrap();
    entries
}

#[test]
fn virtual_and_wall_clock_runs_write_the_same_journal() {
    let simulated = journal(&mut Virtual, "abandoned-cart");
    let started = std::time::Instant::now();
    let scenario = scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/abandoned-cart/scenario.yaml"),
    )
    .unwrap();
    // 3 days of scenario in ~1.5 s of wall-clock time.
    let mut clock = WallClock::new(scenario.start, 3.0 * 86_400.0 / 1.5);
    let real = journal(&mut clock, "abandoned-cart");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(450),
        "the wall clock was really waited for (the last timer is 27h in: ~0.56 s)"
    );
    assert!(!simulated.is_empty());
    assert_eq!(simulated, real);
}
