# ragops.stack: one entry point for the lab, the tests and the benchmarks.
#   make up      phase 1 in a local lab container (Docker engine, image, site.yml, demo data)
#   make down    remove the lab
#   make test    set up everything (venv, PostgreSQL 15, Milvus, tools) and run every gate
#   make bench   tenant provisioning benchmark (1,000 tenants)
#   make bench-search  search through Nginx next to Milvus' own search (wrk, hey, on the lab host)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# community.docker waits 60 s for an answer from the Docker engine by default;
# with three molecule scenarios starting side by side on two cores, removing a
# container can take longer than that.
export DOCKER_TIMEOUT ?= 300
export RAGOPS_STAGE_LOG ?= $(CURDIR)/tests/output/stages.txt
STAGE := ./scripts/stage.sh

.PHONY: checks lab-artifacts molecule molecule-nfs molecule-split up down setup test-tools services services-stop lint sanity unit api roles k8s integration test bench bench-search bench-migrate clean

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

# `make test`: what a clean machine needs first, then two lanes side by side.
# One lane is the checks that run on this machine (lint, sanity, then pytest
# against the loopback servers; the integration suite restarts those servers,
# which the API suite's session-wide clients must not see, hence two runs).
# The other lane is the three molecule scenarios, each with containers and
# networks of its own; the split scenario is the longest and the checks fit in
# its waits. Every stage prints its time, and the table is printed at the end.
test:
	@mkdir -p $(dir $(RAGOPS_STAGE_LOG)) && : >$(RAGOPS_STAGE_LOG)
	@$(STAGE) "prepare the machine" $(MAKE) --no-print-directory setup test-tools lab-artifacts
	@$(MAKE) --no-print-directory -j4 --output-sync=target checks molecule molecule-nfs molecule-split; \
	  status=$$?; printf '\nmake test, stage by stage (the lanes overlap):\n'; cat $(RAGOPS_STAGE_LOG); exit $$status

checks: setup test-tools
	@$(STAGE) "loopback servers" $(MAKE) --no-print-directory services
	@$(STAGE) lint $(MAKE) --no-print-directory lint
	@$(STAGE) sanity $(MAKE) --no-print-directory sanity
	@$(STAGE) "unit, roles, api, k8s" $(PY) -m pytest tests/unit tests/roles tests/api tests/k8s
	@$(STAGE) integration $(PY) -m pytest tests/integration
	@$(MAKE) --no-print-directory services-stop

# The systemd base image and the Milvus server wheel, built once for every scenario.
lab-artifacts: setup
	./scripts/lab.sh image
	./scripts/lab.sh wheel

# Phase 1 converged, idempotence-checked and verified in a systemd container.
molecule: setup lab-artifacts
	@$(STAGE) "molecule default" molecule test

# The NFS server role (NFS-Ganesha) with a listed client and an outsider.
molecule-nfs: setup lab-artifacts
	@$(STAGE) "molecule nfs_server" molecule test -s nfs_server

# Phase 2: the split inventory on four containers and a host outside the stack.
# The data volume stands in for the NFS mount; a stale one from an aborted run
# would hold an old cluster, so it goes first.
molecule-split: setup lab-artifacts
	molecule destroy -s split
	-docker volume rm -f ragops-split-data >/dev/null 2>&1
	@$(STAGE) "molecule split" molecule test -s split
	-docker volume rm -f ragops-split-data >/dev/null 2>&1

bench: services
	$(PY) tests/bench/bench_tenants.py

# Search through Nginx, one API instance, Milvus' RESTful search and pymilvus, the
# same query, on the phase-1 lab host (converged with the limiters off, then on again).
bench-search: setup
	./tests/bench/bench_search.sh

# playbooks/migrate.yml: write-freeze window and total time per data size,
# next to a stop-the-world pg_dump | pg_restore of the same database.
bench-migrate: setup
	./tests/bench/bench_migrate.sh

clean: services-stop
	rm -rf .cache tests/output
