#!/usr/bin/env bash
# The local lab: a Docker engine, a systemd host image built without a
# registry, and the phase-1 host container.
#   scripts/lab.sh engine    make sure a Docker engine runs (install/start it)
#   scripts/lab.sh image     build ragops/systemd:bookworm if missing
#   scripts/lab.sh host      start the lab host container (ragops-lab)
#   scripts/lab.sh wheel     download the milvus wheel the lab's Milvus comes from
#   scripts/lab.sh up        all of the above, then deploy phase 1 into it, load
#                            demo data, search once and print where things answer
#   scripts/lab.sh down      remove the lab host container
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

BASE_IMAGE=ragops/debian:bookworm
HOST_IMAGE=ragops/systemd:bookworm
LAB_HOST=${RAGOPS_LAB_HOST:-ragops-lab}
LAB_NETWORK=${RAGOPS_LAB_NETWORK:-ragops-lab}
MIRROR=${RAGOPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}

log() { printf '[lab] %s\n' "$*" >&2; }

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$@" >/dev/null
}

engine() {
  command -v dockerd >/dev/null || { log "installing docker.io"; apt_install docker.io; }
  if docker info >/dev/null 2>&1; then return 0; fi
  log "starting dockerd"
  mkdir -p /var/lib/docker /var/log
  setsid nohup dockerd --data-root /var/lib/docker >/var/log/ragops-dockerd.log 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  log "dockerd did not start; see /var/log/ragops-dockerd.log"
  exit 1
}

image() {
  engine
  if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || { log "installing debootstrap"; apt_install debootstrap; }
    local rootfs=$root/.cache/rootfs
    mkdir -p "$root/.cache"
    rm -rf "$rootfs"
    log "debootstrap bookworm (minbase) from $MIRROR"
    debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$root/.cache/debootstrap.log" 2>&1
    tar -C "$rootfs" -c . | docker import - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
  fi
  if ! docker image inspect "$HOST_IMAGE" >/dev/null 2>&1; then
    log "building $HOST_IMAGE"
    docker build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$HOST_IMAGE" molecule/ragops_testkit >/dev/null
  fi
}

# Package indexes may sit behind a TLS proxy that only the controller trusts:
# give a lab host the controller's CA bundle for pip (apt uses plain HTTP).
trust_controller_ca() {
  local container=$1 bundle=/etc/ssl/certs/ca-certificates.crt
  [ -f "$bundle" ] || return 0
  docker cp -L "$bundle" "$container:/etc/ssl/certs/ragops-controller-ca.crt"
  docker exec "$container" sh -c 'printf "[global]\ncert = /etc/ssl/certs/ragops-controller-ca.crt\n" > /etc/pip.conf'
}

host() {
  image
  docker network inspect "$LAB_NETWORK" >/dev/null 2>&1 || docker network create "$LAB_NETWORK" >/dev/null
  if [ "$(docker inspect -f '{{.State.Running}}' "$LAB_HOST" 2>/dev/null)" != "true" ]; then
    docker rm -f "$LAB_HOST" >/dev/null 2>&1 || true
    log "starting the lab host $LAB_HOST"
    docker run -d --name "$LAB_HOST" --hostname "$LAB_HOST" --network "$LAB_NETWORK" \
      --tmpfs /run --tmpfs /run/lock -v /sys/fs/cgroup:/sys/fs/cgroup:rw --cgroupns=host \
      --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined \
      -v ragops-lab-storage:/mnt/storage \
      -p 127.0.0.1:8443:443 -p 127.0.0.1:8080:80 -p 127.0.0.1:9090:9090 \
      "$HOST_IMAGE" >/dev/null
  fi
  for _ in $(seq 1 60); do
    state=$(docker exec "$LAB_HOST" systemctl is-system-running 2>/dev/null || true)
    case "$state" in running|degraded) trust_controller_ca "$LAB_HOST"; return 0 ;; esac
    sleep 0.5
  done
  log "systemd in $LAB_HOST did not come up"
  exit 1
}

wheel() {
  mkdir -p "$root/.cache/wheels"
  if ! ls "$root"/.cache/wheels/milvus-2.3.5-*.whl >/dev/null 2>&1; then
    log "downloading the milvus 2.3.5 wheel (the lab's Milvus server)"
    "$root/.venv/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      -d "$root/.cache/wheels" milvus==2.3.5
  fi
}

up() {
  ./scripts/setup-venv.sh >/dev/null
  host
  wheel
  export ANSIBLE_CONFIG=$root/ansible.cfg PATH=$root/.venv/bin:$PATH
  log "deploying phase 1 (playbooks/site.yml) into $LAB_HOST"
  ansible-playbook -i inventories/lab playbooks/site.yml
  ansible-playbook -i inventories/lab playbooks/tenants.yml
  # ragops_testkit (molecule/) and the tenant naming rule (collections/) for the demo client
  PYTHONPATH="$root/molecule:$root/collections" "$root/.venv/bin/python" scripts/lab_demo.py
  cat <<INFO

ragops lab is up (phase 1 in the container $LAB_HOST):
  search API   https://127.0.0.1:8443   (X-API-Key from .lab/env; self-signed certificate)
  plain HTTP   http://127.0.0.1:8080    (redirects to HTTPS)
  Prometheus   http://127.0.0.1:9090
  settings     .lab/env   (source it: set -a; . .lab/env; set +a)
  try          curl -k -H "X-API-Key: \$RAGOPS_API_KEY" https://127.0.0.1:8443/readyz
INFO
}

down() {
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    docker rm -f "$LAB_HOST" >/dev/null 2>&1 || true
    docker volume rm ragops-lab-storage >/dev/null 2>&1 || true
    docker network rm "$LAB_NETWORK" >/dev/null 2>&1 || true
  fi
  rm -rf "$root/.lab"
}

case "${1:-}" in
  trust-ca) trust_controller_ca "${2:?container name}" ;;
  engine) engine ;;
  image) image ;;
  host) host ;;
  wheel) wheel ;;
  up) up ;;
  down) down ;;
  *) echo "usage: $0 engine|image|host|wheel|up|down" >&2; exit 2 ;;
esac
