"""Reads a Parquet sink's directory with DuckDB (not ours), the way a user would: the files its
_manifest.json lists, Hive partitions from the paths. Prints the rows of a query over them, one
per line, values joined by '|'.

Usage: duckdb_query.py DIR SQL   (SQL reads the relation `t`)
"""

import sys

import duckdb

from sink_manifest import listed_files


def main():
    directory, sql = sys.argv[1], sys.argv[2]
    files = listed_files(directory)
    con = duckdb.connect()
    listed = ", ".join("'" + path.replace("'", "''") + "'" for path in files)
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet([{listed}], hive_partitioning = true)")
    for row in con.execute(sql).fetchall():
        print("|".join("NULL" if v is None else str(v) for v in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
