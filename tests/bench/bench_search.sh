#!/usr/bin/env bash
# Search through Nginx next to Milvus' own search on the phase-1 lab host (scripts/lab.sh up), in one run:
# tests/bench/bench_search.py does the measuring on that host with wrk and hey (installed there from Debian).
# The rate limiters are off while it runs: it converges the lab without them, and with them again at the end.
#   BENCH_SIZES        vectors in one bot at dimension 128 (default 10000,100000)
#   BENCH_WIDE_SIZES   vectors at dimension 768, in a collection of their own (default 100000; empty: skip)
#   BENCH_VARS         more inventory variables for the measured converge, "name=value ..." (a setting to compare)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
sizes=${BENCH_SIZES:-10000,100000}
wide_sizes=${BENCH_WIDE_SIZES-100000}
host=ragops-lab
export ANSIBLE_CONFIG=$root/ansible.cfg PATH=$root/.venv/bin:$PATH
unlimited=(-e api_rate_limit_rps=0 -e nginx_rate_limit_enabled=false)
for setting in ${BENCH_VARS:-}; do
  unlimited+=(-e "$setting")
done

converge() {
  local playbook
  for playbook in site tenants; do
    if ! ansible-playbook -i inventories/lab "playbooks/$playbook.yml" "$@" >"$root/.cache/bench/converge.log" 2>&1
    then
      tail -40 "$root/.cache/bench/converge.log"
      return 1
    fi
  done
}
measure() {
  docker exec -i -e PYTHONPATH=/opt/ragops/bench "$host" /opt/ragops/api/bin/python -u - "$@" \
    < tests/bench/bench_search.py
}
restore() {
  echo "converging the lab with its rate limiters again"
  converge
  docker exec "$host" /opt/ragops/tools/bin/python -c \
    "from pymilvus import MilvusClient; c = MilvusClient(uri='http://127.0.0.1:19530'); \
c.has_collection('bench768') and c.drop_collection('bench768')"
}

mkdir -p .cache/bench
./scripts/lab.sh up >.cache/bench/lab-up.log 2>&1 || { tail -40 .cache/bench/lab-up.log; exit 1; }
docker exec "$host" bash -c 'command -v wrk >/dev/null && command -v hey >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk hey >/dev/null; }'
# The client helpers (the lab's API key, call, vector, the tenant rule) go along in ragops_testkit.
docker exec "$host" mkdir -p /opt/ragops/bench/ragops_testkit
docker cp molecule/ragops_testkit/__init__.py "$host":/opt/ragops/bench/ragops_testkit/
docker cp molecule/ragops_testkit/lab.py "$host":/opt/ragops/bench/ragops_testkit/
trap restore EXIT
echo "converging the lab without rate limiters${BENCH_VARS:+, with $BENCH_VARS} (logs: .cache/bench/)"
converge "${unlimited[@]}"
measure --sizes "$sizes" --dim 128
if [ -n "$wide_sizes" ]; then
  converge "${unlimited[@]}" -e ragops_dim=768 -e ragops_collection=bench768
  measure --sizes "$wide_sizes" --dim 768 --collection bench768
fi
