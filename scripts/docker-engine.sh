#!/usr/bin/env bash
# The Docker engine the image tests build and run on: Debian's docker.io (daemon and its own 20.10
# client), on a socket and data root of its own, so it neither needs nor touches a system engine.
#   docker-engine.sh start   install docker.io if missing, start the daemon, wait for it; the last line
#                            printed is the DOCKER_HOST to use. Where it cannot run, the last line says
#                            why and the exit code is 3.
#   docker-engine.sh stop    stop the daemon and whatever containers it runs.
# overlay2 storage (vfs copies every layer); no bridge network and no iptables: containers run with
# `--network host` or `--network none`. The data root persists, so base images and the build cache
# survive between runs; VLLM_DATASPHERE_DOCKER_DIR moves it.
set -uo pipefail
dir=${VLLM_DATASPHERE_DOCKER_DIR:-/var/lib/vllm-datasphere-docker}
run=/run/vllm-datasphere-docker
socket="unix://$run/docker.sock"
pidfile="$run/dockerd.pid"

cannot() {
  echo "docker engine unavailable: $*"
  exit 3
}

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

install() {
  command -v /usr/sbin/dockerd >/dev/null 2>&1 && [ -x /usr/bin/docker ] && return 0
  [ "$(id -u)" = 0 ] || cannot "docker.io is not installed and installing it needs root"
  command -v apt-get >/dev/null 2>&1 || cannot "docker.io is not installed and there is no apt-get"
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      docker.io; } > "$dir.install.log" 2>&1 \
    || cannot "apt-get install docker.io failed (see $dir.install.log)"
}

start() {
  mkdir -p "$dir" "$run" || cannot "cannot create $dir or $run"
  install
  local daemon=""
  if ! running; then
    [ "$(id -u)" = 0 ] || cannot "dockerd needs root"
    /usr/sbin/dockerd --data-root "$dir/data" --exec-root "$run/exec" --pidfile "$pidfile" \
      -H "$socket" --storage-driver overlay2 --iptables=false --ip-masq=false --bridge=none \
      > "$dir/dockerd.log" 2>&1 &
    daemon=$!
  fi
  for _ in $(seq 1 60); do
    if DOCKER_HOST=$socket /usr/bin/docker info >/dev/null 2>&1; then
      echo "$socket"
      return 0
    fi
    if [ -n "$daemon" ]; then kill -0 "$daemon" 2>/dev/null || break; fi
    sleep 1
  done
  cannot "dockerd did not answer on $socket: $(tail -n 3 "$dir/dockerd.log" 2>/dev/null | tr '\n' ' ')"
}

stop() {
  running || return 0
  DOCKER_HOST=$socket /usr/bin/docker ps -q 2>/dev/null | xargs -r env DOCKER_HOST="$socket" /usr/bin/docker rm -f >/dev/null 2>&1
  kill "$(cat "$pidfile")" 2>/dev/null
  for _ in $(seq 1 30); do
    running || return 0
    sleep 1
  done
  kill -9 "$(cat "$pidfile")" 2>/dev/null
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
