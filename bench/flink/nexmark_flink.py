"""Runs one Nexmark query in Apache Flink (PyFlink, local mini-cluster) over the CSV files that
`illunare generate nexmark --format csv` writes (without their header line), for `bench/flink.sh`.

  --mode time   INSERT INTO a blackhole sink; prints one JSON line {"query", "seconds"}: the
                job's wall time from submission to completion (the JVM and the table
                environment are started before the clock starts, as illunare's process is).
  --mode rows   collects the query's changelog, applies it (+I/+U add a row, -U/-D remove one)
                and writes the final rows as JSON lines to --out, for the equality check.

Flink's CSV format reads columns by position and has no header option, so bench/flink.sh gives
it copies of the files without their first line (any parse error then fails the job). Times are
RFC 3339 text with microseconds, converted in computed columns; the watermark is the same
`date_time - 4 s` as in pipelines/nexmark/*.sql (see `source_ddl`).
"""

import argparse
import json
import os
import sys
import time

from pyflink.common import RowKind
from pyflink.table import EnvironmentSettings, TableEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))


def timestamp(text_column):
    # '2015-07-15T00:00:01.2345Z' -> TIMESTAMP(6)
    return f"CAST(REPLACE(REPLACE({text_column}, 'T', ' '), 'Z', '') AS TIMESTAMP(6))"


def source_ddl(data_dir):
    options = lambda table: (
        f"WITH ('connector' = 'filesystem', 'path' = '{os.path.join(data_dir, table + '.csv')}', 'format' = 'csv')"
    )
    # Event times have microseconds; Flink's rowtime attribute is TIMESTAMP(3). So `date_time`
    # keeps the microseconds for comparisons and output, and `rt` (the same time truncated to
    # the millisecond, which moves no row across a window boundary) carries the watermark and
    # is what the window TVFs use.
    # (A computed column cannot read another one, hence `rt` from the text again.)
    rowtime = f"rt AS CAST({timestamp('date_time_text')} AS TIMESTAMP(3)), WATERMARK FOR rt AS rt - INTERVAL '4' SECOND"
    return [
        f"""CREATE TABLE person (id BIGINT, name STRING, email_address STRING, credit_card STRING,
              city STRING, state STRING, date_time_text STRING, extra STRING,
              date_time AS {timestamp('date_time_text')}, {rowtime}) {options('person')}""",
        f"""CREATE TABLE auction (id BIGINT, item_name STRING, description STRING, initial_bid BIGINT,
              reserve BIGINT, date_time_text STRING, expires_text STRING, seller BIGINT, category BIGINT,
              extra STRING, date_time AS {timestamp('date_time_text')}, expires AS {timestamp('expires_text')},
              {rowtime}) {options('auction')}""",
        f"""CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
              date_time_text STRING, extra STRING, date_time AS {timestamp('date_time_text')},
              {rowtime}) {options('bid')}""",
    ]


def plain(value):
    """A JSON-friendly value: times as 'YYYY-MM-DD HH:MM:SS.ffffff', decimals as float."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ", timespec="microseconds")
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--query", required=True, help="q0 … q8 (bench/flink/queries/<query>.sql)")
    parser.add_argument("--data", required=True, help="directory with person.csv, auction.csv, bid.csv")
    parser.add_argument("--mode", choices=["time", "rows"], default="time")
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--out", help="rows mode: where to write the final rows (JSON lines)")
    args = parser.parse_args()

    with open(os.path.join(HERE, "queries", f"{args.query}.sql")) as f:
        query = f.read().strip().rstrip(";")

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    config.set("parallelism.default", str(args.parallelism))
    config.set("table.exec.resource.default-parallelism", str(args.parallelism))
    for ddl in source_ddl(os.path.abspath(args.data)):
        env.execute_sql(ddl)

    if args.mode == "time":
        schema = env.sql_query(query).get_schema()
        columns = ", ".join(f"`{n}` {t}" for n, t in zip(schema.get_field_names(), schema.get_field_data_types()))
        env.execute_sql(f"CREATE TABLE sink ({columns}) WITH ('connector' = 'blackhole')")
        start = time.monotonic()
        env.execute_sql(f"INSERT INTO sink {query}").wait()
        seconds = time.monotonic() - start
        print(json.dumps({"query": args.query, "seconds": seconds}))
        return

    final = {}
    with env.execute_sql(query).collect() as results:
        for row in results:
            key = json.dumps([plain(v) for v in row._values])
            kind = row.get_row_kind()
            if kind in (RowKind.INSERT, RowKind.UPDATE_AFTER):
                final[key] = final.get(key, 0) + 1
            else:
                final[key] = final.get(key, 0) - 1
    out = open(args.out, "w") if args.out else sys.stdout
    for key, count in sorted(final.items()):
        if count < 0:
            raise SystemExit(f"{args.query}: row retracted more often than inserted: {key}")
        for _ in range(count):
            out.write(key + "\n")


if __name__ == "__main__":
    main()
