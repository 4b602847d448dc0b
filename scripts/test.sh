#!/usr/bin/env bash
# Runs every test of the project: unit tests, the sqllogictest suite, pipeline golden files,
# the batch oracle, property tests and the 2-process cluster test.
# Idempotent; installs nothing system-wide that the engine core needs (pure Rust).
set -euo pipefail
cd "$(dirname "$0")/.."
# A target directory outside the clone, reused between runs (CI runs on this machine).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/illunare/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast
