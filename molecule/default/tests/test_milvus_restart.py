"""A Milvus restart on the converged phase-1 host: the unit flushes before it stops, returns only once Milvus
serves again, and nothing written before the restart is lost (per-bot counts and checksums of the entities)."""

from __future__ import annotations

import json

from ragops_testkit.lab import vector
from ragops_testkit.verify import api, tools_program

BOT = "550e8400-e29b-41d4-a716-446655440000"
DIM = 128
COLLECTION = "chatty"


def test_a_restart_flushes_returns_serving_and_loses_nothing(host):
    documents = [{"id": f"restart-{i}", "text": f"written just before a restart {i}", "embedding": vector(900 + i, DIM)}
                 for i in range(20)]
    status, body = api(host, "PUT", f"/v1/bots/{BOT}/documents", {"documents": documents})
    assert status == 200, body
    before = tools_program(host, "live", "--tier", "milvus")
    assert before["milvus"][BOT]["entities"] >= len(documents), before
    since = host.check_output("date +%s")

    restart = host.run("systemctl restart milvus")
    assert restart.rc == 0, restart.stderr

    # The unit's start waited for Milvus to serve: the first search after it answers, and finds the newest writes.
    status, body = api(host, "POST", f"/v1/bots/{BOT}/search", {"embedding": vector(900, DIM), "top_k": 1})
    assert status == 200, body
    assert body["results"][0]["id"] == "restart-0", body
    assert tools_program(host, "live", "--tier", "milvus") == before

    journal = [line for line in host.check_output("journalctl -u milvus --since @%s -o cat", since).splitlines()
               if line.startswith('{"failed"')]
    answers = [json.loads(line) for line in journal]
    flushes = [a for a in answers if "flushed" in a]
    readies = [a for a in answers if "healthy_after" in a]
    assert flushes and not flushes[0]["failed"] and COLLECTION in flushes[0]["flushed"], answers
    assert readies and not readies[-1]["failed"] and COLLECTION in readies[-1]["loaded"], answers
