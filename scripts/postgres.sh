#!/usr/bin/env bash
# Starts a private PostgreSQL cluster for TaskWeaver's API store and its tests, then prints the
# line that points the tests at it:
#
#   eval "$(bash scripts/postgres.sh)"        # sets TASKWEAVER_TEST_DATABASE_URL
#   bash scripts/postgres.sh stop             # stops the cluster (its data stays)
#
# Idempotent: when the cluster already answers, it only prints the export line. The cluster
# listens on 127.0.0.1 only (and on a unix socket in its own folder), keeps its data under
# /tmp apart from any system PostgreSQL, and has one database `taskweaver` owned by a user with
# a password (generated on first start, kept with the cluster). PostgreSQL refuses to run as
# root, so when this script runs as root the server runs as the `postgres` user; run by another
# user, it runs as that user. Logs go to stderr, the export line to stdout.
#
# Environment:
#   TASKWEAVER_POSTGRES_DIR       cluster folder (data, socket, log, connection file)
#                                 default /tmp/taskweaver-postgres
#   TASKWEAVER_POSTGRES_PORT      TCP port on 127.0.0.1; default: the port chosen on first start,
#                                 then a free one
#   TASKWEAVER_POSTGRES_USER      database user, default taskweaver
#   TASKWEAVER_POSTGRES_PASSWORD  its password, default generated on first start
#   TASKWEAVER_POSTGRES_TIMEOUT   seconds to wait for the server to answer, default 60
set -euo pipefail

base_dir="${TASKWEAVER_POSTGRES_DIR:-/tmp/taskweaver-postgres}"
data_dir="$base_dir/data"
socket_dir="$base_dir/socket"
logfile="$base_dir/postgres.log"
connection_file="$base_dir/connection"
database_user="${TASKWEAVER_POSTGRES_USER:-taskweaver}"
timeout_seconds="${TASKWEAVER_POSTGRES_TIMEOUT:-60}"
action="${1:-start}"

log() { echo "postgres: $*" >&2; }

case "$action" in
  start | stop) ;;
  *)
    log "unknown argument '$action' (expected nothing, 'start' or 'stop')"
    exit 2
    ;;
esac

find_bin_dir() {
  local candidate
  if command -v pg_config >/dev/null 2>&1; then
    candidate="$(pg_config --bindir 2>/dev/null || true)"
    if [ -x "$candidate/pg_ctl" ]; then echo "$candidate"; return 0; fi
  fi
  # Debian installs the server binaries per major version, outside PATH.
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$candidate/pg_ctl" ] && [ -x "$candidate/initdb" ]; then echo "$candidate"; return 0; fi
  done
  return 1
}

# The server and its tools run as `postgres` when we are root, else as ourselves.
if [ "$(id -u)" = "0" ]; then
  server_user=postgres
  as_server() { runuser -u "$server_user" -- "$@"; }
else
  server_user="$(id -un)"
  as_server() { "$@"; }
fi

read_connection() {
  # The connection file holds `port=...`, `user=...` and `password=...` lines.
  port="" password="" stored_user=""
  if [ -f "$connection_file" ]; then
    port="$(sed -n 's/^port=//p' "$connection_file")"
    password="$(sed -n 's/^password=//p' "$connection_file")"
    stored_user="$(sed -n 's/^user=//p' "$connection_file")"
  fi
}

export_line() {
  echo "export TASKWEAVER_TEST_DATABASE_URL=postgres://$database_user:$password@127.0.0.1:$port/taskweaver"
}

server_answers() {
  [ -n "${port:-}" ] && as_server "$bin_dir/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres -t 3 >/dev/null 2>&1
}

if ! bin_dir="$(find_bin_dir)"; then
  if [ "$action" = "stop" ]; then
    log "PostgreSQL is not installed; nothing to stop"
    exit 0
  fi
  if [ "$(id -u)" != "0" ]; then
    log "PostgreSQL is missing and installing it needs root: apt-get install -y postgresql"
    exit 1
  fi
  log "installing postgresql from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || true
  apt-get install -y -qq postgresql >&2
  bin_dir="$(find_bin_dir)" || { log "postgresql was installed but pg_ctl was not found"; exit 1; }
fi

read_connection

if [ "$action" = "stop" ]; then
  if [ -f "$data_dir/postmaster.pid" ]; then
    log "stopping the cluster in $data_dir"
    as_server "$bin_dir/pg_ctl" stop -D "$data_dir" -m fast -w -t "$timeout_seconds" >&2
  else
    log "no cluster running in $data_dir"
  fi
  exit 0
fi

if [ -n "$port" ] && [ -f "$data_dir/postmaster.pid" ] && server_answers; then
  if [ -n "${TASKWEAVER_POSTGRES_PORT:-}" ] && [ "$TASKWEAVER_POSTGRES_PORT" != "$port" ]; then
    log "cluster already running on port $port (not $TASKWEAVER_POSTGRES_PORT); stop it first to move it"
  else
    log "cluster already running on 127.0.0.1:$port"
  fi
  database_user="${stored_user:-$database_user}"
  export_line
  exit 0
fi

free_port() {
  # Node is always there in this repository; the kernel picks a free port.
  node -e 'const s=require("node:net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
}

mkdir -p "$base_dir"
chmod 0755 "$base_dir"
if [ "$server_user" != "$(id -un)" ]; then
  chown "$server_user" "$base_dir"
fi

if [ -n "${TASKWEAVER_POSTGRES_PORT:-}" ]; then
  port="$TASKWEAVER_POSTGRES_PORT"
elif [ -z "$port" ]; then
  port="$(free_port)"
fi
if [ -z "$password" ]; then
  password="${TASKWEAVER_POSTGRES_PASSWORD:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}"
fi
database_user="${stored_user:-$database_user}"
umask 077
printf 'port=%s\nuser=%s\npassword=%s\n' "$port" "$database_user" "$password" >"$connection_file"
umask 022

if [ ! -f "$data_dir/PG_VERSION" ]; then
  log "creating a cluster in $data_dir ($("$bin_dir/postgres" --version))"
  rm -rf "$data_dir"
  as_server mkdir -p "$data_dir" "$socket_dir"
  # Peer authentication on the socket (for this script), passwords over TCP (for clients).
  as_server "$bin_dir/initdb" -D "$data_dir" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >&2
fi
as_server mkdir -p "$socket_dir"

# A stale pid file from a killed server would make pg_ctl refuse to start.
if [ -f "$data_dir/postmaster.pid" ]; then
  old_pid="$(head -n 1 "$data_dir/postmaster.pid" 2>/dev/null || true)"
  if [ -z "$old_pid" ] || ! kill -0 "$old_pid" 2>/dev/null; then
    log "removing the stale pid file of a stopped server"
    rm -f "$data_dir/postmaster.pid"
  fi
fi

if [ ! -f "$data_dir/postmaster.pid" ]; then
  log "starting PostgreSQL on 127.0.0.1:$port (log $logfile)"
  as_server touch "$logfile"
  as_server "$bin_dir/pg_ctl" start -D "$data_dir" -l "$logfile" -w -t "$timeout_seconds" \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$socket_dir -c max_connections=200" >&2 || {
    log "PostgreSQL did not start; last lines of $logfile:"
    tail -n 30 "$logfile" >&2 || true
    exit 1
  }
fi

deadline=$((SECONDS + timeout_seconds))
until server_answers; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "PostgreSQL did not answer within ${timeout_seconds}s; last lines of $logfile:"
    tail -n 30 "$logfile" >&2 || true
    exit 1
  fi
  sleep 0.5
done

psql_admin() {
  as_server "$bin_dir/psql" -X -q -v ON_ERROR_STOP=1 -h "$socket_dir" -p "$port" -U postgres -d postgres "$@"
}
# The password is passed as a psql variable, so quoting is psql's job, not ours.
psql_admin -v user="$database_user" -v password="$password" >&2 <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'user')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" WITH LOGIN PASSWORD :'password';
SELECT format('CREATE DATABASE taskweaver OWNER %I', :'user')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'taskweaver') \gexec
SQL
log "ready on 127.0.0.1:$port, database taskweaver, user $database_user"
export_line
