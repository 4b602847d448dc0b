#!/usr/bin/env bash
# Makes a PostgreSQL server available for the postgres sink's tests, idempotently, on a Debian
# machine: listening on 127.0.0.1:5432, trust authentication on loopback, a `test` database.
# Installs the `postgresql` package (non-interactive) only when no server answers and none is
# installed. Logs go to stderr; the last line on stdout is the URL to use:
#   postgres://postgres@127.0.0.1:5432/test
set -euo pipefail

HOST=127.0.0.1
PORT=5432
URL="postgres://postgres@${HOST}:${PORT}/test"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
ready() { pg_isready -q -h "$HOST" -p "$PORT" >/dev/null 2>&1; }
log() { echo "postgres.sh: $*" >&2; }

if ! ready; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    log "installing postgresql (apt-get)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  fi
  version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
  if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" { found = 1 } END { exit !found }'; then
    log "creating cluster $version/main"
    as_root pg_createcluster --port "$PORT" "$version" main >&2
  fi
  conf="/etc/postgresql/$version/main"
  # Loopback TCP only; trust on loopback (test machine): prepend so it wins over md5/scram.
  if ! grep -Eq "^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust" "$conf/pg_hba.conf"; then
    log "enabling trust authentication on 127.0.0.1"
    as_root sed -i "1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust" "$conf/pg_hba.conf"
  fi
  log "starting cluster $version/main"
  as_root pg_ctlcluster "$version" main start >&2 || as_root service postgresql start >&2 || true
  for _ in $(seq 1 60); do
    ready && break
    sleep 0.5
  done
  if ! ready; then
    log "PostgreSQL does not answer on $HOST:$PORT"
    exit 1
  fi
fi

# Trust on loopback (a server already running with password authentication is fixed too).
if ! psql -w -h "$HOST" -p "$PORT" -U postgres -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; then
  hba="$(as_postgres psql -tAc 'SHOW hba_file')"
  log "enabling trust authentication on 127.0.0.1 in $hba"
  as_root sed -i "1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust" "$hba"
  as_postgres psql -tAc 'SELECT pg_reload_conf()' >/dev/null
  sleep 0.5
fi

q() { psql -w -h "$HOST" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -tAc "$1"; }
if [ "$(q "SELECT 1 FROM pg_database WHERE datname = 'test'")" != "1" ]; then
  log "creating database test"
  q "CREATE DATABASE test" >/dev/null
fi
if [ "$(q "SELECT 1 FROM pg_roles WHERE rolname = 'root'")" != "1" ]; then
  q "CREATE ROLE root SUPERUSER LOGIN" >/dev/null
fi
echo "$URL"
