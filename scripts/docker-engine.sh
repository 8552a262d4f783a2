#!/usr/bin/env bash
# Starts a private Docker engine for TaskWeaver's container runtime and its tests, then prints
# the line to point clients at it:
#
#   eval "$(bash scripts/docker-engine.sh)"     # sets DOCKER_HOST
#
# Idempotent: when the engine already answers on the socket, it only prints the export line.
# The engine has no bridge network and does not touch iptables (containers run with
# `--network none`), and keeps its state apart from any system Docker, so it can run on CI
# machines and sandboxes where the default daemon cannot. Logs go to stderr, the export line
# to stdout.
#
# Environment:
#   TASKWEAVER_DOCKER_DIR        runtime directory (socket, pid file, exec root, log)
#                                default /tmp/taskweaver-docker
#   TASKWEAVER_DOCKER_DATA_ROOT  image and container storage, default /var/lib/taskweaver-docker
#   TASKWEAVER_DOCKER_TIMEOUT    seconds to wait for the engine to answer, default 60
set -euo pipefail

runtime_dir="${TASKWEAVER_DOCKER_DIR:-/tmp/taskweaver-docker}"
data_root="${TASKWEAVER_DOCKER_DATA_ROOT:-/var/lib/taskweaver-docker}"
timeout_seconds="${TASKWEAVER_DOCKER_TIMEOUT:-60}"
socket="$runtime_dir/docker.sock"
pidfile="$runtime_dir/dockerd.pid"
logfile="$runtime_dir/dockerd.log"

log() { echo "docker-engine: $*" >&2; }

engine_answers() {
  # The engine API over the unix socket; curl is not always installed, so fall back to docker.
  if command -v curl >/dev/null 2>&1; then
    curl --silent --fail --max-time 3 --unix-socket "$socket" http://localhost/_ping >/dev/null 2>&1
  else
    DOCKER_HOST="unix://$socket" timeout 5 docker version >/dev/null 2>&1
  fi
}

if [ -S "$socket" ] && engine_answers; then
  log "engine already running on $socket"
  echo "export DOCKER_HOST=unix://$socket"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" != "0" ]; then
    log "dockerd or debootstrap is missing and installing them needs root: apt-get install -y docker.io debootstrap"
    exit 1
  fi
  log "installing docker.io and debootstrap from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || true
  apt-get install -y -qq docker.io debootstrap >&2
fi

if [ "$(id -u)" != "0" ]; then
  log "starting dockerd needs root (run this script with sudo, or start Docker yourself and set DOCKER_HOST)"
  exit 1
fi

mkdir -p "$runtime_dir" "$data_root" "$runtime_dir/exec"

# A stale pid file from a crashed engine would make dockerd refuse to start.
if [ -f "$pidfile" ]; then
  old_pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [ -n "$old_pid" ] && kill -0 "$old_pid" 2>/dev/null; then
    log "dockerd (pid $old_pid) is running but does not answer yet; waiting for it"
  else
    rm -f "$pidfile" "$socket"
  fi
fi

if [ ! -f "$pidfile" ]; then
  # containerd is started by dockerd itself (as a child) when none is given.
  log "starting dockerd (data root $data_root, log $logfile)"
  nohup dockerd \
    --host "unix://$socket" \
    --data-root "$data_root" \
    --exec-root "$runtime_dir/exec" \
    --pidfile "$pidfile" \
    --iptables=false \
    --ip6tables=false \
    --ip-masq=false \
    --bridge=none \
    --userland-proxy=false \
    >"$logfile" 2>&1 </dev/null &
fi

deadline=$((SECONDS + timeout_seconds))
until [ -S "$socket" ] && engine_answers; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "dockerd did not answer within ${timeout_seconds}s; last lines of $logfile:"
    tail -n 30 "$logfile" >&2 || true
    exit 1
  fi
  sleep 0.5
done
log "engine ready on $socket"
echo "export DOCKER_HOST=unix://$socket"
