#!/bin/sh
# Finds a Docker engine that answers, or starts Debian's dockerd in a private folder, and makes sure
# the test image exists. Prints shell-style KEY=value lines on stdout (last lines):
#   DOCKER_HOST=unix:///…/docker.sock   DOCKER_NETWORK=bridge|none   DOCKER_TEST_IMAGE=encedeus/test:latest
# Usage: infra/docker/ensure-dockerd.sh [dir]   (dir defaults to $ENCEDEUS_DOCKERD_DIR or /tmp/encedeus-dockerd)
# The engine it starts keeps running after the script exits so later test runs reuse it;
# stop it with: kill "$(cat <dir>/pid)".
# Exit status: 0 when an engine answers, 2 when none can be found or started.
set -eu

dir="${1:-${ENCEDEUS_DOCKERD_DIR:-/tmp/encedeus-dockerd}}"
image="${ENCEDEUS_TEST_IMAGE:-encedeus/test:latest}"
mkdir -p "$dir"
log() { echo "ensure-dockerd: $*" >&2; }

# docker CLI may be newer than the engine; it negotiates the API version down on its own.
answers() { DOCKER_HOST="$1" timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# Two test workers may call this at once: one starts the engine, the other waits on the lock.
# (The engine must not inherit fd 9, or it would hold the lock for as long as it runs.)
exec 9>"$dir/lock"
flock -w 120 9 || { log "could not lock $dir/lock"; exit 2; }

network=bridge
[ -f "$dir/network" ] && network="$(cat "$dir/network")"
host=""
if [ -n "${DOCKER_HOST:-}" ] && command -v docker >/dev/null && answers "$DOCKER_HOST"; then
  host="$DOCKER_HOST"
elif command -v docker >/dev/null && [ -S /var/run/docker.sock ] && answers unix:///var/run/docker.sock; then
  host=unix:///var/run/docker.sock
elif command -v docker >/dev/null && [ -S "$dir/docker.sock" ] && answers "unix://$dir/docker.sock"; then
  host="unix://$dir/docker.sock"
fi

install_packages() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
  log "installing Debian packages: $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2; }
}

start_engine() { # $@: extra dockerd flags
  rm -f "$dir/docker.sock" "$dir/pid"
  setsid dockerd -H "unix://$dir/docker.sock" --data-root "$dir/data" --exec-root "$dir/exec" \
    --pidfile "$dir/pid" --default-ulimit nofile=20000:20000 --default-ulimit nproc=32768:32768 "$@" \
    </dev/null >"$dir/dockerd.log" 2>&1 9>&- &
  engine=$!
  i=0
  while [ $i -lt 150 ]; do
    if [ -S "$dir/docker.sock" ] && answers "unix://$dir/docker.sock"; then return 0; fi
    kill -0 "$engine" 2>/dev/null || break
    sleep 0.2; i=$((i + 1))
  done
  log "dockerd $* did not answer; last log lines:"; tail -n 5 "$dir/dockerd.log" >&2 || true
  kill "$engine" 2>/dev/null || true
  return 1
}

if [ -z "$host" ]; then
  [ "$(id -u)" = 0 ] || { log "no engine answers and not root: cannot start dockerd"; exit 2; }
  command -v dockerd >/dev/null || install_packages docker.io || { log "cannot install docker.io"; exit 2; }
  command -v docker >/dev/null || { log "docker CLI missing"; exit 2; }
  if start_engine; then network=bridge
  elif start_engine --iptables=false --bridge=none; then network=none
  else log "dockerd does not start here"; exit 2; fi
  echo "$network" >"$dir/network"
  host="unix://$dir/docker.sock"
fi
export DOCKER_HOST="$host"

if ! docker image inspect "$image" >/dev/null 2>&1; then
  # A static busybox needs no libraries, so the rootfs is one binary plus its applet links.
  busybox_bin=""
  for candidate in /bin/busybox /usr/bin/busybox; do
    if [ -x "$candidate" ] && ! ldd "$candidate" >/dev/null 2>&1; then busybox_bin="$candidate"; break; fi
  done
  if [ -z "$busybox_bin" ]; then
    install_packages busybox-static || { log "cannot install busybox-static"; exit 2; }
    busybox_bin=/bin/busybox
  fi
  rootfs="$(mktemp -d)"
  mkdir -p "$rootfs/bin" "$rootfs/data" "$rootfs/tmp" "$rootfs/etc" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev"
  cp "$busybox_bin" "$rootfs/bin/busybox"
  for applet in $("$busybox_bin" --list); do [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"; done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
  echo 'root:x:0:' >"$rootfs/etc/group"
  chmod 1777 "$rootfs/tmp"
  tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/bin' -c 'WORKDIR /data' -c 'CMD ["/bin/sh"]' - "$image" >/dev/null
  rm -rf "$rootfs"
  log "built $image"
fi

echo "DOCKER_HOST=$host"
echo "DOCKER_NETWORK=$network"
echo "DOCKER_TEST_IMAGE=$image"
