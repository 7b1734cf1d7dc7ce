//! `kairos serve` under load on the embedded store: `scripts/load-serve.py` (events over
//! HTTP in batches from four threads, then the pipeline draining them) against the
//! `kairos` binary of this build. Run: `cargo bench -p kairos --bench serve` (20,000
//! events over 10,000 contacts; `KAIROS_BENCH_EVENTS`, `KAIROS_BENCH_CONTACTS` and
//! `KAIROS_BENCH_API=tracking` change the load). Under `cargo test --all-targets` a
//! small smoke load.

use std::process::Command;

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let setting = |name: &str, bench: &str, smoke: &str| {
        std::env::var(name).unwrap_or_else(|_| if benching { bench } else { smoke }.into())
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/load-serve.py");
    let status = Command::new("python3")
        .arg(script)
        .args(["--kairos", env!("CARGO_BIN_EXE_kairos")])
        .args(["--events", &setting("KAIROS_BENCH_EVENTS", "20000", "300")])
        .args([
            "--contacts",
            &setting("KAIROS_BENCH_CONTACTS", "10000", "100"),
        ])
        .args(["--api", &setting("KAIROS_BENCH_API", "events", "events")])
        .status()
        .expect("python3 runs scripts/load-serve.py");
    assert!(status.success(), "the load failed: {status}");
}
