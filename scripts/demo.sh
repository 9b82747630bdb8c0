#!/usr/bin/env bash
# One command, fresh machine, no servers: SQLite, tasks in process, seeded demo data, server on :8000.
# SIZE=small|standard|full (default standard: 120 devices × 7 days, serving within a minute of the install).
source "$(dirname "$0")/bootstrap.sh"
export DEBUG="${DEBUG:-1}"
unset DATABASE_URL CELERY_BROKER_URL REDIS_URL
SIZE="${SIZE:-standard}"
echo "== 1/3 database: migrating SQLite (db.sqlite3)"
"$PY" manage.py migrate --noinput | grep -E "^  Applying" | awk 'BEGIN{n=0} {n++} END{print "   " n " migrations applied"}'
echo "== 2/3 demo data (${SIZE}): users, catalog, fleet telemetry, lab history"
"$PY" manage.py seed_demo --size "$SIZE"
echo "== 3/3 EdgePortal demo on http://127.0.0.1:${PORT:-8000}/ — sign in with a user printed above"
echo "   pm (viewer): compat matrix and ship verdicts · support: devices and crashes · admin: everything, API keys"
exec "$PY" manage.py runserver --noreload "127.0.0.1:${PORT:-8000}"
