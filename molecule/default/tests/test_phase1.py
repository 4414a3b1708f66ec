"""Phase 1 converged in one systemd container: services, a search through Nginx, monitoring, check mode."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
KEY = "lab-api-key-0001"
BOTS = ("550e8400-e29b-41d4-a716-446655440000", "7c9e6679-7425-40de-944b-e07fc1f90ae7")
DIM = 128

SERVICES = [
    "postgresql@15-main", "prometheus-postgres-exporter", "milvus", "nginx", "prometheus",
    "prometheus-alertmanager", "prometheus-node-exporter",
    *[f"ragops-api@{port}" for port in range(8001, 8005)],
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


def api(host, method: str, path: str, body: dict | None = None, key: str | None = KEY) -> tuple[int, dict]:
    command = ["curl", "-sk", "-o", "/tmp/body", "-w", "%{http_code}", "-X", method,
               "-H", "Content-Type: application/json", f"https://127.0.0.1{path}"]
    if key:
        command[1:1] = ["-H", f"X-API-Key: {key}"]
    if body is not None:
        encoded = base64.b64encode(json.dumps(body).encode()).decode()
        host.run_test("echo %s | base64 -d > /tmp/request.json", encoded)
        command += ["--data-binary", "@/tmp/request.json"]
    status = int(host.check_output(" ".join("'%s'" % part for part in command)))
    text = host.check_output("cat /tmp/body")
    return status, (json.loads(text) if text.strip().startswith("{") else {"raw": text})


def test_search_through_nginx_returns_only_the_bots_documents(host):
    vector = [((i * 7) % 13) / 13 - 0.5 for i in range(DIM)]
    for bot, prefix in zip(BOTS, ("a", "b")):
        documents = [{"id": f"{prefix}-{i}", "text": f"{prefix} text {i}", "metadata": {"n": i},
                      "embedding": [v + i * 0.01 for v in vector]} for i in range(5)]
        status, body = api(host, "PUT", f"/v1/bots/{bot}/documents", {"documents": documents})
        assert status == 200, body
    deadline = time.monotonic() + 60
    while True:
        status, body = api(host, "POST", f"/v1/bots/{BOTS[0]}/search", {"embedding": vector, "top_k": 10})
        ids = [r["id"] for r in body.get("results", [])]
        if len(ids) == 5 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert status == 200, body
    assert sorted(ids) == [f"a-{i}" for i in range(5)], "only bot A's documents, all of them"
    assert body["results"][0]["id"] == "a-0" and body["results"][0]["text"] == "a text 0"


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
    deadline = time.monotonic() + 90
    while True:
        targets = json.loads(host.check_output("curl -s http://127.0.0.1:9090/api/v1/targets"))["data"]["activeTargets"]
        down = [(t["labels"]["job"], t["scrapeUrl"], t["health"]) for t in targets if t["health"] != "up"]
        if not down or time.monotonic() > deadline:
            break
        time.sleep(5)
    jobs = sorted({t["labels"]["job"] for t in targets})
    assert {"node", "postgres", "milvus", "api", "prometheus"} <= set(jobs), jobs
    assert sum(t["labels"]["job"] == "api" for t in targets) == 4
    assert not down, down


def test_check_diff_on_the_converged_host_changes_nothing():
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    assert inventory, "run through molecule verify"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / "collections")
    for playbook in ("playbooks/site.yml", "playbooks/tenants.yml"):
        proc = subprocess.run(["ansible-playbook", "-i", inventory, str(ROOT / playbook), "--check", "--diff"],
                              capture_output=True, text=True, cwd=ROOT, env=env, check=False, timeout=900)
        recap = re.search(r"ragops-molecule\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                          proc.stdout)
        assert recap, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert recap.groups() == ("0", "0", "0"), proc.stdout[-5000:]
