"""Backups on the converged phase-1 host: backup, real data loss, restore with verification, retention, status drift.

Runs through `molecule verify` (the molecule host and inventory) or against the lab:

    pytest --hosts=docker://ragops-lab molecule/default/tests/test_backup.py

RAGOPS_TEST_INVENTORY and RAGOPS_TEST_HOST override the inventory and the inventory host name (default: the
molecule inventory and ragops-molecule under molecule, inventories/lab and ragops-lab otherwise).
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from pathlib import Path

import pytest

from ragops_testkit.lab import milvus_partition_name, postgres_partition_name, vector
from ragops_testkit.verify import TOOLS_COMMAND, TOOLS_CONFIG, api, run_playbook
from ragops_testkit.verify import tools_program as program

ROOT = Path(__file__).resolve().parents[3]

DIM = 128
BOTS = ("550e8400-e29b-41d4-a716-446655440000", "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "16fd2706-8baf-433b-82eb-8c7fada847da")
DOCS = 30
TOOLS = "/opt/ragops/tools/bin/python"
BACKUPS = "/mnt/storage/rag-data/backups"


def playbook(name: str, *extra: str) -> tuple[str, tuple[str, str, str]]:
    return run_playbook(ROOT / "playbooks" / name, *extra)


def tools(host, code: str) -> str:
    """Run Python with the tools virtualenv (psycopg, pymilvus) on the host."""
    encoded = base64.b64encode(code.encode()).decode()
    return host.check_output("echo %s | base64 -d | %s -", encoded, TOOLS)


def searches(host) -> dict:
    """Top 10 of three queries per bot, through Nginx: ids and rounded scores."""
    found = {}
    for bot in BOTS:
        for seed in (1, 7, 20):
            deadline = time.monotonic() + 90
            while True:
                status, body = api(host, "POST", f"/v1/bots/{bot}/search",
                                   {"embedding": vector(seed, DIM), "top_k": 10})
                if status == 200 or time.monotonic() > deadline:
                    break
                time.sleep(3)
            assert status == 200, body
            found[(bot, seed)] = [(r["id"], round(r["score"], 4), r["text"]) for r in body["results"]]
    return found


def live(host) -> dict:
    return program(host, "live")


@pytest.fixture(scope="module")
def loaded(host):
    """Documents in every bot through the API, and what searches return before any backup."""
    for bot in BOTS:
        documents = [{"id": f"bk-{i}", "text": f"backup test {bot[:4]} {i}", "metadata": {"n": i, "bot": bot[:4]},
                      "embedding": vector(i, DIM)} for i in range(DOCS)]
        status, body = api(host, "PUT", f"/v1/bots/{bot}/documents", {"documents": documents})
        assert status == 200, body
    deadline = time.monotonic() + 90
    while True:
        before = searches(host)
        if all(len(v) == 10 for v in before.values()) or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert all(len(v) == 10 for v in before.values()), before
    return {"searches": before, "live": live(host)}


@pytest.fixture(scope="module")
def backup(host, loaded):
    output, recap = playbook("backup.yml")
    assert recap[1:] == ("0", "0"), output[-4000:]
    match = re.search(r"backup (\d{8}T\d{6}Z) in (\S+)", output)
    assert match, output[-3000:]
    assert re.search(r"postgres\s+[\d.]+ (B|KiB|MiB)", output) and re.search(r"milvus\s+[\d.]+ (B|KiB|MiB)", output)
    return {"id": match.group(1), "path": match.group(2)}


def manifest(host, backup: dict, tier: str) -> dict:
    return json.loads(host.check_output("cat %s/%s/manifest.json", backup["path"], tier))


def test_backup_has_both_tiers_with_manifests_that_match_the_live_data(host, loaded, backup):
    for tier, field in (("postgres", "rows"), ("milvus", "entities")):
        data = manifest(host, backup, tier)
        assert data["status"] == "ok" and data["id"] == backup["id"]
        assert data["files"] and all(len(f["sha256"]) == 64 for f in data["files"].values())
        for bot in BOTS:
            assert data["tenants"][bot][field] >= DOCS
            assert data["tenants"][bot] == {**loaded["live"][tier][bot]}, (tier, bot)
    verified = program(host, "verify", "--id", backup["id"])
    assert not verified["failed"] and verified["postgres"]["problems"] == [] and verified["milvus"]["problems"] == []
    assert host.file(backup["path"]).mode == 0o750 and host.file(backup["path"] + "/milvus").mode == 0o700


def test_backup_age_metric_is_exported_and_alerted_on(host, backup):
    metrics = host.check_output("curl -s http://127.0.0.1:9100/metrics")
    for tier in ("postgres", "milvus"):
        found = re.search(r'ragops_backup_last_success_timestamp_seconds\{[^}]*tier="%s"[^}]*\} (\S+)' % tier, metrics)
        assert found and time.time() - float(found.group(1)) < 3600, metrics[-2000:]
    rules = host.check_output("curl -s http://127.0.0.1:9090/api/v1/rules")
    assert "BackupTooOld" in rules and "ragops_backup_last_success_timestamp_seconds" in rules


def test_timer_is_scheduled_daily(host):
    timer = host.service("ragops-backup.timer")
    assert timer.is_enabled and timer.is_running
    assert "OnCalendar=*-*-* 02:00:00" in host.file("/etc/systemd/system/ragops-backup.timer").content_string


def destroy_for_real(host) -> None:
    """Real data loss: bot A's PostgreSQL partition dropped and its Milvus entities deleted, bot B's rows deleted
    and its Milvus partition dropped."""
    a, b, _c = BOTS
    milvus_a, milvus_b = milvus_partition_name(a), milvus_partition_name(b)
    sql = f"DROP TABLE {postgres_partition_name(a)}; DELETE FROM documents WHERE bot_id = '{b}';"
    host.check_output("runuser -u postgres -- psql -X -q -d ragops -c %s", sql)
    tools(host, f"""
from pymilvus import MilvusClient
m = MilvusClient(uri="http://127.0.0.1:19530")
m.release_partitions("chatty", ["{milvus_b}"])
m.drop_partition("chatty", "{milvus_b}")
ids = [r["id"] for r in m.query("chatty", filter='id != ""', output_fields=["id"], partition_names=["{milvus_a}"],
                                   consistency_level="Strong", limit=16000)]
m.delete("chatty", ids=ids, partition_name="{milvus_a}")
""")


def test_restore_after_real_loss_refuses_live_data_then_restores_everything(host, loaded, backup):
    a, b, c = BOTS
    destroy_for_real(host)
    lost = live(host)
    assert a not in lost["postgres"] and lost["postgres"][b]["rows"] == 0
    assert b not in lost["milvus"] and lost["milvus"][a]["entities"] == 0
    assert lost["postgres"][c] == loaded["live"]["postgres"][c]

    # Bot C still has its data: a full restore without force is refused before anything changes.
    output, recap = playbook("restore.yml", "-e", "backup_restore_id=" + backup["id"])
    assert recap[2] == "1" and "set force" in output, output[-3000:]
    assert live(host) == lost

    # The two damaged bots only: their partitions are empty or gone, so no force is needed.
    output, recap = playbook("restore.yml", "-e", json.dumps({"backup_restore_id": backup["id"],
                                                              "backup_restore_tenants": [a, b]}))
    assert recap[1:] == ("0", "0") and "match the manifest" in output, output[-4000:]
    assert live(host) == loaded["live"]
    assert searches(host) == loaded["searches"]

    # The whole backup over live data, with force (drops and recreates the database).
    output, recap = playbook("restore.yml", "-e", "backup_restore_force=true")
    assert recap[1:] == ("0", "0") and output.count("match the manifest") == 2, output[-4000:]
    assert live(host) == loaded["live"]
    assert searches(host) == loaded["searches"]


def test_a_damaged_backup_is_refused(host, backup):
    path = "%s/postgres/globals.sql" % backup["path"]
    host.run_test("cp %s /tmp/globals.sql.orig", path)
    # Same size, one byte changed, in place (the weekly and monthly copies are hard links to it).
    host.run_test("printf X | dd of=%s bs=1 seek=0 conv=notrunc status=none", path)
    try:
        result = program(host, "restore", "--id", backup["id"], "--force", "--dry-run")
        assert result["failed"] and "globals.sql: sha256 differs" in result["msg"], result
    finally:
        host.run_test("cp /tmp/globals.sql.orig %s && rm /tmp/globals.sql.orig", path)
    assert not program(host, "verify", "--id", backup["id"])["failed"]


RETENTION_SETUP = r"""
import datetime as dt, json, os, sys
root = sys.argv[1]
start = dt.datetime(2024, 1, 1, 2, 0, tzinfo=dt.timezone.utc)
ids = [(start + dt.timedelta(days=d)).strftime("%Y%m%dT%H%M%SZ") for d in range(45)]
def make(cls, i, ok=True):
    d = os.path.join(root, cls, i, "postgres")
    os.makedirs(d)
    open(os.path.join(d, "x.dump"), "w").write(i)
    if ok:
        json.dump({"status": "ok", "id": i, "finished_at": i[:4] + "-" + i[4:6] + "-" + i[6:8] + "T02:10:00+00:00",
                   "files": {}, "tenants": {}}, open(os.path.join(d, "manifest.json"), "w"))
for n, i in enumerate(ids):
    make("daily", i, ok=(n != 40))                    # day 41 failed half-way
for i in ids[::7]:
    make("weekly", i)                                  # 7 weeklies
for i in (ids[0], ids[31]):
    make("monthly", i)                                 # January, February
os.makedirs(os.path.join(root, "daily", "keep-me"))    # not a backup id: never touched
print(json.dumps(ids))
"""


def test_retention_removes_exactly_the_expected_backups(host):
    root = "/tmp/ragops-retention-test"
    host.run_test("rm -rf %s && mkdir -p %s", root, root)
    config = json.loads(host.check_output("cat %s", TOOLS_CONFIG))
    config.update(root=root + "/backups", keep={"daily": 7, "weekly": 4, "monthly": 1}, failed_keep_hours=24,
                  textfile_dir="")
    encoded = base64.b64encode(json.dumps(config).encode()).decode()
    host.run_test("echo %s | base64 -d > %s/config.json", encoded, root)
    encoded = base64.b64encode(RETENTION_SETUP.encode()).decode()
    ids = json.loads(host.check_output("echo %s | base64 -d | python3 - %s/backups", encoded, root))
    dry = json.loads(host.check_output(TOOLS_COMMAND + " --config %s/config.json retention --dry-run", root))
    result = json.loads(host.check_output(TOOLS_COMMAND + " --config %s/config.json retention", root))
    good_daily = [i for n, i in enumerate(ids) if n != 40]
    expected = sorted(["daily/" + i for i in good_daily[:-7]] + ["daily/" + ids[40]]
                      + ["weekly/" + i for i in ids[::7][:-4]] + ["monthly/" + ids[0]])
    assert dry["removed"] == result["removed"] == expected
    remaining = host.check_output("cd %s/backups && ls -d */*", root).split()
    assert sorted(remaining) == sorted(["daily/" + i for i in good_daily[-7:]] + ["daily/keep-me"]
                                       + ["weekly/" + i for i in ids[::7][-4:]] + ["monthly/" + ids[31]])
    host.run_test("rm -rf %s", root)


def test_status_shows_drift_made_on_purpose(host):
    only_pg, only_mv = str(uuid.uuid4()), str(uuid.uuid4())
    table, partition = postgres_partition_name(only_pg), milvus_partition_name(only_mv)
    host.check_output("runuser -u postgres -- psql -X -q -d ragops -c %s",
                      f"CREATE TABLE {table} PARTITION OF documents FOR VALUES IN ('{only_pg}')")
    tools(host, f"""
from pymilvus import MilvusClient
MilvusClient(uri="http://127.0.0.1:19530").create_partition("chatty", "{partition}")
""")
    try:
        output, recap = playbook("status.yml")
        assert recap == ("0", "0", "0"), output[-3000:]
        text = re.sub(r"\s+", " ", output)
        assert f"DRIFT {only_pg} only in PostgreSQL (0 rows)" in text, output[-5000:]
        assert f"DRIFT {only_mv} only in Milvus (0 entities)" in text, output[-5000:]
        for expected in ("ragops-backup.timer", "postgresql@15-main", "LAST BACKUP", "19530", "5432",
                         "instance :8001               200", "STORAGE /mnt/storage/rag-data"):
            assert expected in output, expected
    finally:
        host.check_output("runuser -u postgres -- psql -X -q -d ragops -c %s", f"DROP TABLE {table}")
        tools(host, f"""
from pymilvus import MilvusClient
m = MilvusClient(uri="http://127.0.0.1:19530")
m.release_partitions("chatty", ["{partition}"])
m.drop_partition("chatty", "{partition}")
""")
    output, _recap = playbook("status.yml")
    assert "drift: none" in output, output[-3000:]


def test_backup_and_status_change_nothing_in_check_mode():
    for name in ("backup.yml", "status.yml"):
        output, recap = playbook(name, "--check", "--diff")
        assert recap == ("0", "0", "0"), output[-4000:]


@pytest.mark.parametrize("state", ["running", "copying"])
def test_writes_around_the_api_are_refused_while_a_move_is_under_way(host, state):
    state_file = "/var/lib/ragops/migration.json"
    assert not host.file(state_file).exists
    host.run_test("mkdir -p /var/lib/ragops && echo '{\"state\": \"%s\"}' > %s", state, state_file)
    try:
        for name in ("tenants.yml", "backup.yml", "restore.yml"):
            output, recap = playbook(name)
            assert recap == ("0", "0", "1"), output[-3000:]
            message = re.sub(r"\s+", " ", output)
            assert f'a move is under way ({state_file} says "{state}")' in message, output[-3000:]
    finally:
        host.run_test("rm -f %s", state_file)
