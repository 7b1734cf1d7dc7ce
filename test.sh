#!/usr/bin/env bash
# Runs every test of the workspace. Needs only the Rust toolchain (cargo); everything
# else is fetched from crates.io by cargo itself.
set -euo pipefail
cd "$(dirname "$0")"
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
cargo fmt --all -- --check
# Moderate parallelism: the build machine has 2 cores.
RUST_TEST_THREADS=2 cargo test --workspace --all-targets
