#!/usr/bin/env bash
# Installs what the dashboard's browser test (tests/dashboard.rs → tests/browser/dashboard.mjs)
# needs, idempotently, on a Debian machine:
#   chromium       — Debian's package, driven headless at /usr/bin/chromium (apt-get, only when
#                    missing)
#   playwright-core — the pinned version of tests/browser/package-lock.json, from npm, into a
#                    cache outside the clone; playwright's own browser builds are never fetched
# Logs go to stderr; the last line on stdout is the node_modules directory to put in NODE_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${ILLUNARE_BROWSER_CACHE:-$HOME/.cache/illunare/browser}"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
log() { echo "browser.sh: $*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ! -x /usr/bin/chromium ]; then
  log "installing chromium (apt-get)"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2; then
    log "apt-get update failed: Debian's package repositories are unreachable"
    exit 1
  fi
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >&2; then
    log "apt-get install chromium failed"
    exit 1
  fi
fi
if [ ! -x /usr/bin/chromium ]; then
  log "/usr/bin/chromium is still missing after installing the chromium package"
  exit 1
fi

if ! command -v npm >/dev/null 2>&1; then
  log "installing nodejs and npm (apt-get)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
fi

# The lock file is the stamp: a cache installed from the same lock is reused as it is.
mkdir -p "$cache"
if ! cmp -s tests/browser/package-lock.json "$cache/package-lock.json" || [ ! -f "$cache/node_modules/playwright-core/package.json" ]; then
  log "installing playwright-core into $cache"
  cp tests/browser/package.json "$cache/package.json"
  cp tests/browser/package-lock.json "$cache/package-lock.json"
  if ! (cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2); then
    rm -f "$cache/package-lock.json"
    log "npm ci failed"
    exit 1
  fi
fi
echo "$cache/node_modules"
