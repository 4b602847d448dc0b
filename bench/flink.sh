#!/usr/bin/env bash
# Nexmark side by side with Apache Flink: the same CSV files, the same queries, the same machine,
# one engine after the other.
#
#   bench/flink.sh [--events 2000000] [--check-events 20000] [--queries 0,1,2,3,4,5,6,7,8] [--workers 2]
#
# 1. Installs Flink from PyPI into a venv outside the clone (idempotent) and builds illunare in
#    release mode.
# 2. Check: over --check-events events, runs every query in both engines and compares the final
#    rows (Flink's changelog applied; illunare's view) as multisets.
# 3. Throughput: over --events events, runs every query in both engines (each into its blackhole
#    sink: results computed, nothing kept) with the same parallelism and prints events/s and
#    the ratio. Flink's time is the job's, from submission to completion, with the JVM and mini
#    cluster already up; illunare's is from pipeline start to the end of the input.
#
# Flink's queries are bench/flink/queries/qN.sql (Flink's window TVF syntax); illunare's are
# pipelines/nexmark/qN.sql with the generator sources replaced by file sources over the same files.
set -euo pipefail
cd "$(dirname "$0")/.."

events=2000000
check_events=20000
queries="0,1,2,3,4,5,6,7,8"
workers=2
while [ $# -gt 0 ]; do
  case "$1" in
    --events) events="$2"; shift 2 ;;
    --check-events) check_events="$2"; shift 2 ;;
    --queries) queries="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

cache="$HOME/.cache/illunare"
venv="$cache/flink-venv"
flink_version="2.3.0"
if ! "$venv/bin/python" -c "import pyflink" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "apache-flink==$flink_version"
fi
export CARGO_TARGET_DIR="${ILLUNARE_RELEASE_TARGET:-$cache/target-release}"
cargo build --release -q -p illunare -p illunare-bench
bin="$CARGO_TARGET_DIR/release"
work="$cache/flink-bench"
mkdir -p "$work"

# Generates N events once into $work/N; Flink gets copies without the header line.
data() {
  local dir="$work/$1"
  if [ ! -f "$dir/.done" ]; then
    rm -rf "$dir"
    "$bin/illunare" generate nexmark --events "$1" --seed 1 --format csv --out "$dir" >/dev/null
    mkdir -p "$dir/flink"
    for table in person auction bid; do tail -n +2 "$dir/$table.csv" > "$dir/flink/$table.csv"; done
    touch "$dir/.done"
  fi
  echo "$dir"
}

flink() { "$venv/bin/python" bench/flink/nexmark_flink.py --parallelism "$workers" "$@" 2>"$work/flink.log"; }

echo "Nexmark, illunare vs Apache Flink $flink_version (PyFlink local mini-cluster), parallelism $workers"
echo "machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"

dir="$(data "$check_events")"
echo
echo "## Same rows? ($check_events events)"
failed=0
for q in ${queries//,/ }; do
  ours="$work/q$q.illunare.jsonl"; theirs="$work/q$q.flink.jsonl"
  if ! "$bin/bench" nexmark --only "q$q" --workers "$workers" --data "$dir" --dump "$ours" >/dev/null; then
    echo "q$q: illunare failed"; failed=1; continue
  fi
  if ! flink --query "q$q" --data "$dir/flink" --mode rows --out "$theirs"; then
    echo "q$q: Flink failed: $(grep -m1 -o 'Caused by: [^$]*' "$work/flink.log" | tail -c 300 || true)"; continue
  fi
  "$venv/bin/python" bench/flink/same_rows.py "q$q" "$ours" "$theirs" || failed=1
done

dir="$(data "$events")"
echo
echo "## Throughput ($events events)"
echo "| query | illunare events/s | Flink events/s | illunare / Flink |"
echo "| --- | --- | --- | --- |"
for q in ${queries//,/ }; do
  line="$("$bin/bench" nexmark --only "q$q" --workers "$workers" --data "$dir" --blackhole 2>/dev/null || true)"
  ours="$(echo "$line" | awk -F'|' 'NF > 5 { gsub(/ /, "", $5); print $5 }')"
  theirs_s="$(flink --query "q$q" --data "$dir/flink" --mode time | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])' 2>/dev/null || true)"
  n="$(echo "$line" | awk -F'|' 'NF > 5 { gsub(/ /, "", $3); print $3 }')"
  if [ -z "$ours" ] || [ -z "$theirs_s" ]; then
    echo "| q$q | ${ours:-failed} | ${theirs_s:+$theirs_s s}${theirs_s:-failed} | — |"
    continue
  fi
  awk -v q="q$q" -v ours="$ours" -v n="$n" -v s="$theirs_s" 'BEGIN { theirs = n / s; printf "| %s | %.0f | %.0f | %.2fx |\n", q, ours, theirs, ours / theirs }'
done
exit "$failed"
