#!/usr/bin/env bash
# Sets up a Debian machine that has Node.js 20+ for TaskWeaver: pnpm, the Python packages the
# kernel needs (from Debian, see scripts/apt-packages.txt), the workspace's npm packages, and the
# `taskweaver` command (built JavaScript, linked into $TASKWEAVER_BIN_DIR, /usr/local/bin by default).
# Safe to run again: it only installs or builds what is missing or out of date.
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
# The bin runs built JavaScript on plain Node (apps/cli/scripts/bundle.mjs, about a second);
# rebuilt only when a source it bundles is newer than the build.
bundle=apps/cli/dist/cli.js
if [ ! -f "$bundle" ] || [ ! -f apps/cli/python/taskweaver_support.py ] ||
  [ -n "$(find apps/cli/src packages/core/src packages/executor/src packages/executor/python \
    apps/cli/package.json pnpm-lock.yaml -newer "$bundle" -print -quit)" ]; then
  say "building the taskweaver command"
  node apps/cli/scripts/bundle.mjs
fi
# The web playground the API serves at / (a Vite build, about 10 seconds); rebuilt only when one
# of its sources is newer than the build.
web=apps/web/dist/index.html
if [ ! -f "$web" ] || [ -n "$(find apps/web/src apps/web/index.html apps/web/vite.config.ts \
    apps/web/package.json pnpm-lock.yaml -newer "$web" -print -quit)" ]; then
  say "building the web playground"
  pnpm --filter @taskweaver/web build >&2
fi

bin="$PWD/apps/cli/src/bin.js"
bin_dir="${TASKWEAVER_BIN_DIR:-/usr/local/bin}"
if [ "$(readlink -f "$bin_dir/taskweaver" 2>/dev/null)" = "$bin" ]; then
  :
elif [ -w "$bin_dir" ] && { [ ! -e "$bin_dir/taskweaver" ] || [ -L "$bin_dir/taskweaver" ]; }; then
  ln -sfn "$bin" "$bin_dir/taskweaver"
  say "linked $bin_dir/taskweaver"
else
  say "taskweaver is not on PATH: run 'sudo ln -s $bin $bin_dir/taskweaver', or use 'pnpm --silent taskweaver' here"
fi
say "ready"
