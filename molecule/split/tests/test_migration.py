"""The phase-1 server moved onto the phase-2 hosts by migrate.yml in converge: every row, vector and search
result arrived, the source is retired with its data kept, and a second run changes nothing and says so."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid

from ragops_testkit.migration import BOTS, SOURCE, call, docker, expected_path, fingerprint, start_playbook, state

testinfra_hosts = ["ragops-split-api"]

API, MILVUS, POSTGRES = "ragops-split-api", "ragops-split-milvus", "ragops-split-postgres"
API_ADDRESS, MILVUS_ADDRESS = "172.31.240.11", "172.31.240.12"


def unit_state(container: str, unit: str) -> tuple[str, str]:
    active = subprocess.run(["docker", "exec", container, "systemctl", "is-active", unit], capture_output=True,
                            text=True, check=False).stdout.strip()
    enabled = subprocess.run(["docker", "exec", container, "systemctl", "is-enabled", unit], capture_output=True,
                             text=True, check=False).stdout.strip()
    return active, enabled


def test_every_row_vector_and_search_result_arrived():
    expected = json.loads(expected_path().read_text())
    assert sum(t["rows"] for t in expected["postgres"].values()) > 0
    moved = fingerprint(POSTGRES, MILVUS, MILVUS_ADDRESS, API_ADDRESS)
    assert moved["postgres"] == expected["postgres"]
    assert moved["milvus"] == expected["milvus"]
    assert moved["searches"] == expected["searches"]


def test_the_source_is_retired_and_keeps_its_data():
    for unit in ("nginx", "postgresql@15-main", "ragops-api@8001", "ragops-backup.timer", "prometheus"):
        assert unit_state(SOURCE, unit) == ("inactive", "disabled"), unit
    # This Milvus build does not exit on SIGTERM; systemd kills it at TimeoutStopSec and calls that failed.
    assert unit_state(SOURCE, "milvus") in (("inactive", "disabled"), ("failed", "disabled"))
    assert docker(SOURCE, "cat", "/etc/postgresql/15/main/start.conf").split()[-1] == "manual"
    clusters = "/mnt/storage/rag-data/postgres/15"
    if os.environ.get("RAGOPS_MIGRATION_POSTGRES_METHOD", "stream") == "stream":
        assert docker(SOURCE, "test", "-s", f"{clusters}/main/PG_VERSION") == ""
    else:  # re-homed: the source's directory became the new host's, whose own empty cluster is gone
        listing = docker(POSTGRES, "ls", "-a", clusters).split()
        assert POSTGRES in listing and "main" not in listing and f"{POSTGRES}.empty" not in listing
    assert docker(SOURCE, "cat", "/mnt/storage/rag-data/.milvus.owner").strip() == MILVUS
    assert "ragops-migrate" not in docker(SOURCE, "nft", "list", "table", "inet", "ragops")
    # A source started again by mistake still takes no writes.
    assert "ragops_write_frozen 1" in docker(SOURCE, "cat", "/etc/nginx/ragops-write-freeze.conf")
    for container in (POSTGRES, MILVUS):
        assert state(container)["state"] == "done"


def test_the_report_counts_what_moved():
    expected = json.loads(expected_path().read_text())
    report = state(SOURCE)["report"]
    assert state(SOURCE)["state"] == "done"
    assert report["targets"] == {"postgres": POSTGRES, "milvus": MILVUS, "api": [API]}
    assert int(report["tenants"]) == len(BOTS)
    assert int(report["rows"]) == sum(t["rows"] for t in expected["postgres"].values())
    assert int(report["vectors"]) == sum(expected["milvus"].values())
    assert 0 < float(report["freeze_seconds"]) < float(report["total_seconds"])
    assert all(row["checksum_equal"] and row["searches_equal"] and row["searches"] == 3 for row in report["table"])


def test_writes_go_to_the_new_hosts():
    document = f"after-move-{uuid.uuid4().hex[:8]}"
    response = call("PUT", API_ADDRESS, f"/v1/bots/{BOTS[0]}/documents",
                    {"documents": [{"id": document, "text": "new", "embedding": [0.3] * 128}]})
    assert response.status_code == 200, response.text
    rows = docker(POSTGRES, "runuser", "-u", "postgres", "--", "psql", "-d", "ragops", "-AtXc",
                  f"SELECT count(*) FROM documents WHERE id = '{document}'")
    assert rows.strip() == "1"


def test_a_second_run_changes_nothing_and_says_so(tmp_path):
    log = tmp_path / "again.log"
    assert start_playbook("playbooks/migrate.yml", log).wait(timeout=600) == 0, log.read_text()[-4000:]
    output = log.read_text()
    assert "nothing to do" in output
    recap = re.search(rf"{SOURCE}\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", output)
    assert recap and recap.group(1) == "0", output[-3000:]


def test_a_run_cut_off_while_switching_is_finished_not_done_again(tmp_path):
    """The controller lost after every tenant was verified, while the API hosts switched: the targets may have
    taken writes already, so the next run moves nothing again; it finishes the switch and records the move."""
    done = state(SOURCE)
    document = f"before-resume-{uuid.uuid4().hex[:8]}"
    assert call("PUT", API_ADDRESS, f"/v1/bots/{BOTS[1]}/documents",
                {"documents": [{"id": document, "text": "new", "embedding": [0.4] * 128}]}).status_code == 200
    now = time.time()
    cut_off = {"state": "switching", "started_at": "earlier", "started": now - 300, "freeze_started": now - 200,
               "postgres_method": done["report"]["methods"]["postgres"],
               "milvus_method": done["report"]["methods"]["milvus"], "postgres_version": "150000",
               "table": done["report"]["table"]}
    subprocess.run(["docker", "exec", "-i", SOURCE, "sh", "-c", "cat > /var/lib/ragops/migration.json"],
                   input=json.dumps(cut_off), text=True, check=True)
    log = tmp_path / "resume.log"
    rc = start_playbook("playbooks/migrate.yml", log).wait(timeout=600)
    output = log.read_text()
    assert rc == 0, output[-4000:]
    assert "this run finishes the switch and moves nothing again" in output
    for step in ("Read the source's tenants in Milvus", "Freeze writes on the source", "pg_basebackup",
                 "Move Milvus"):
        assert step not in output, step
    assert re.search(r"Restart the API instances against the new backends[^\n]*\n+changed:", output), output[-4000:]
    finished = state(SOURCE)
    assert finished["state"] == "done" and finished["report"]["table"] == done["report"]["table"]
    assert float(finished["report"]["freeze_seconds"]) >= 200
    rows = docker(POSTGRES, "runuser", "-u", "postgres", "--", "psql", "-d", "ragops", "-AtXc",
                  f"SELECT count(*) FROM documents WHERE id = '{document}'")
    assert rows.strip() == "1", "the target's own writes stay"
    assert call("POST", API_ADDRESS, f"/v1/bots/{BOTS[1]}/search",
                {"embedding": [0.4] * 128, "top_k": 3}).status_code == 200
