#!/usr/bin/env bash
# Runs every test of the project: unit tests, the sqllogictest suite, pipeline golden files,
# the batch oracle, property tests, CLI tests, the 2-process cluster test, and the interop tests
# against protocol servers we did not write (pymodbus, asyncua, confluent-kafka: installed by
# scripts/peers.sh into a venv outside the clone), the Kafka connectors against a real
# Kafka-protocol broker (tansu, built once by scripts/kafka.sh) and the Postgres sink against a
# real PostgreSQL (started, and installed if missing, by scripts/postgres.sh). Idempotent;
# loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
# A target directory outside the clone, reused between runs (CI runs on this machine).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/illunare/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
scripts/peers.sh >/dev/null
scripts/postgres.sh >/dev/null
scripts/kafka.sh >/dev/null
scripts/browser.sh >/dev/null
cargo build --workspace --all-targets
status=0
cargo test --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite: every libtest summary plus the slt runner's.
awk '
  /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i } }
  /^[0-9]+ passed, [0-9]+ failed$/ { p += $1; f += $3 }
  END { printf "%d passed, %d failed\n", p, f }
' "$log"
exit "$status"
