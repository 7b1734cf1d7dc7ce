#!/usr/bin/env bash
# Runs every test of the workspace. Needs the Rust toolchain and Python 3; everything else
# is fetched: crates by cargo, and moto's server (the AWS emulator the function tests run
# against), cfn-lint, Segment's Python library (the tracking tests' real client),
# Selenium, check-jsonschema, schemathesis, openapi-spec-validator, cargo-lambda (the local
# Lambda recipe's test) and the SAM CLI (`sam validate --lint`) into a project-local virtual
# environment, .venv/; and Debian's chromium and
# chromedriver with apt when they are missing (the console's browser test).
set -euo pipefail
cd "$(dirname "$0")"
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 not found: the AWS emulator (moto) needs it" >&2; exit 1; }
if [ ! -x .venv/bin/moto_server ] || [ ! -x .venv/bin/cfn-lint ] || ! .venv/bin/python -c 'import segment.analytics, selenium' 2>/dev/null || [ ! -x .venv/bin/check-jsonschema ] || [ ! -x .venv/bin/schemathesis ] || [ ! -x .venv/bin/cargo-lambda ] || [ ! -x .venv/bin/sam ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6' 'cfn-lint>=1,<2' \
    'segment-analytics-python>=2,<3' 'selenium>=4.20,<5' 'check-jsonschema>=0.29,<1' \
    'schemathesis>=4.3,<5' 'openapi-spec-validator>=0.7,<1' 'cargo-lambda>=1.8,<2' 'aws-sam-cli>=1.100,<2'
fi
# The console's browser test drives Debian's chromium through chromedriver.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi
python3 scripts/check-repository.py   # rust-version matches the lockfile; no big binaries or secrets in git
cargo fmt --all -- --check
# Moderate parallelism: the build machine has 2 cores.
RUST_TEST_THREADS=2 cargo test --workspace --all-targets
