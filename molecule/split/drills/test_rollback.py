"""A migration that must roll back: while writes are frozen at the source's Nginx, rows still reach its
PostgreSQL directly (a writer behind the freeze). The verification finds them, the source takes over again and
nothing on it is lost. Runs as molecule's side effect, before the real move in converge.

The drill re-homes PostgreSQL (the source's directory on the shared volume renamed to the target's), so that
the rollback has a directory to hand back; the real move in converge streams, the default."""

from __future__ import annotations

import json
import re
import subprocess
import time

from ragops_testkit.migration import (
    BOTS,
    SOURCE,
    SOURCE_ADDRESS,
    call,
    docker,
    expected_path,
    pg_rows,
    psql,
    record,
    settled_searches,
    source_fingerprint,
    start_playbook,
    state,
)

PG_TARGET, MILVUS_TARGET = "ragops-split-postgres", "ragops-split-milvus"


def test_a_row_written_behind_the_freeze_rolls_the_move_back(tmp_path):
    before = source_fingerprint()
    log = tmp_path / "migrate.log"
    run = start_playbook("playbooks/migrate.yml", log, "-e", "migrate_postgres_method=rehome")
    frozen, searched, behind, refused = None, None, 0, 0
    try:
        deadline = time.monotonic() + 900
        while run.poll() is None and time.monotonic() < deadline:
            if frozen is None:
                probe = call("PUT", SOURCE_ADDRESS, f"/v1/bots/{BOTS[0]}/documents",
                             {"documents": [{"id": "during-freeze", "text": "x", "embedding": [0.1] * 128}]},
                             timeout=10)
                if probe.status_code == 503:
                    frozen = probe
                    search = call("POST", SOURCE_ADDRESS, f"/v1/bots/{BOTS[0]}/search",
                                  {"embedding": [0.1] * 128, "top_k": 3}, timeout=30)
                    searched = search.status_code
                else:
                    assert probe.status_code == 200, probe.text
                    time.sleep(0.5)
                continue
            # Behind the freeze: straight into the source's PostgreSQL, as a job with its own connection would.
            # Re-homing stops it for a while; only the rows it acknowledged count.
            try:
                psql(SOURCE, f"INSERT INTO documents (bot_id, id, text) VALUES ('{BOTS[1]}', 'behind-{behind}', "
                             "'late')")
            except subprocess.CalledProcessError:
                refused += 1
            else:
                behind += 1
            time.sleep(0.3)
        rc = run.wait(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    output = log.read_text()
    assert frozen is not None, "the write freeze never showed:\n" + output[-4000:]
    assert frozen.headers.get("Retry-After") == "120" and "migration" in frozen.json()["detail"]
    assert searched == 200, "searches go on during the freeze"
    assert behind > 0 and refused > 0, (behind, refused)
    assert rc != 0, output[-4000:]
    assert "rolled back" in output and "changed behind the freeze" in output, output[-4000:]
    assert re.search(rf"tenant {BOTS[1]}: the source's PostgreSQL changed", output), output[-4000:]

    # The source serves again: writes pass its Nginx, its Milvus is back and answers as before.
    rows = pg_rows(SOURCE)
    assert rows[BOTS[1]]["rows"] == before["postgres"][BOTS[1]]["rows"] + behind, "every late row is kept"
    assert call("PUT", SOURCE_ADDRESS, f"/v1/bots/{BOTS[0]}/documents",
                {"documents": [{"id": "after-rollback", "text": "y", "embedding": [0.2] * 128}]}).status_code == 200
    assert docker(SOURCE, "systemctl", "is-active", "milvus", "nginx", "postgresql@15-main").split() == \
        ["active"] * 3
    assert docker(SOURCE, "cat", "/mnt/storage/rag-data/.milvus.owner").strip() == SOURCE
    assert docker(SOURCE, "cat", "/mnt/storage/rag-data/postgres/15/main/PG_VERSION").strip() == "15"
    assert "not frozen" in docker(SOURCE, "cat", "/etc/nginx/ragops-write-freeze.conf")
    assert state(SOURCE)["state"] == "rolled back"
    assert "ragops-migrate" not in docker(SOURCE, "nft", "list", "table", "inet", "ragops")
    # Milvus stays stopped on its target; the PostgreSQL target runs its own empty cluster again, in its place.
    active = subprocess.run(["docker", "exec", MILVUS_TARGET, "systemctl", "is-active", "milvus"],
                            capture_output=True, text=True, check=False).stdout.strip()
    assert active != "active", f"milvus on {MILVUS_TARGET} is {active}"
    assert pg_rows(PG_TARGET) == {}
    clusters = "/mnt/storage/rag-data/postgres/15"
    assert psql(PG_TARGET, "SELECT current_setting('data_directory')") == f"{clusters}/{PG_TARGET}"
    assert f"{PG_TARGET}.empty" not in docker(PG_TARGET, "ls", "-a", clusters).split()

    # What the real move must carry over from now on.
    after = record()
    assert expected_path().exists()
    assert after["postgres"][BOTS[1]]["rows"] == rows[BOTS[1]]["rows"]
    assert after["searches"][BOTS[1]] == before["searches"][BOTS[1]]


def test_the_next_run_undoes_a_rehoming_that_was_cut_off(tmp_path):
    """The controller lost in the middle of a re-homing, so no rollback ran: writes are frozen, the source's
    PostgreSQL is stopped and its directory carries the target's name, and Milvus runs on the target with the
    owner record naming it. The next run puts all of it back before its checks (made to fail here, on purpose,
    with an empty tenant list, so that it stops there)."""
    clusters, owner_record = "/mnt/storage/rag-data/postgres/15", "/mnt/storage/rag-data/.milvus.owner"
    rows, kept_state = pg_rows(SOURCE), docker(SOURCE, "cat", "/var/lib/ragops/migration.json")
    searched = settled_searches(SOURCE_ADDRESS)
    # What freeze.yml, postgres_rehome.yml and milvus_rehome.yml leave behind.
    docker(SOURCE, "sh", "-c", "printf 'set $ragops_write_frozen 1;\\nset $ragops_write_freeze_retry_after 120;\\n'"
                               " > /etc/nginx/ragops-write-freeze.conf && systemctl reload nginx")
    docker(SOURCE, "systemctl", "stop", "postgresql@15-main", "milvus")
    docker(PG_TARGET, "systemctl", "stop", "postgresql@15-main")
    docker(PG_TARGET, "mv", "-T", f"{clusters}/{PG_TARGET}", f"{clusters}/{PG_TARGET}.empty")
    docker(PG_TARGET, "mv", "-T", f"{clusters}/main", f"{clusters}/{PG_TARGET}")
    docker(PG_TARGET, "systemctl", "start", "postgresql@15-main")
    docker(MILVUS_TARGET, "sh", "-c", f"echo {MILVUS_TARGET} > {owner_record} && systemctl start milvus")
    cut_off = json.dumps({"state": "running", "postgres_method": "rehome", "milvus_method": "rehome",
                          "postgres_data_dir": f"{clusters}/main"})
    write_state = ["docker", "exec", "-i", SOURCE, "sh", "-c", "cat > /var/lib/ragops/migration.json"]
    subprocess.run(write_state, input=cut_off, text=True, check=True)
    assert call("PUT", SOURCE_ADDRESS, f"/v1/bots/{BOTS[0]}/documents",
                {"documents": [{"id": "cut-off", "text": "z", "embedding": [0.3] * 128}]}).status_code == 503
    try:
        log = tmp_path / "migrate.log"
        rc = start_playbook("playbooks/migrate.yml", log, "-e", "migrate_postgres_method=rehome",
                            "-e", '{"ragops_tenants": []}').wait(timeout=900)
        output = log.read_text()
        assert rc != 0 and "the tenant lists differ" in output, output[-4000:]
        assert re.search(r"Move the source's cluster back[^\n]*\n+changed:", output), output[-4000:]
        assert re.search(r"Hand the Milvus data directory back to the source[^\n]*\n+changed:", output), \
            output[-4000:]
        assert pg_rows(SOURCE) == rows
        assert docker(SOURCE, "systemctl", "is-active", "postgresql@15-main", "milvus").split() == ["active"] * 2
        assert pg_rows(PG_TARGET) == {}
        assert f"{PG_TARGET}.empty" not in docker(PG_TARGET, "ls", "-a", clusters).split()
        assert docker(SOURCE, "cat", owner_record).strip() == SOURCE
        active = subprocess.run(["docker", "exec", MILVUS_TARGET, "systemctl", "is-active", "milvus"],
                                capture_output=True, text=True, check=False).stdout.strip()
        assert active != "active", f"milvus on {MILVUS_TARGET} is {active}"
        # The source answers as before the cut-off, and takes writes again.
        assert settled_searches(SOURCE_ADDRESS) == searched
        assert call("PUT", SOURCE_ADDRESS, f"/v1/bots/{BOTS[0]}/documents",
                    {"documents": [{"id": "after-cut-off", "text": "z", "embedding": [0.3] * 128}]}
                    ).status_code == 200
        record()
    finally:
        subprocess.run(write_state, input=kept_state, text=True, check=True)
