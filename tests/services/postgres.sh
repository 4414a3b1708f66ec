#!/usr/bin/env bash
# Install (if needed) and start a real PostgreSQL 15 on 127.0.0.1:5432 for the
# test suite, with a superuser password and an empty test database.
# Usage: tests/services/postgres.sh start|stop|restart
set -euo pipefail

PG_VERSION=15
CLUSTER=main
: "${RAGOPS_TEST_PG_PASSWORD:=ragops-test-only}"
: "${RAGOPS_TEST_PG_DB:=ragops_test}"

install() {
  if [ ! -x "/usr/lib/postgresql/${PG_VERSION}/bin/postgres" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "postgresql-${PG_VERSION}" >/dev/null
  fi
  if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "${PG_VERSION}/${CLUSTER}"; then
    pg_createcluster "${PG_VERSION}" "${CLUSTER}" >/dev/null
  fi
}

start() {
  install
  pg_ctlcluster "${PG_VERSION}" "${CLUSTER}" status >/dev/null 2>&1 \
    || pg_ctlcluster "${PG_VERSION}" "${CLUSTER}" start
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 0.5
  done
  runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -v pw="${RAGOPS_TEST_PG_PASSWORD}" <<'SQL'
ALTER ROLE postgres PASSWORD :'pw';
SQL
  runuser -u postgres -- psql -q -tAc "SELECT 1 FROM pg_database WHERE datname = '${RAGOPS_TEST_PG_DB}'" | grep -q 1 \
    || runuser -u postgres -- createdb "${RAGOPS_TEST_PG_DB}"
  echo "postgresql ${PG_VERSION} ready on 127.0.0.1:5432 (db ${RAGOPS_TEST_PG_DB})"
}

stop() {
  pg_ctlcluster "${PG_VERSION}" "${CLUSTER}" status >/dev/null 2>&1 \
    && pg_ctlcluster "${PG_VERSION}" "${CLUSTER}" stop -m fast
  return 0
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  *) echo "usage: $0 start|stop|restart" >&2; exit 2 ;;
esac
