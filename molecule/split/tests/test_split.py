"""Phase 2 converged on four systemd containers with the split inventory, plus a host outside the stack:
services per tier, a search through Nginx, the closed backend (firewall and pg_hba), the NFS export,
Prometheus' targets per host, check mode."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from ragops_testkit.verify import api, assert_search_isolates_bots, check_diff, docker_host, nfs41, prometheus_targets

ROOT = Path(__file__).resolve().parents[3]

# Only the API host as testinfra's own host: every test picks the hosts it needs itself.
testinfra_hosts = ["ragops-split-api"]

API, MILVUS, POSTGRES, STORAGE, OUTSIDE = (
    "ragops-split-api", "ragops-split-milvus", "ragops-split-postgres", "ragops-split-storage", "ragops-split-outside")
ADDRESS = {API: "172.31.240.11", MILVUS: "172.31.240.12", POSTGRES: "172.31.240.13", STORAGE: "172.31.240.14"}
BOTS = ("550e8400-e29b-41d4-a716-446655440000", "7c9e6679-7425-40de-944b-e07fc1f90ae7")
DIM = 128

SERVICES = {
    API: ["nginx", "prometheus", "prometheus-alertmanager", *[f"ragops-api@{port}" for port in range(8001, 8003)]],
    MILVUS: ["milvus"],
    POSTGRES: ["postgresql@15-main", "prometheus-postgres-exporter"],
    STORAGE: ["nfs-ganesha"],
}
NOT_HERE = {API: ["milvus", "postgresql@15-main"], MILVUS: ["nginx", "postgresql@15-main"],
            POSTGRES: ["milvus", "nginx"], STORAGE: ["milvus", "postgresql@15-main", "nginx"]}


def reaches(source: str, target: str, port: int) -> bool:
    """A TCP connection from container ``source`` to ``target``'s backend address (2 s)."""
    command = "timeout 3 bash -c 'exec 3<>/dev/tcp/%s/%s' 2>/dev/null"
    return docker_host(source).run(command, ADDRESS[target], str(port)).rc == 0


@pytest.mark.parametrize("name", list(SERVICES))
def test_each_tier_runs_on_its_host_only(name):
    host = docker_host(name)
    for service in [*SERVICES[name], "prometheus-node-exporter", "ragops-firewall"]:
        assert host.service(service).is_running, f"{service} on {name}"
        assert host.service(service).is_enabled, f"{service} on {name}"
    for service in NOT_HERE[name]:
        assert not host.service(service).is_running, f"{service} must not run on {name}"


def test_search_through_nginx_on_the_api_host_returns_the_bots_documents(host):
    assert_search_isolates_bots(host, BOTS, DIM)
    status, body = api(host, "GET", "/readyz")
    assert status == 200, body


def test_databases_listen_on_the_backend_address_only():
    sockets = docker_host(POSTGRES).check_output("ss -Hltn")
    assert f"{ADDRESS[POSTGRES]}:5432" in sockets and "127.0.0.1:5432" in sockets
    assert "0.0.0.0:5432" not in sockets and "*:5432" not in sockets
    api_sockets = docker_host(API).check_output("ss -Hltn")
    assert f"{ADDRESS[API]}:8001" in api_sockets


def test_postgres_admits_the_api_host_and_refuses_the_others():
    assert reaches(API, POSTGRES, 5432)
    assert not reaches(MILVUS, POSTGRES, 5432), "the Milvus host is not an API host"
    assert not reaches(OUTSIDE, POSTGRES, 5432)
    assert not reaches(OUTSIDE, POSTGRES, 9187), "the exporter answers the monitoring host only"
    hba = docker_host(POSTGRES).file("/etc/postgresql/15/main/pg_hba.conf").content_string
    hosts_lines = [line.split() for line in hba.splitlines() if line.startswith("host")]
    assert {line[3] for line in hosts_lines} <= {f"{ADDRESS[API]}/32", "127.0.0.1/32", "::1/128"}, hosts_lines
    assert all(line[-1] == "scram-sha-256" for line in hosts_lines), hosts_lines


def test_milvus_is_closed_outside_the_backend():
    assert reaches(API, MILVUS, 19530)
    assert not reaches(OUTSIDE, MILVUS, 19530)
    assert not reaches(POSTGRES, MILVUS, 19530), "only the API hosts use Milvus"
    assert not reaches(OUTSIDE, MILVUS, 9091)
    assert reaches(API, MILVUS, 9091), "the monitoring host scrapes Milvus"


def test_only_nginx_answers_outsiders_on_the_api_host():
    assert reaches(OUTSIDE, API, 443)
    assert not reaches(OUTSIDE, API, 8001)
    assert not reaches(OUTSIDE, API, 9090)


def test_the_nfs_export_serves_the_shared_data_to_storage_clients_only():
    name = f"probe-{uuid.uuid4().hex[:8]}"
    path = f"/export/rag-data/backups/{name}"
    rc, answer = nfs41(MILVUS, ADDRESS[STORAGE], "write", path, "written over NFSv4.1")
    assert rc == 0, answer
    # The clients see the export's files at the mount point (the shared volume stands in for the mount).
    assert docker_host(POSTGRES).file(f"/mnt/storage/rag-data/backups/{name}").content_string == "written over NFSv4.1"
    assert docker_host(STORAGE).file(path).exists
    rc, answer = nfs41(OUTSIDE, ADDRESS[STORAGE], "read", path)
    assert rc != 0, answer
    docker_host(STORAGE).run_test("rm -f %s", path)


def test_prometheus_has_every_target_up_by_host(host):
    targets, down = prometheus_targets(host)
    assert not down, down
    by_job: dict[str, set[str]] = {}
    for target in targets:
        by_job.setdefault(target["labels"]["job"], set()).add(target["labels"]["host"])
    assert by_job["node"] == set(SERVICES), by_job
    assert by_job["postgres"] == {POSTGRES} and by_job["milvus"] == {MILVUS} and by_job["api"] == {API}
    assert sum(t["labels"]["job"] == "api" for t in targets) == 2
    assert any(t["scrapeUrl"].startswith(f"http://{ADDRESS[MILVUS]}:9091/") for t in targets)


def test_a_backup_lands_both_tiers_from_their_hosts_on_the_shared_storage(host):
    """backup.yml on phase 2: the PostgreSQL host dumps, the Milvus host exports, both into one backup id on the
    export; the manifests count the documents the search test stored."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"))
    proc = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
                           str(ROOT / "playbooks" / "backup.yml")],
                          capture_output=True, text=True, cwd=ROOT, env=env, check=False, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    backup_id = re.search(r"backup (\d{8}T\d{6}Z) in", proc.stdout).group(1)
    storage = docker_host(STORAGE)
    for tier, field in (("postgres", "rows"), ("milvus", "entities")):
        manifest = json.loads(storage.check_output("cat /export/rag-data/backups/daily/%s/%s/manifest.json",
                                                   backup_id, tier))
        assert manifest["status"] == "ok" and manifest["id"] == backup_id
        assert manifest["tenants"][BOTS[0]][field] >= 5 and manifest["tenants"][BOTS[1]][field] >= 5, manifest
    assert not docker_host(API).file("/etc/systemd/system/ragops-backup.timer").exists, "the API host holds no data"


def test_check_diff_on_the_converged_hosts_changes_nothing():
    check_diff(list(SERVICES))
