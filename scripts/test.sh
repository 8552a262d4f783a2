#!/usr/bin/env bash
# Sets everything up (as scripts/setup.sh, plus a private Docker engine and the executor image)
# and runs every test. Ends with a line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || exit 1

# The web playground's browser tests drive Debian's Chromium (playwright-core downloads none).
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium; } >&2 ||
    { echo "[test] could not install chromium" >&2; exit 1; }
fi

if [ -f scripts/docker-engine.sh ]; then
  # Prints "export DOCKER_HOST=..." for the engine it started.
  engine=$(bash scripts/docker-engine.sh) || { echo "[test] could not start the Docker engine" >&2; exit 1; }
  eval "$engine"
  if [ -f packages/executor/docker/build-image.sh ]; then
    bash packages/executor/docker/build-image.sh >&2 || { echo "[test] could not build the executor image" >&2; exit 1; }
  fi
fi

if [ -f scripts/postgres.sh ]; then
  # Prints "export TASKWEAVER_TEST_DATABASE_URL=..." for the cluster it started (installs postgresql when missing).
  database=$(bash scripts/postgres.sh) || { echo "[test] could not start PostgreSQL" >&2; exit 1; }
  eval "$database"
fi

report=$(mktemp -t vitest-report-XXXXXX.json)
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
status=$?
node scripts/summarize-tests.mjs "$report" || status=1
rm -f "$report"
exit $status
