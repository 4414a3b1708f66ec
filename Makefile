# ragops.stack: one entry point for the lab, the tests and the benchmarks.
#   make up      phase 1 in a local lab container (Docker engine, image, site.yml, demo data)
#   make down    remove the lab
#   make test    set up everything (venv, PostgreSQL 15, Milvus, tools) and run every gate
#   make bench   tenant provisioning benchmark (1,000 tenants)
#   make bench-search  search latency/throughput through Nginx vs direct pymilvus
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# community.docker waits 60 s for an answer from the Docker engine by default;
# with three molecule scenarios starting side by side on two cores, removing a
# container can take longer than that.
export DOCKER_TIMEOUT ?= 300

.PHONY: lab-artifacts molecule molecule-nfs molecule-split up down setup test-tools services services-stop lint sanity unit api roles k8s integration test bench bench-search bench-migrate clean

up:
	./scripts/lab.sh up

down:
	./scripts/lab.sh down

setup:
	./scripts/setup-venv.sh

services: setup
	./tests/services/postgres.sh start
	$(PY) tests/services/milvus_server.py start

services-stop:
	-$(PY) tests/services/milvus_server.py stop
	-./tests/services/postgres.sh stop

# Binaries the role tests run for real: nginx, promtool, amtool, nft, ip.
test-tools:
	@command -v nginx >/dev/null && command -v promtool >/dev/null && command -v amtool >/dev/null \
	  && command -v nft >/dev/null && command -v ip >/dev/null \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	       nginx prometheus prometheus-alertmanager nftables iproute2 >/dev/null; }

lint: setup
	ruff check .
	yamllint -s .
	ansible-lint --nocolor

sanity: setup
	./scripts/sanity.sh

unit: setup
	$(PY) -m pytest tests/unit

api: services
	$(PY) -m pytest tests/api

roles: setup test-tools
	$(PY) -m pytest tests/roles

# Phase 3 rendered (no cluster here) and validated offline.
k8s: setup
	$(PY) -m pytest tests/k8s

integration: services
	$(PY) -m pytest tests/integration

# Separate runs: the integration suite restarts the servers, which the API
# suite's session-wide clients must not see. The three molecule scenarios have
# containers and networks of their own and run side by side (output per
# scenario, as each one finishes).
test: setup test-tools services lint sanity
	$(PY) -m pytest tests/unit tests/roles tests/api tests/k8s
	$(PY) -m pytest tests/integration
	$(MAKE) services-stop
	$(MAKE) -j3 --output-sync=target molecule molecule-nfs molecule-split

# The systemd base image and the Milvus server wheel, built once for every scenario.
lab-artifacts: setup
	./scripts/lab.sh image
	./scripts/lab.sh wheel

# Phase 1 converged, idempotence-checked and verified in a systemd container.
molecule: setup lab-artifacts
	molecule test

# The NFS server role (NFS-Ganesha) with a listed client and an outsider.
molecule-nfs: setup lab-artifacts
	molecule test -s nfs_server

# Phase 2: the split inventory on four containers and a host outside the stack.
# The data volume stands in for the NFS mount; a stale one from an aborted run
# would hold an old cluster, so it goes first.
molecule-split: setup lab-artifacts
	molecule destroy -s split
	-docker volume rm -f ragops-split-data >/dev/null 2>&1
	molecule test -s split
	-docker volume rm -f ragops-split-data >/dev/null 2>&1

bench: services
	$(PY) tests/bench/bench_tenants.py

# Search latency and req/s through Nginx next to direct pymilvus, phase 1 and
# phase 2 in one run (converges both molecule scenarios with the limiters off).
bench-search: setup
	./tests/bench/bench_search.sh

# playbooks/migrate.yml: write-freeze window and total time per data size,
# next to a stop-the-world pg_dump | pg_restore of the same database.
bench-migrate: setup
	./tests/bench/bench_migrate.sh

clean: services-stop
	rm -rf .cache tests/output
