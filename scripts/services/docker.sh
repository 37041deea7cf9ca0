#!/usr/bin/env bash
# The Docker daemon and the local test image the docker hand's tests and benchmark use.
# Idempotent: installs what is missing, starts what is not running, builds what is absent.
#
#   1. Debian's docker.io (dockerd 20.10, Engine API v1.41) and busybox-static. The docker client in
#      /usr/local/bin is not the daemon and is not used: everything here talks to the Engine API with
#      curl, as wake does with libcurl.
#   2. dockerd, started in the background when its socket does not answer /_ping, logging to
#      $WAKE_DOCKERD_LOG (default /var/log/wake-dockerd.log); the script waits (bounded) for /_ping.
#      On this machine (kernel 6.x, cgroup v1, ext4 root, iptables present) dockerd's defaults work:
#      overlay2 storage and its iptables rules for the default bridge. Where they do not (no overlay
#      support, e.g. a root on overlayfs; no iptables, e.g. an unprivileged container) the script
#      falls back to `--storage-driver=vfs --iptables=false`: hands still work, since they run with
#      network "none" unless asked otherwise (a networked hand then has no NAT to the outside).
#   3. The image wake-test-busybox:latest, when absent (or when WAKE_DOCKER_REBUILD_IMAGE=1): a rootfs
#      of busybox-static (/bin/busybox, a symlink per applet, /bin/sh, /tmp, /work, /etc/passwd ...)
#      imported with POST /images/create?fromSrc=- . Nothing is ever pulled from a registry.
set -euo pipefail

socket="${WAKE_DOCKER_SOCKET:-/var/run/docker.sock}"
image_repo="wake-test-busybox"
image_tag="latest"
log="${WAKE_DOCKERD_LOG:-/var/log/wake-dockerd.log}"
api="http://docker/v1.41"

say() { echo "scripts/services/docker.sh: $*" >&2; }
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
engine() { curl -sS --max-time "${WAKE_DOCKER_CURL_TIMEOUT:-60}" --unix-socket "$socket" "$@"; }
pings() { curl -s --max-time 2 --unix-socket "$socket" "$api/_ping" 2>/dev/null | grep -qx OK; }

# One run at a time: concurrent test runs must not start two daemons.
exec 9>/tmp/wake-docker-service.lock
flock -w 300 9 || { say "another run holds /tmp/wake-docker-service.lock"; exit 1; }

# --- 1. packages ---------------------------------------------------------------------------------
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed" || missing+=(busybox-static)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  # A machine whose package lists are missing or stale needs an update first.
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
    { sudo_if_needed apt-get update -qq &&
      sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
fi

# --- 2. the daemon -------------------------------------------------------------------------------
# Starts dockerd with the given flags; returns 0 once /_ping answers within the bounded wait.
start_dockerd() {
  say "starting dockerd${*:+ $*} (log: $log)"
  sudo_if_needed mkdir -p "$(dirname "$log")"
  # setsid: the daemon outlives this script and the test run that called it.
  # 9>&-: the daemon must not inherit the lock, or every later run of this script waits on it.
  sudo_if_needed setsid dockerd --host "unix://$socket" "$@" >>"$log" 2>&1 </dev/null 9>&- &
  local pid=$!
  for _ in $(seq 1 "${WAKE_DOCKERD_WAIT_SECONDS:-60}"); do
    if pings; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 1
  done
  # Not up in time, or exited: stop what we started before trying anything else.
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  return 1
}

if ! pings; then
  if ! start_dockerd; then
    say "dockerd did not come up with its defaults; last log lines:"
    tail -n 5 "$log" >&2 || true
    if ! start_dockerd --storage-driver=vfs --iptables=false; then
      say "dockerd did not come up with --storage-driver=vfs --iptables=false either; see $log"
      exit 1
    fi
  fi
fi

# --- 3. the test image ---------------------------------------------------------------------------
image_status=$(engine -o /dev/null -w '%{http_code}' "$api/images/$image_repo:$image_tag/json")
if [ "$image_status" != 200 ] || [ "${WAKE_DOCKER_REBUILD_IMAGE:-0}" = 1 ]; then
  busybox=$(dpkg -L busybox-static | grep -E '^(/usr)?/bin/busybox$' | head -n 1)
  [ -x "$busybox" ] || { say "busybox-static installed no /bin/busybox"; exit 1; }
  root=$(mktemp -d /tmp/wake-busybox-rootfs.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root"/{bin,dev,etc,proc,root,run,sys,tmp,work}
  chmod 1777 "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  say "importing $image_repo:$image_tag from $busybox ($("$busybox" --list | wc -l) applets)"
  answer=$(tar -C "$root" --numeric-owner --owner=0 --group=0 -c . |
           engine -X POST -H 'Content-Type: application/x-tar' --data-binary @- \
             "$api/images/create?fromSrc=-&repo=$image_repo&tag=$image_tag")
  case "$answer" in
    *'"status":"sha256:'*) ;;
    *) say "image import failed: $answer"; exit 1 ;;
  esac
fi
say "dockerd answers at $socket; image $image_repo:$image_tag present"
