#!/usr/bin/env bash
# A throwaway streaming read replica of the local PostgreSQL, for the replica tests and the scale rehearsal.
#
#   scripts/replica.sh start    base backup of the primary (pg_basebackup -R) into REPLICA_DIR, started on
#                               REPLICA_PORT as a hot standby; a replica already running is left as it is, and a
#                               stopped one is made again (its WAL position may be gone from the primary)
#   scripts/replica.sh stop     stops it and removes its data directory
#   scripts/replica.sh status   exit 0 when it runs and is in recovery
#
# Runs the PostgreSQL commands as the postgres user (directly, or through runuser when run as root). The primary
# must accept replication connections from 127.0.0.1: when its pg_hba.conf has no such line, `start` adds a trust
# line for 127.0.0.1 only and reloads it (what `host all` matches excludes replication).
set -euo pipefail

PRIMARY_HOST=${PRIMARY_HOST:-127.0.0.1}
PRIMARY_PORT=${PRIMARY_PORT:-5432}
REPLICA_PORT=${REPLICA_PORT:-5433}
REPLICA_DIR=${REPLICA_DIR:-/tmp/edgeportal-replica-$REPLICA_PORT}
LOG="$REPLICA_DIR.log"

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"
  elif [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"
  else echo "replica.sh: run as root or as the postgres user" >&2; exit 1
  fi
}
primary_sql() { as_postgres psql -X -q -At -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres -d postgres -c "$1"; }
replica_sql() { as_postgres psql -X -q -At -h 127.0.0.1 -p "$REPLICA_PORT" -U postgres -d postgres -c "$1" 2>/dev/null; }

pgbin() {
  if [ -n "${PGBIN:-}" ]; then echo "$PGBIN"; return; fi
  local major
  major=$(( $(primary_sql "SHOW server_version_num") / 10000 ))
  echo "/usr/lib/postgresql/$major/bin"
}

running() { [ -f "$REPLICA_DIR/postmaster.pid" ] && [ "$(replica_sql 'SELECT pg_is_in_recovery()')" = t ]; }

stop() {
  if [ -f "$REPLICA_DIR/postmaster.pid" ]; then
    as_postgres "$(pgbin)/pg_ctl" -D "$REPLICA_DIR" -m fast -w stop >/dev/null || true
  fi
  rm -rf "$REPLICA_DIR"
}

allow_replication_from_loopback() {
  if [ "$(primary_sql "SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY(database)
        AND type = 'host' AND (address IS NULL OR address = '127.0.0.1' OR address = 'all')")" != 0 ]; then
    return
  fi
  local hba
  hba=$(primary_sql "SHOW hba_file")
  echo "== $hba: adding 'host replication all 127.0.0.1/32 trust' and reloading"
  printf '%s\n' "# Added by EdgePortal scripts/replica.sh: a local streaming replica for tests" \
    "host replication all 127.0.0.1/32 trust" >>"$hba"
  primary_sql "SELECT pg_reload_conf()" >/dev/null
}

start() {
  if running; then echo "== replica already running on 127.0.0.1:$REPLICA_PORT ($REPLICA_DIR)"; return; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$REPLICA_PORT") 2>/dev/null; then
    echo "replica.sh: port $REPLICA_PORT is taken by another server (set REPLICA_PORT)" >&2; exit 1
  fi
  stop  # a stale directory from an earlier run: its WAL position may be gone from the primary
  allow_replication_from_loopback
  local bin
  bin=$(pgbin)
  mkdir -p "$(dirname "$REPLICA_DIR")"
  as_postgres "$bin/pg_basebackup" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres -D "$REPLICA_DIR" \
    -R -X stream -c fast
  # Debian keeps postgresql.conf and pg_hba.conf beside the cluster, not in it: the copy gets its own. A hot
  # standby must allow at least the primary's connections, workers, prepared transactions and locks.
  local setting conf="$REPLICA_DIR/postgresql.conf"
  {
    echo "port = $REPLICA_PORT"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$REPLICA_DIR'"
    echo "hot_standby = on"
    echo "hot_standby_feedback = on"   # a long export is not cancelled by the primary vacuuming rows it reads
    echo "shared_buffers = '64MB'"
    for setting in max_connections max_worker_processes max_prepared_transactions max_locks_per_transaction \
      max_wal_senders; do
      echo "$setting = $(primary_sql "SHOW $setting")"
    done
  } | as_postgres tee "$conf" >/dev/null
  printf '%s\n' "local all all trust" "host all all 127.0.0.1/32 trust" | as_postgres tee "$REPLICA_DIR/pg_hba.conf" >/dev/null
  as_postgres touch "$REPLICA_DIR/pg_ident.conf"
  touch "$LOG" && chown postgres "$LOG" 2>/dev/null || true
  # 9>&-: the server must not inherit the lock below, or it would hold it for as long as it runs.
  as_postgres "$bin/pg_ctl" -D "$REPLICA_DIR" -l "$LOG" -w -t 60 start >/dev/null 9>&-
  for _ in $(seq 60); do running && break; sleep 0.5; done
  running || { echo "replica.sh: the replica did not come up in recovery; see $LOG" >&2; exit 1; }
  echo "== replica streaming from $PRIMARY_HOST:$PRIMARY_PORT on 127.0.0.1:$REPLICA_PORT ($REPLICA_DIR)"
}

# One start or stop at a time per port (two test runs on one machine share the replica).
exec 9>"/tmp/edgeportal-replica-$REPLICA_PORT.lock"
flock 9
case "${1:-}" in
  start) start ;;
  stop) stop; echo "== replica on port $REPLICA_PORT stopped" ;;
  status) running ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
