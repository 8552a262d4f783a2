#!/usr/bin/env bash
# Builds the API's container image, `taskweaver-api:latest`, without a registry (like
# packages/executor/docker/build-image.sh): a minimal Debian root filesystem made with
# debootstrap, this host's `node` binary copied in, the built API (`pnpm --filter @taskweaver/api
# build`: the bundled `taskweaver-api` command) with its production node_modules, and an app
# directory; then `docker import`.
#
#   export DOCKER_HOST=unix:///tmp/taskweaver-docker/docker.sock
#   bash deploy/build-api-image.sh            # skips when the image exists
#   bash deploy/build-api-image.sh --force    # rebuilds (reuses the cached root filesystem)
#
# The image runs kernels remotely (execution_service.kernel_mode: remote, see deploy/kubernetes):
# it has no Python. Native addons (better-sqlite3, zeromq) were built for this host, so the root
# filesystem is the host's own Debian release.
#
# Environment:
#   TASKWEAVER_API_IMAGE        image name, default taskweaver-api:latest
#   TASKWEAVER_IMAGE_CACHE      cache directory, default /var/cache/taskweaver-docker
#   TASKWEAVER_API_APP_DIR      app directory baked in at /app/project, default ./project
#   DEBIAN_MIRROR               default http://deb.debian.org/debian
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image="${TASKWEAVER_API_IMAGE:-taskweaver-api:latest}"
cache_dir="${TASKWEAVER_IMAGE_CACHE:-/var/cache/taskweaver-docker}"
app_dir="${TASKWEAVER_API_APP_DIR:-$repo/project}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
user_id=10001
apt_archives=/var/cache/apt/archives
# ca-certificates: HTTPS to the model endpoint and the gateway; tini: PID 1 that forwards SIGTERM.
packages="ca-certificates tini"
recipe_version=1

force=false
for argument in "$@"; do
  case "$argument" in
    --force) force=true ;;
    *) echo "unknown argument: $argument" >&2; exit 2 ;;
  esac
done

log() { echo "build-api-image: $*" >&2; }
started=$SECONDS

if ! docker version >/dev/null 2>&1; then
  log "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset})"
  exit 1
fi
if [ "$force" = false ] && docker image inspect "$image" >/dev/null 2>&1; then
  log "$image already exists (use --force to rebuild)"
  exit 0
fi

key="$(printf '%s|%s|%s|%s' "$suite" "$packages" "$user_id" "$recipe_version" | sha256sum | cut -c1-12)"
rootfs_tarball="$cache_dir/api-rootfs-$suite-$key.tar"
mkdir -p "$cache_dir"

build_rootfs() {
  if [ "$(id -u)" != "0" ]; then
    log "building the root filesystem needs root (debootstrap, chroot)"
    exit 1
  fi
  command -v debootstrap >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
  local work root
  work="$(mktemp -d "$cache_dir/api-rootfs-work.XXXXXX")"
  root="$work/root"
  cleanup_rootfs() {
    for mounted in "$root/var/cache/apt/archives" "$root/proc"; do
      if mountpoint -q "$mounted" 2>/dev/null; then umount -l "$mounted" || true; fi
    done
    rm -rf "$work"
  }
  trap cleanup_rootfs EXIT
  mkdir -p "$apt_archives/partial"
  log "debootstrap $suite (minbase) from $mirror"
  debootstrap --variant=minbase --cache-dir="$apt_archives" "$suite" "$root" "$mirror" >&2
  mount -t proc proc "$root/proc"
  mount --bind "$apt_archives" "$root/var/cache/apt/archives"
  log "installing $packages"
  chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C sh -ec "
    apt-get install -y -qq --no-install-recommends $packages
    groupadd --gid $user_id taskweaver
    useradd --uid $user_id --gid $user_id --create-home --home-dir /home/taskweaver --shell /bin/sh taskweaver
    rm -rf /usr/share/doc/* /usr/share/man/* /var/lib/apt/lists/*
  " >&2
  umount -l "$root/var/cache/apt/archives"
  umount -l "$root/proc"
  tar -C "$root" -cf "$rootfs_tarball.partial" .
  mv "$rootfs_tarball.partial" "$rootfs_tarball"
  cleanup_rootfs
  trap - EXIT
}

if [ ! -f "$rootfs_tarball" ]; then build_rootfs; else log "reusing $rootfs_tarball"; fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"
tar -C "$root" -xf "$rootfs_tarball"

log "building the API bundle"
(cd "$repo" && pnpm --filter @taskweaver/api build >&2)
log "collecting the API's production dependencies"
# --legacy: a plain copy of the package with its production node_modules (no injected workspace links).
(cd "$repo" && pnpm --filter @taskweaver/api deploy --prod --legacy "$work/api" >&2)
# The bundle inlines the workspace packages; the executor's Python support code sits beside it.
rm -rf "$work/api/node_modules/@taskweaver"
mkdir -p "$root/app"
cp -a "$work/api" "$root/app/api"
cp -a "$repo/apps/api/dist" "$root/app/api/"
node_binary="$(readlink -f "$(command -v node)")"
install -m 0755 "$node_binary" "$root/usr/local/bin/node"
cp -a "$app_dir" "$root/app/project"
# The workspace (uploads, session folders) is a volume in Kubernetes; here an empty, writable folder.
mkdir -p "$root/app/project/workspace"
chown -R "$user_id:$user_id" "$root/app/project/workspace"

log "importing $image"
tar -C "$root" -c . | docker import \
  --change 'ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/node", "/app/api/dist/bin/taskweaver-api.js"]' \
  --change 'CMD ["--host", "0.0.0.0", "--port", "8000", "-p", "/app/project"]' \
  --change "USER $user_id:$user_id" \
  --change 'WORKDIR /app' \
  --change 'EXPOSE 8000' \
  --change 'ENV NODE_ENV=production' \
  - "$image" >&2
log "done in $((SECONDS - started)) s: $(docker image inspect "$image" --format '{{.Size}}' | awk '{printf "%.0f MiB", $1 / 1048576}')"
