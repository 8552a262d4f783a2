#!/usr/bin/env bash
# Sets up a Debian machine that has Node.js 20+ for TaskWeaver: pnpm, the Python packages the
# kernel needs (from Debian, see scripts/apt-packages.txt) and the workspace's npm packages.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[setup] $*" >&2; }

if ! command -v pnpm >/dev/null 2>&1; then
  say "installing pnpm"
  npm install --global --silent pnpm@10 >&2
fi

missing=()
while read -r package; do
  [ -z "$package" ] && continue
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done < scripts/apt-packages.txt
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
fi

if [ ! -d node_modules ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  say "installing npm packages"
  pnpm install --frozen-lockfile --reporter=silent >&2
fi
say "ready"
