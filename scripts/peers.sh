#!/usr/bin/env bash
# Installs the protocol peers the interop tests talk to — servers written by someone else, from
# PyPI — into a venv outside the clone, and prints its python path. Idempotent: a venv that
# already has the pinned versions is reused.
#   pymodbus  — Modbus TCP server (tests/modbus_interop.rs, bench modbus)
#   asyncua   — OPC UA server (tests/opcua_interop.rs)
#   confluent-kafka — a Kafka producer/consumer we did not write (tests/kafka_interop.rs)
#   fastavro  — an Avro encoder we did not write (tests/kafka_interop.rs)
#   moto[server] — an S3 server (tests/parquet_source.rs, tests/parquet_sink.rs)
#   duckdb    — a Parquet reader we did not write (tests/parquet_sink.rs)
#   pyspark   — Apache Spark (local mode, on the machine's Java 17), another Parquet reader
#               (tests/parquet_sink.rs)
#   psycopg   — a Postgres client we did not write, server-side binding (tests/pgwire_clients.rs)
set -euo pipefail
venv="${ILLUNARE_PEERS_VENV:-$HOME/.cache/illunare/peers-venv}"
want="pymodbus==3.16.1 asyncua==2.1.0 confluent-kafka==2.12.1 moto[server]==5.2.5 duckdb==1.4.2 pyspark==3.5.3 fastavro==1.9.7 psycopg[binary]==3.3.9"
stamp="$venv/.illunare-peers"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "$venv/bin/python"
  exit 0
fi
python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check $want >&2
echo "$want" > "$stamp"
echo "$venv/bin/python"
