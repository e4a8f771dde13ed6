#!/usr/bin/env bash
# The production topology of deploy/docker-compose.yaml on one host, without containers: the
# same services with the same commands (dagster-init, the gRPC code server, the webserver through
# deploy/workspace.yaml's grpc_server entry, the daemon and the ops API) as processes, on a
# PostgreSQL Dagster instance (deploy/dagster.yaml) and a PostgreSQL store.
#
#   make install                    # the virtual environment the commands come from
#   deploy/topology.sh up           # create the databases if missing, start, wait until healthy
#   deploy/topology.sh status       # each service's process and compose's health check
#   eval "$(deploy/topology.sh env)"  # this shell now talks to the same store and instance
#   deploy/topology.sh down         # stop every service (and the runs they started)
#   deploy/topology.sh commands     # what each service runs (compose's commands)
#
# Settings (environment; defaults in brackets): PGHOST [127.0.0.1], PGPORT [5432], PGUSER
# [postgres], PGPASSWORD [none: trust auth], TOPOLOGY_DAGSTER_DB [invoice_dagster],
# TOPOLOGY_STORE_DB [invoice_store], TOPOLOGY_GRPC_PORT [4000], DAGSTER_UI_PORT [3000],
# INVOICE_API_PORT [8080], TOPOLOGY_DIR [.invoice_home/topology: logs, pids, DAGSTER_HOME and the
# data folder with the inbox], INVOICE_OPENAI_POOL_LIMIT [2], INVOICE_BACKFILL_POLICY [per_day],
# INVOICE_OPS_TOKENS_FILE [deploy/ops-tokens.yaml]. OPENAI_API_KEY and the other optional
# product variables (README "Configuration") pass through to the code server and its runs.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${INVOICE_BIN:-$REPO/.venv/bin}
STATE=${TOPOLOGY_DIR:-$REPO/.invoice_home/topology}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
PGPASSWORD=${PGPASSWORD:-}
DAGSTER_DB=${TOPOLOGY_DAGSTER_DB:-invoice_dagster}
STORE_DB=${TOPOLOGY_STORE_DB:-invoice_store}
GRPC_PORT=${TOPOLOGY_GRPC_PORT:-4000}
UI_PORT=${DAGSTER_UI_PORT:-3000}
API_PORT=${INVOICE_API_PORT:-8080}
SERVICES=(codeserver webserver daemon ops-api)

# What compose's x-dagster-env and x-invoice-env give the services, pointed at this host.
export DAGSTER_HOME="$STATE/dagster_home"
export DAGSTER_PG_USERNAME="$PGUSER"
export DAGSTER_PG_PASSWORD="${PGPASSWORD:-unused-with-trust-auth}"
export DAGSTER_PG_HOST="$PGHOST"
export DAGSTER_PG_PORT="$PGPORT"
export DAGSTER_PG_DB="$DAGSTER_DB"
export DAGSTER_CODE_SERVER_HOST=127.0.0.1
export DAGSTER_CODE_SERVER_PORT="$GRPC_PORT"
export INVOICE_HOME="$STATE/data"
export INVOICE_INBOX="$STATE/data/inbox"
export INVOICE_DB_URL="postgresql+psycopg2://$PGUSER${PGPASSWORD:+:$PGPASSWORD}@$PGHOST:$PGPORT/$STORE_DB"
export INVOICE_BACKFILL_POLICY="${INVOICE_BACKFILL_POLICY:-per_day}"
export INVOICE_OPS_TOKENS_FILE="${INVOICE_OPS_TOKENS_FILE:-$REPO/deploy/ops-tokens.yaml}"

say() { printf '%s\n' "$*" >&2; }

command_of() {
  # The command compose gives a service (docker-compose.yaml), on this host's ports.
  case "$1" in
    codeserver) echo "$BIN/dagster code-server start -h 127.0.0.1 -p $GRPC_PORT -m invoice_assets.definitions --location-name invoice_assets" ;;
    webserver) echo "$BIN/dagster-webserver -h 127.0.0.1 -p $UI_PORT -w deploy/workspace.yaml" ;;
    daemon) echo "$BIN/dagster-daemon run -w deploy/workspace.yaml" ;;
    ops-api) echo "$BIN/invoice-ops serve --host 127.0.0.1 --port $API_PORT" ;;
  esac
}

healthy() {
  # compose's health check of a service; exit status 0 when it passes.
  case "$1" in
    codeserver) "$BIN/dagster" api grpc-health-check -p "$GRPC_PORT" >/dev/null 2>&1 ;;
    webserver) http_ok "http://127.0.0.1:$UI_PORT/server_info" ;;
    daemon) (cd "$REPO" && "$BIN/dagster-daemon" liveness-check >/dev/null 2>&1) ;;
    ops-api) http_ok "http://127.0.0.1:$API_PORT/health/ready" ;;
  esac
}

http_ok() {
  "$BIN/python" -c "import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=5)" "$1" \
    >/dev/null 2>&1
}

alive() {
  # A process that runs (an exited one waiting to be reaped by its parent does not).
  local state
  state=$(sed -E 's/.*\) (.).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

pid_of() {
  # The service's process id when it is running, nothing otherwise.
  local file="$STATE/run/$1.pid"
  [[ -f $file ]] || return 0
  local pid
  pid=$(<"$file")
  if alive "$pid"; then echo "$pid"; fi
}

wait_until() {
  # wait_until SECONDS WHAT SERVICE: until the service's health check passes.
  local deadline=$((SECONDS + $1)) what=$2 service=$3
  until healthy "$service"; do
    if [[ -z $(pid_of "$service") ]]; then
      say "$service exited while waiting for $what; its log: $STATE/logs/$service.log"
      tail -n 20 "$STATE/logs/$service.log" >&2 || true
      return 1
    fi
    if ((SECONDS >= deadline)); then
      say "$what: not within $1 s; the log: $STATE/logs/$service.log"
      return 1
    fi
    sleep 1
  done
}

start() {
  local service=$1
  if [[ -n $(pid_of "$service") ]]; then
    say "$service: already running (pid $(pid_of "$service"))"
    return 0
  fi
  # Its own session (process group), so `down` stops it with the runs it started.
  (cd "$REPO" && exec setsid $(command_of "$service") >>"$STATE/logs/$service.log" 2>&1 </dev/null) &
  echo $! >"$STATE/run/$service.pid"
  say "$service: started (pid $!), log $STATE/logs/$service.log"
}

create_databases() {
  "$BIN/python" - "$DAGSTER_DB" "$STORE_DB" <<'PY'
import os, sys
import psycopg2
from psycopg2 import sql

where = f"{os.environ['DAGSTER_PG_USERNAME']}@{os.environ['DAGSTER_PG_HOST']}:{os.environ['DAGSTER_PG_PORT']}"
try:
    conn = psycopg2.connect(
        host=os.environ["DAGSTER_PG_HOST"], port=os.environ["DAGSTER_PG_PORT"],
        user=os.environ["DAGSTER_PG_USERNAME"], password=os.environ.get("PGPASSWORD") or None,
        dbname="postgres", connect_timeout=10,
    )
except psycopg2.OperationalError as error:
    reason = str(error).strip().splitlines()[0]
    sys.exit(f"PostgreSQL is not reachable as {where}: {reason} "
             "(start it, or set PGHOST, PGPORT, PGUSER, PGPASSWORD)")
conn.autocommit = True
with conn.cursor() as cur:
    for name in sys.argv[1:]:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"database {name}: created", file=sys.stderr)
conn.close()
PY
}

up() {
  [[ -x $BIN/dagster ]] || { say "no $BIN/dagster: run \`make install\` first"; exit 2; }
  mkdir -p "$STATE/logs" "$STATE/run" "$DAGSTER_HOME" "$INVOICE_INBOX"
  cp "$REPO/deploy/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"
  create_databases
  # compose's dagster-init: the instance's tables and the `openai` pool's limit, before any run.
  (cd "$REPO" && "$BIN/dagster" instance concurrency set openai "${INVOICE_OPENAI_POOL_LIMIT:-2}" \
    >>"$STATE/logs/dagster-init.log" 2>&1) ||
    { say "dagster-init failed; its log: $STATE/logs/dagster-init.log"; exit 1; }
  start codeserver
  wait_until 180 "the code server's health check" codeserver
  start webserver
  start daemon
  start ops-api
  wait_until 120 "the webserver" webserver
  wait_until 120 "the ops API to be ready" ops-api
  wait_until 120 "the daemon's heartbeats" daemon
  say "up: UI http://127.0.0.1:$UI_PORT  ops API http://127.0.0.1:$API_PORT  inbox $INVOICE_INBOX"
}

status() {
  local bad=0 service pid
  for service in "${SERVICES[@]}"; do
    pid=$(pid_of "$service")
    if [[ -z $pid ]]; then
      echo "$service: not running"
      bad=1
    elif healthy "$service"; then
      echo "$service: healthy (pid $pid)"
    else
      echo "$service: running (pid $pid), health check failing"
      bad=1
    fi
  done
  return $bad
}

down() {
  local service pid failed=0
  for service in ops-api daemon webserver codeserver; do
    pid=$(pid_of "$service")
    if [[ -n $pid ]]; then
      # The service's process group: the service and the runs it started. SIGTERM, 30 s to
      # finish, then SIGKILL; done when the service's process is gone.
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 30); do
        alive "$pid" || break
        sleep 1
      done
      kill -KILL -- "-$pid" 2>/dev/null || true
      for _ in $(seq 1 10); do
        alive "$pid" || break
        sleep 1
      done
      if alive "$pid"; then
        say "$service: still running after SIGKILL (pid $pid)"
        failed=1
        continue
      fi
      say "$service: stopped"
    fi
    rm -f "$STATE/run/$service.pid"
  done
  return $failed
}

print_env() {
  local name
  for name in DAGSTER_HOME DAGSTER_PG_USERNAME DAGSTER_PG_PASSWORD DAGSTER_PG_HOST DAGSTER_PG_PORT \
    DAGSTER_PG_DB INVOICE_HOME INVOICE_INBOX INVOICE_DB_URL INVOICE_BACKFILL_POLICY; do
    printf 'export %s=%q\n' "$name" "${!name}"
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) print_env ;;
  commands) for service in "${SERVICES[@]}"; do echo "$service: $(command_of "$service")"; done ;;
  *) say "usage: deploy/topology.sh up|status|env|commands|down"; exit 2 ;;
esac
