# ragops.stack: one entry point for the lab, the tests and the benchmarks.
#   make up      phase 1 in a local lab container (Docker engine, image, site.yml, demo data)
#   make down    remove the lab
#   make test    set up everything (venv, PostgreSQL 15, Milvus, tools) and run every gate
#   make bench   tenant provisioning benchmark (1,000 tenants)
#   make bench-search  search latency/throughput through Nginx vs direct pymilvus
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
TOOLS_PY := /opt/ragops/tools/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: molecule up down setup test-tools services services-stop lint sanity unit api roles integration test bench bench-search clean

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

# Binaries the role tests run for real: nginx, promtool, amtool.
test-tools:
	@command -v nginx >/dev/null && command -v promtool >/dev/null && command -v amtool >/dev/null \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	       nginx prometheus prometheus-alertmanager >/dev/null; }

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

integration: services
	$(PY) -m pytest tests/integration

# Separate runs: the integration suite restarts the servers, which the API
# suite's session-wide clients must not see.
test: setup test-tools services lint sanity
	$(PY) -m pytest tests/unit tests/roles tests/api
	$(PY) -m pytest tests/integration
	$(MAKE) services-stop
	$(MAKE) molecule

# Phase 1 converged, idempotence-checked and verified in a systemd container.
molecule: setup
	./scripts/lab.sh image
	./scripts/lab.sh wheel
	molecule test

bench: services
	$(PY) tests/bench/bench_tenants.py

# Phase 1 converged in the molecule host with the rate limits off (a benchmark
# measures the stack, not the limiter), then 10,000 and 100,000 vectors in one bot.
bench-search: setup
	./scripts/lab.sh image
	./scripts/lab.sh wheel
	molecule converge -- -e api_rate_limit_rps=0 -e nginx_rate_limit_enabled=false
	docker exec -i ragops-molecule $(TOOLS_PY) - --key lab-api-key-0001 < tests/bench/bench_search.py
	molecule destroy

clean: services-stop
	rm -rf .cache tests/output
