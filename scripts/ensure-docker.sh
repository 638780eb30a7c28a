#!/usr/bin/env bash
# Make sure the Docker engine, Debian's docker-registry and debootstrap are here.
# Idempotent and fast when all is present. On Debian as root it installs what is missing from the
# machine's own apt sources and starts dockerd (no systemd here); elsewhere it says what to do.
set -euo pipefail

DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
WAIT_SECONDS="${DOCKER_WAIT_SECONDS:-60}"
PACKAGES=(docker.io docker-registry debootstrap iptables ca-certificates)

say() { echo "ensure-docker: $*"; }
die() { echo "ensure-docker: $*" >&2; exit 1; }

tools_present() {
    command -v docker >/dev/null && command -v docker-registry >/dev/null && command -v debootstrap >/dev/null
}
# A docker client alone (e.g. a newer one in /usr/local/bin) is not an engine: dockerd must be here too.
engine_present() { tools_present && command -v dockerd >/dev/null; }
daemon_answers() { timeout 10 docker info >/dev/null 2>&1; }

if tools_present && daemon_answers; then
    say "docker, docker-registry and debootstrap are ready"
    exit 0
fi

is_debian=false
[ -r /etc/debian_version ] && command -v apt-get >/dev/null && is_debian=true

missing() {
    local tool
    for tool in docker dockerd docker-registry debootstrap; do
        command -v "$tool" >/dev/null || printf '%s ' "$tool"
    done
}

if ! engine_present; then
    if ! $is_debian || [ "$(id -u)" -ne 0 ]; then
        die "missing: $(missing)- install them (Docker engine, the distribution registry, debootstrap), start the daemon and re-run; automatic set-up needs Debian as root"
    fi
    say "installing ${PACKAGES[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
fi

if ! daemon_answers; then
    if [ "$(id -u)" -ne 0 ] || ! command -v dockerd >/dev/null; then
        die "the Docker daemon is not running: start it (e.g. 'sudo systemctl start docker'), then re-run"
    fi
    say "starting dockerd (log: $DOCKERD_LOG)"
    nohup dockerd >"$DOCKERD_LOG" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq "$WAIT_SECONDS"); do
        daemon_answers && break
        kill -0 "$dockerd_pid" 2>/dev/null || break  # it exited: no point waiting
        sleep 1
    done
    daemon_answers || die "dockerd did not start: $(tail -n 2 "$DOCKERD_LOG" | tr -s "\n" " " | cut -c1-300) (log: $DOCKERD_LOG)"
fi
say "docker is ready ($(docker version --format 'server {{.Server.Version}}' 2>/dev/null))"
