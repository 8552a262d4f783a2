#!/usr/bin/env bash
# Builds TaskWeaver's default executor image, `taskweaver-executor:latest`, without a registry:
# a Debian bookworm root filesystem made with debootstrap from Debian's mirror, the Python
# packages installed with apt inside it, then `docker import`. The result matches
# packages/executor/docker/Dockerfile (use that one where a registry is reachable:
# `docker build -t taskweaver-executor:latest packages/executor/docker`).
#
#   eval "$(bash scripts/docker-engine.sh)"
#   bash packages/executor/docker/build-image.sh          # skips when the image exists
#   bash packages/executor/docker/build-image.sh --force  # rebuilds the image (reuses the rootfs cache)
#   bash packages/executor/docker/build-image.sh --rebuild-rootfs
#
# Speed: the root filesystem tarball is cached (TASKWEAVER_IMAGE_CACHE, default
# /var/cache/taskweaver-docker), keyed by the package list, so a rerun only imports it; the
# .deb files come from and go to the host's apt cache (/var/cache/apt/archives), so packages the
# host already downloaded are not fetched again.
#
# Environment:
#   TASKWEAVER_IMAGE        image name, default taskweaver-executor:latest
#   TASKWEAVER_IMAGE_CACHE  cache directory, default /var/cache/taskweaver-docker
#   DEBIAN_MIRROR           default http://deb.debian.org/debian
#   DOCKER_HOST             the engine to import into (see scripts/docker-engine.sh)
set -euo pipefail

image="${TASKWEAVER_IMAGE:-taskweaver-executor:latest}"
cache_dir="${TASKWEAVER_IMAGE_CACHE:-/var/cache/taskweaver-docker}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm
user_id=10001
apt_archives=/var/cache/apt/archives
# Keep in sync with the Dockerfile next to this script.
packages="python3 python3-ipykernel python3-numpy python3-pandas python3-matplotlib python3-sklearn python3-requests python3-dill python3-cloudpickle"
# Bump when the steps below change, so cached root filesystems are rebuilt.
recipe_version=2

force=false
rebuild_rootfs=false
for argument in "$@"; do
  case "$argument" in
    --force) force=true ;;
    --rebuild-rootfs) force=true; rebuild_rootfs=true ;;
    *) echo "unknown argument: $argument" >&2; exit 2 ;;
  esac
done

log() { echo "build-image: $*" >&2; }
started=$SECONDS

if ! command -v docker >/dev/null 2>&1; then
  log "the docker command is missing: run scripts/docker-engine.sh first"
  exit 1
fi
if ! docker version >/dev/null 2>&1; then
  log "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset}): eval \"\$(bash scripts/docker-engine.sh)\" first"
  exit 1
fi

if [ "$force" = false ] && docker image inspect "$image" >/dev/null 2>&1; then
  log "$image already exists (use --force to rebuild)"
  exit 0
fi

key="$(printf '%s|%s|%s|%s' "$suite" "$packages" "$user_id" "$recipe_version" | sha256sum | cut -c1-12)"
tarball="$cache_dir/rootfs-$suite-$key.tar"
mkdir -p "$cache_dir"

build_rootfs() {
  if [ "$(id -u)" != "0" ]; then
    log "building the root filesystem needs root (debootstrap, chroot)"
    exit 1
  fi
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
  fi
  local work
  work="$(mktemp -d "$cache_dir/rootfs-work.XXXXXX")"
  local root="$work/root"
  # Whatever happens, unmount what we mounted into the chroot and drop the work directory.
  cleanup() {
    for mounted in "$root/var/cache/apt/archives" "$root/proc"; do
      if mountpoint -q "$mounted" 2>/dev/null; then umount -l "$mounted" || true; fi
    done
    rm -rf "$work"
  }
  trap cleanup EXIT

  mkdir -p "$apt_archives/partial"
  log "debootstrap $suite (minbase) from $mirror"
  debootstrap --variant=minbase --cache-dir="$apt_archives" "$suite" "$root" "$mirror" >&2

  cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
SOURCES
  # Headers, compilers' internals, docs and translations are never used at run time (scipy
  # depends on pythran, which pulls in a C++ toolchain and boost headers): keep them out.
  cat >"$root/etc/dpkg/dpkg.cfg.d/taskweaver-slim" <<EXCLUDES
path-exclude=/usr/include/*
path-exclude=/usr/lib/gcc/*
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
EXCLUDES
  mount -t proc proc "$root/proc"
  mount --bind "$apt_archives" "$root/var/cache/apt/archives"
  log "installing $packages"
  chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C sh -ec "
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $packages
    groupadd --gid $user_id taskweaver
    useradd --uid $user_id --gid $user_id --create-home --home-dir /home/taskweaver --shell /bin/sh taskweaver
    mkdir -p /home/taskweaver/cwd /home/taskweaver/.kernel
    chown -R $user_id:$user_id /home/taskweaver
    # Build the font cache now: the container's root filesystem is read-only at run time.
    su taskweaver -s /bin/sh -c 'MPLCONFIGDIR=/home/taskweaver/.config/matplotlib python3 -c \"import matplotlib.pyplot\"' >/dev/null 2>&1 || true
  " >&2
  umount -l "$root/var/cache/apt/archives"
  umount -l "$root/proc"
  # Leave no package lists, docs or caches in the image.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
    "$root"/usr/share/info/* "$root"/var/log/*.log "$root"/tmp/* 
  log "writing $tarball"
  tar --numeric-owner -C "$root" -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
  # Root filesystems of older recipes are dead weight (each is over a gigabyte).
  find "$cache_dir" -maxdepth 1 -name "rootfs-$suite-*.tar" ! -name "$(basename "$tarball")" -delete
  cleanup
  trap - EXIT
}

if [ "$rebuild_rootfs" = true ] || [ ! -f "$tarball" ]; then
  build_rootfs
else
  log "reusing cached root filesystem $tarball"
fi

previous_id="$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
log "importing $tarball as $image"
docker import \
  --change "USER $user_id" \
  --change "WORKDIR /home/taskweaver/cwd" \
  --change "ENV HOME=/home/taskweaver LANG=C.UTF-8 PYTHONUNBUFFERED=1 MPLBACKEND=Agg MPLCONFIGDIR=/home/taskweaver/.config/matplotlib" \
  --change "LABEL io.taskweaver.image=executor" \
  --change 'CMD ["python3", "-m", "ipykernel_launcher"]' \
  "$tarball" "$image" >/dev/null
# The image this one replaces would linger untagged; containers still using it keep it alive.
if [ -n "$previous_id" ] && [ "$previous_id" != "$(docker image inspect --format '{{.Id}}' "$image")" ]; then
  docker image rm "$previous_id" >/dev/null 2>&1 || true
fi
log "built $image in $((SECONDS - started))s"
