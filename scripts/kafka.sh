#!/usr/bin/env bash
# Installs the Kafka-protocol broker the Kafka connector's tests run against — tansu, from
# crates.io, with its sqlite storage — outside the clone, and prints the binary's path.
# Idempotent: an installed binary of the pinned version is reused (the first build takes
# 10–20 minutes on 2 cores). Each test starts its own broker on a free loopback port:
#   tansu broker --listener-url tcp://127.0.0.1:P --advertised-listener-url tcp://127.0.0.1:P \
#                --storage-engine sqlite://tansu.db   (run in the storage directory: the path is
#                relative to tansu's working directory)
set -euo pipefail
root="${ILLUNARE_TOOLS:-$HOME/.cache/illunare/tools}"
version="0.6.0"
bin="$root/bin/tansu"
stamp="$root/.tansu-version"
if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
  echo "$bin"
  exit 0
fi
echo "kafka.sh: building tansu $version (cargo install, once)" >&2
CARGO_TARGET_DIR="$HOME/.cache/illunare/target-tools" \
  cargo install --quiet --locked --root "$root" --version "$version" tansu --features dynostore,libsql >&2
echo "$version" > "$stamp"
echo "$bin"
