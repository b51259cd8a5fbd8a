#!/usr/bin/env bash
# Best effort: PostgreSQL server binaries for tests/test_sql.py, which starts a
# throwaway cluster of its own (and skips when there are no binaries). This script
# never fails CI: without root or apt, it does nothing and the SQL tests skip.
set -u
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "postgres.sh: no PostgreSQL server binaries and no root apt-get; the SQL tests will skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends postgresql >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null 2>&1 \
        || echo "postgres.sh: could not install postgresql; the SQL tests will skip" >&2
fi
exit 0
