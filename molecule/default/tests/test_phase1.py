"""Phase 1 converged in one systemd container: services, a search through Nginx, monitoring, check mode."""

from __future__ import annotations

import json

import pytest

from ragops_testkit.verify import api, assert_search_isolates_bots, check_diff, prometheus_targets

BOTS = ("550e8400-e29b-41d4-a716-446655440000", "7c9e6679-7425-40de-944b-e07fc1f90ae7")
DIM = 128

SERVICES = [
    "postgresql@15-main", "prometheus-postgres-exporter", "milvus", "nginx", "prometheus",
    "prometheus-alertmanager", "prometheus-node-exporter",
    *[f"ragops-api@{port}" for port in range(8001, 8003)],
]


@pytest.mark.parametrize("name", SERVICES)
def test_service_active_and_enabled(host, name):
    service = host.service(name)
    assert service.is_running, name
    assert service.is_enabled, name


def test_data_lives_on_the_storage_path_with_fixed_owners(host):
    for path, owner in (("/mnt/storage/rag-data/postgres/15/main", "postgres"),
                        ("/mnt/storage/rag-data/milvus", "milvus"),
                        ("/mnt/storage/rag-data/prometheus", "prometheus")):
        assert host.file(path).is_directory, path
        assert host.file(path).user == owner, path
    assert host.user("milvus").uid == 901 and host.user("postgres").uid == 902


def test_search_through_nginx_returns_only_the_bots_documents(host):
    assert_search_isolates_bots(host, BOTS, DIM)


def test_api_rules_through_nginx(host):
    assert api(host, "GET", "/readyz", key=None)[0] in (200, 401)
    assert api(host, "POST", f"/v1/bots/{BOTS[0]}/search", {"embedding": [0.1] * DIM}, key=None)[0] == 401
    status, body = api(host, "POST", f"/v1/bots/{BOTS[0]}/search", {"embedding": [0.1] * 3})
    assert status == 422 and str(DIM) in json.dumps(body)
    unknown = "/v1/bots/00000000-0000-4000-8000-000000000000/search"
    assert api(host, "POST", unknown, {"embedding": [0.1] * DIM})[0] == 404
    # No arguments: testinfra does no %-formatting, so curl's %{...} stay single.
    redirect = host.check_output("curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://127.0.0.1/v1/x")
    assert redirect.startswith("301 https://")


def test_prometheus_has_every_target_up(host):
    targets, down = prometheus_targets(host)
    jobs = sorted({t["labels"]["job"] for t in targets})
    assert {"node", "postgres", "milvus", "api", "prometheus"} <= set(jobs), jobs
    assert sum(t["labels"]["job"] == "api" for t in targets) == 2
    assert not down, down


def test_check_diff_on_the_converged_host_changes_nothing():
    check_diff(["ragops-molecule"])
