#!/usr/bin/env bash
# One command, fresh machine, no servers: SQLite, tasks in process, seeded demo data, server on :8000.
source "$(dirname "$0")/bootstrap.sh"
export DEBUG="${DEBUG:-1}"
unset DATABASE_URL CELERY_BROKER_URL REDIS_URL
"$PY" manage.py migrate --noinput
"$PY" manage.py seed_demo
echo "== EdgePortal demo on http://127.0.0.1:${PORT:-8000}/ (sign in with a user printed above)"
exec "$PY" manage.py runserver "127.0.0.1:${PORT:-8000}"
