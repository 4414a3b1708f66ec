#!/usr/bin/env bash
# Search through Nginx vs direct pymilvus, phase 1 (one host) and phase 2 (the
# databases on other hosts), in one run on this machine. Both scenarios are
# converged with the rate limits off: the benchmark measures the stack, not
# the limiter. Sizes: BENCH_SIZES (default 10000,100000 vectors in one bot).
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=${BENCH_SIZES:-10000,100000}
requests=${BENCH_REQUESTS:-2000}
unlimited=(-e api_rate_limit_rps=0 -e nginx_rate_limit_enabled=false)
bench() {  # container, milvus address
  # The client helpers (the lab's API key, call, vector, the tenant rule) go along in ragops_testkit.
  docker exec "$1" mkdir -p /opt/ragops/bench/ragops_testkit
  docker cp molecule/ragops_testkit/__init__.py "$1":/opt/ragops/bench/ragops_testkit/
  docker cp molecule/ragops_testkit/lab.py "$1":/opt/ragops/bench/ragops_testkit/
  docker exec -i -e PYTHONPATH=/opt/ragops/bench "$1" /opt/ragops/api/bin/python - --milvus "http://$2:19530" \
    --sizes "$sizes" --requests "$requests" < tests/bench/bench_search.py
}
./scripts/lab.sh image
./scripts/lab.sh wheel
# From scratch: a scenario whose state says "created" would skip create.
molecule destroy >/dev/null
molecule destroy -s split >/dev/null
docker volume rm -f ragops-split-data >/dev/null 2>&1 || true
mkdir -p .cache/bench
converge() {  # scenario, log name: converge, then again (the no-op re-run), timed
  local started=$SECONDS
  molecule converge -s "$1" -- "${unlimited[@]}" >".cache/bench/$2-1.log" 2>&1 || { tail -40 ".cache/bench/$2-1.log"; return 1; }
  local fresh=$((SECONDS - started))
  started=$SECONDS
  molecule converge -s "$1" -- "${unlimited[@]}" >".cache/bench/$2-2.log" 2>&1 || { tail -40 ".cache/bench/$2-2.log"; return 1; }
  echo "$2: fresh converge ${fresh} s, no-op re-run $((SECONDS - started)) s" \
    "($(grep -Eo 'changed=[0-9]+' ".cache/bench/$2-2.log" | sort -u | tr '\n' ' '))" >".cache/bench/$2.times"
}
echo "converging both scenarios at once (logs: .cache/bench/)"
converge default phase1 & default_job=$!
converge split phase2 & split_job=$!
wait "$default_job"
wait "$split_job"
phase1=$(bench ragops-molecule 127.0.0.1)
phase2=$(bench ragops-split-api 172.31.240.12)
printf '\nphase 1: every tier on one host\n%s\n\nphase 2: API host -> Milvus and PostgreSQL hosts\n%s\n\n' "$phase1" "$phase2"
cat .cache/bench/phase1.times .cache/bench/phase2.times
molecule destroy >/dev/null
molecule destroy -s split >/dev/null
docker volume rm -f ragops-split-data >/dev/null 2>&1 || true
