"""Talks to illunare's Postgres protocol with psycopg 3 (a client we did not write), the way an
application would: DDL and DML, reads with server-side parameter binding (prepared
statements), results in text and in binary, an error and a recovery. Prints one JSON object
with what it read.

Usage: pg_client.py PORT [PASSWORD]
"""

import datetime
import decimal
import json
import sys
import time

import psycopg


def main():
    port = int(sys.argv[1])
    password = sys.argv[2] if len(sys.argv) > 2 else None
    out = {}
    with psycopg.connect(host="127.0.0.1", port=port, user="app", dbname="illunare", password=password) as conn:
        out["server_version"] = conn.info.server_version
        with conn.cursor() as cur:
            # Without autocommit psycopg opens a transaction (BEGIN) before the first statement.
            cur.execute(
                "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer TEXT, amount DECIMAL(10, 2), paid BOOLEAN, at TIMESTAMP, day DATE)"
            )
            cur.execute("CREATE MATERIALIZED VIEW per_customer AS SELECT customer, count(*) AS n, sum(amount) AS total FROM orders GROUP BY customer")
            rows = [
                (1, "ann", decimal.Decimal("10.50"), True, datetime.datetime(2026, 11, 27, 19, 0, 0, 250000), datetime.date(2026, 11, 27)),
                (2, "bob", decimal.Decimal("3.25"), False, datetime.datetime(2026, 11, 27, 19, 30), datetime.date(2026, 11, 27)),
                (3, "ann", decimal.Decimal("1.00"), True, datetime.datetime(2026, 11, 28, 8, 0), datetime.date(2026, 11, 28)),
            ]
            for row in rows:
                cur.execute("INSERT INTO orders VALUES (%s, %s, %s, %s, %s, %s)", row, prepare=True)
            out["insert_rowcount"] = cur.rowcount
        conn.commit()

        # Server-side binding of a prepared read, run twice with different values.
        with conn.cursor() as cur:
            found = []
            for wanted in (1, 2):
                cur.execute("SELECT id, customer, amount, paid, at, day FROM orders WHERE id = %s", (wanted,), prepare=True)
                found.extend(cur.fetchall())
            out["by_id"] = [[r[0], r[1], str(r[2]), r[3], r[4].isoformat(), r[5].isoformat()] for r in found]
            cur.execute("SELECT id FROM orders WHERE customer = %s AND amount > %s ORDER BY id", ("ann", decimal.Decimal("0.5")), prepare=True)
            out["by_customer"] = [r[0] for r in cur.fetchall()]

        # Binary results: psycopg decodes numeric, timestamps and dates from Postgres' binary forms.
        with conn.cursor(binary=True) as cur:
            cur.execute("SELECT id, amount, at, day, paid FROM orders WHERE id = %s", (1,))
            r = cur.fetchone()
            out["binary"] = [r[0], str(r[1]), r[2].isoformat(), r[3].isoformat(), r[4]]

        # The materialized view catches up with the committed inserts.
        deadline = time.time() + 30
        with conn.cursor() as cur:
            while True:
                cur.execute("SELECT customer, n, total FROM per_customer ORDER BY customer")
                view = cur.fetchall()
                if sum(r[1] for r in view) == 3 or time.time() > deadline:
                    break
                time.sleep(0.02)
            out["view"] = [[r[0], r[1], str(r[2])] for r in view]
        conn.commit()

        # An error is a Python exception with the SQLSTATE; the connection recovers.
        with conn.cursor() as cur:
            try:
                cur.execute("SELECT * FROM nope WHERE id = %s", (1,))
                out["error"] = None
            except psycopg.errors.UndefinedTable as e:
                out["error"] = e.sqlstate
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM orders")
            out["after_error"] = cur.fetchone()[0]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
