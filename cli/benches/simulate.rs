//! Simulation speed: 10,000 contacts over a year of virtual time through the whole
//! pipeline (engine, queues, timers, delivery, in-memory store), journal counted, not
//! printed. Run: `cargo bench -p kairos --bench simulate`.

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "support/year.rs"]
mod year;
use year::{scenario, simulate};

/// 10,000 when benchmarking; a small smoke run when `cargo test --all-targets` runs the
/// bench once in test mode (there is no `--bench` argument then).
fn contact_count() -> usize {
    if std::env::args().any(|a| a == "--bench") {
        10_000
    } else {
        200
    }
}

fn bench(c: &mut Criterion) {
    let entries = simulate(scenario(contact_count()));
    eprintln!(
        "one simulated year of {} contacts writes {entries} journal entries",
        contact_count()
    );
    let mut group = c.benchmark_group("simulate");
    group.sample_size(10);
    group.bench_function("10k contacts, 365 days", |b| {
        b.iter_batched(
            || scenario(contact_count()),
            simulate,
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
