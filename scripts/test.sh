#!/usr/bin/env bash
# Sets up and runs the whole suite. Uses DATABASE_URL / CELERY_BROKER_URL from the environment when set;
# when unset (set-but-empty means "use the embedded default") finds local PostgreSQL (5432) and Redis (6379), and falls back to SQLite with the
# service-bound tests skipped (each skip says why; EDGEPORTAL_REQUIRE_SERVICES=1 turns skips into failures).
source "$(dirname "$0")/bootstrap.sh"

# The browser tests drive Debian's chromium; as root on Debian it is installed here, elsewhere they skip with the reason.
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing Debian's chromium for the browser tests (once)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "   could not install chromium: the browser tests will be skipped"
fi

if [ -z "${DATABASE_URL+set}" ] && port_open 127.0.0.1 5432; then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/edgeportal"
fi
if [ -z "${CELERY_BROKER_URL+set}" ] && port_open 127.0.0.1 6379; then
  export CELERY_BROKER_URL="redis://127.0.0.1:6379/1"
fi
if [ -z "${EDGEPORTAL_TEST_REPLICA_URL+set}" ] && [ -f /tmp/edgeportal-replica-5433/standby.signal ] && port_open 127.0.0.1 5433; then
  export EDGEPORTAL_TEST_REPLICA_URL="postgres://postgres@127.0.0.1:5433/postgres"   # scripts/replica.sh start
fi
if [ -n "${CELERY_BROKER_URL:-}" ] && [ -z "${REDIS_URL:-}" ]; then
  export REDIS_URL="$CELERY_BROKER_URL"
fi
echo "== database: ${DATABASE_URL:-SQLite (no PostgreSQL found)}"
echo "== broker:   ${CELERY_BROKER_URL:-none (tasks in process; worker tests skipped)}"
echo "== replica:  ${EDGEPORTAL_TEST_REPLICA_URL:-none (replica tests skipped; scripts/replica.sh start)}"
exec "$PY" -m pytest --create-db "$@"
