//! Memory of a simulated year: the simulate bench's scenario for 100,000 contacts (or
//! `KAIROS_BENCH_CONTACTS`), run once, then its time, journal entries and peak resident
//! memory (the process's high-water mark, scenario included) per contact. Run:
//! `cargo bench -p kairos --bench memory` (`KAIROS_BENCH_CONTACTS=1000000` for a million).

#[path = "support/year.rs"]
mod year;

/// The process's peak resident set (`VmHWM` of `/proc/self/status`), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    // `cargo test --all-targets` runs benches once without `--bench`: a smoke run then.
    let benching = std::env::args().any(|a| a == "--bench");
    let contacts: usize = std::env::var("KAIROS_BENCH_CONTACTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if benching { 100_000 } else { 200 });
    let before = peak_rss_kib().unwrap_or(0);
    let scenario = year::scenario(contacts);
    let with_scenario = peak_rss_kib().unwrap_or(0);
    let started = std::time::Instant::now();
    let entries = year::simulate(scenario);
    let seconds = started.elapsed().as_secs_f64();
    let peak = peak_rss_kib().unwrap_or(0);
    println!(
        "simulate/memory: {contacts} contacts × 365 days: {entries} journal entries in {seconds:.1} s; peak RSS {:.0} MB ({:.1} KB per contact; {:.0} MB at start, {:.0} MB with the scenario built)",
        peak as f64 / 1024.0,
        peak.saturating_sub(before) as f64 / contacts as f64,
        before as f64 / 1024.0,
        with_scenario as f64 / 1024.0,
    );
    assert!(entries > contacts, "every contact left entries");
}
