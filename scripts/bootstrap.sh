#!/usr/bin/env bash
# Creates .venv (Python 3.11) with the pinned dependency set and installs the pinned Node
# packages. Idempotent: a second run only checks that everything is in place.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python_bin=""
for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
        python_bin="$candidate"
        break
    fi
done
if [ -z "$python_bin" ]; then
    echo "error: Python 3.11 is required (install it, e.g. with pyenv or apt)" >&2
    exit 1
fi
command -v node >/dev/null 2>&1 || { echo "error: Node.js 20 is required (apt-get install nodejs npm)" >&2; exit 1; }

extras="${1:-}"
stamp=".venv/.installed${extras:+-$extras}"
if [ ! -x .venv/bin/python ]; then
    "$python_bin" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -c requirements.lock \
        -e ".${extras:+[$extras]}"
    touch "$stamp"
fi
if [ ! -d node/node_modules ] || [ node/package-lock.json -nt node/node_modules ]; then
    (cd node && npm ci --no-audit --no-fund --loglevel=error)
fi
# Dev only: a PostgreSQL server for the indexer's tests (tests/postgres.py starts a throwaway
# one). Debian puts initdb under /usr/lib/postgresql/<version>/bin, off PATH; the tests look
# there too. Without root or apt-get the tests that need it are skipped, not failed.
if [ "$extras" = "dev" ] && ! command -v initdb >/dev/null 2>&1 &&
    ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends postgresql ||
            { apt-get update && apt-get install -y --no-install-recommends postgresql; } ||
            echo "warning: could not install PostgreSQL; its tests will be skipped" >&2
    else
        echo "warning: PostgreSQL is not installed (apt-get install postgresql); its tests will be skipped" >&2
    fi
fi
# Dev only: Debian's Chromium for the dashboard's browser tests (Playwright drives
# /usr/bin/chromium; never `playwright install`, which downloads a browser build).
if [ "$extras" = "dev" ] && [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends chromium ||
            { apt-get update && apt-get install -y --no-install-recommends chromium; } ||
            echo "warning: could not install Chromium; the browser tests will be skipped" >&2
    else
        echo "warning: Chromium is not installed (apt-get install chromium); the browser tests will be skipped" >&2
    fi
fi
