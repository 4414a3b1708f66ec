#!/usr/bin/env bash
# playbooks/migrate.yml on the split scenario's containers: the write-freeze
# window and the total time, at each size of BENCH_DOCUMENTS (documents per
# bot, default "1000 10000") for BENCH_TENANTS bots (default 10), with each
# PostgreSQL method of BENCH_POSTGRES_METHODS (default "stream rehome"; every
# run converges anew). Beside them, the obvious alternative for PostgreSQL:
# how long a stop-the-world pg_dump | pg_restore of the same database into the
# new host takes. BENCH_VERIFY=1 also runs the scenario's verify after each move.
# Each line is printed as soon as its run ends, and the table again at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH"
sizes=${BENCH_DOCUMENTS:-1000 10000}
methods=${BENCH_POSTGRES_METHODS:-stream rehome}
export RAGOPS_TEST_TENANTS=${BENCH_TENANTS:-10}
source_host=ragops-split-source
target_host=ragops-split-postgres
./scripts/lab.sh image
./scripts/lab.sh wheel
mkdir -p .cache/bench
results=()
# A loaded Docker engine can time out removing six systemd containers; a second try finds it done.
destroy() { molecule destroy -s split >/dev/null 2>&1 || molecule destroy -s split >/dev/null; }
for documents in $sizes; do
for method in $methods; do
  destroy
  docker volume rm -f ragops-split-data >/dev/null 2>&1 || true
  export RAGOPS_MIGRATION_DOCUMENTS=$documents RAGOPS_MIGRATION_POSTGRES_METHOD=$method
  log=.cache/bench/migrate-$documents-$method
  echo "${RAGOPS_TEST_TENANTS} bots x ${documents} documents, PostgreSQL $method: converging phase 1 and phase 2," \
    "loading (logs: $log-*.log)"
  molecule create -s split >"$log-create.log" 2>&1
  molecule prepare -s split >"$log-prepare.log" 2>&1 || { tail -40 "$log-prepare.log"; exit 1; }
  size=$(docker exec "$source_host" runuser -u postgres -- psql -d ragops -AtXc \
    "SELECT pg_size_pretty(pg_database_size('ragops'))")
  milvus_size=$(docker exec "$source_host" du -sh /mnt/storage/rag-data/milvus | cut -f1)
  # The alternative: writes stopped for a whole dump and restore into the new database host.
  docker exec "$target_host" runuser -u postgres -- psql -qAtXc "DROP DATABASE IF EXISTS bench_restore" >/dev/null
  docker exec "$target_host" runuser -u postgres -- psql -qAtXc "CREATE DATABASE bench_restore" >/dev/null
  started=$(date +%s%N)
  docker exec "$source_host" runuser -u postgres -- pg_dump -Fc ragops \
    | docker exec -i "$target_host" runuser -u postgres -- pg_restore -d bench_restore --no-owner
  dump_restore_ms=$((($(date +%s%N) - started) / 1000000))
  docker exec "$target_host" runuser -u postgres -- psql -qAtXc "DROP DATABASE bench_restore" >/dev/null
  molecule converge -s split >"$log-converge.log" 2>&1 || { tail -60 "$log-converge.log"; exit 1; }
  report=$(docker exec "$source_host" cat /var/lib/ragops/migration.json)
  results+=("$(REPORT=$report python3 - "$documents" "$size" "$milvus_size" "$dump_restore_ms" <<'PY'
import json, os, sys
report = json.loads(os.environ["REPORT"])["report"]
documents, size, milvus_size, dump_restore_ms = sys.argv[1:]
print(f"| {report['tenants']} x {documents} | {report['methods']['postgres']} | {report['rows']} | {report['vectors']} "
      f"| {size} / {milvus_size} | {report['freeze_seconds']} | {report['total_seconds']} "
      f"| {int(dump_restore_ms) / 1000:.1f} |")
PY
)")
  echo "${results[-1]}"
  if [ "${BENCH_VERIFY:-0}" = 1 ]; then
    molecule verify -s split >"$log-verify.log" 2>&1 || { tail -60 "$log-verify.log"; exit 1; }
  fi
done
done
destroy
docker volume rm -f ragops-split-data >/dev/null 2>&1 || true
echo
echo "| bots x documents | PostgreSQL | rows | vectors | PostgreSQL / Milvus data | write freeze s | migrate.yml total s | pg_dump + pg_restore s (writes stopped) |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
