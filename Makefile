# ragops.stack: one entry point for setting up, testing and benchmarking.
#   make test    set up everything (venv, PostgreSQL 15, Milvus) and run every gate
#   make bench   tenant provisioning benchmark (1,000 tenants)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: setup services services-stop lint sanity unit api integration test bench clean

setup:
	./scripts/setup-venv.sh

services: setup
	./tests/services/postgres.sh start
	$(PY) tests/services/milvus_server.py start

services-stop:
	-$(PY) tests/services/milvus_server.py stop
	-./tests/services/postgres.sh stop

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

integration: services
	$(PY) -m pytest tests/integration

# Separate runs: the integration suite restarts the servers, which the API
# suite's session-wide clients must not see.
test: setup services lint sanity
	$(PY) -m pytest tests/unit tests/api
	$(PY) -m pytest tests/integration

bench: services
	$(PY) tests/bench/bench_tenants.py

clean: services-stop
	rm -rf .cache tests/output
