"""The data a migration test writes to the phase-1 source, and its fingerprint: rows and a content checksum per
bot in PostgreSQL, entities per bot in Milvus, and fixed searches through Nginx (ids, scores, texts)."""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import time
import uuid
from pathlib import Path

from ragops_testkit import lab
from ragops_testkit.lab import milvus_partition_name

ROOT = Path(__file__).resolve().parents[2]
# The scenario's two bots, plus those the benchmark asks for (as molecule/split/group_vars/all/90-molecule.yml).
BOTS = ("550e8400-e29b-41d4-a716-446655440000", "7c9e6679-7425-40de-944b-e07fc1f90ae7") + tuple(
    str(uuid.uuid5(uuid.UUID("361E6D51-FAEC-444A-9079-341386DA8E2E"), f"bench-bot-{n}"))
    for n in range(2, int(os.environ.get("RAGOPS_TEST_TENANTS", "2"))))
DIM = 128
SOURCE, SOURCE_ADDRESS = "ragops-split-source", "172.31.240.10"
SEARCHES = 3
EXPECTED = "migration-expected.json"


def expected_path() -> Path:
    return Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")) / EXPECTED


def url(address: str, path: str) -> str:
    return f"https://{address}{path}"


def call(method: str, address: str, path: str, body: dict | None = None, timeout: float = 60) -> lab.Response:
    """A request to the Nginx at ``address`` (test-network address) with the lab's API key."""
    return lab.call(method, url(address, path), body, timeout=timeout)


def load(address: str, documents: int, batch: int = 200, seed: int = 11) -> None:
    """``documents`` per bot through Nginx, with text, metadata and a vector each."""
    rng = random.Random(seed)
    for bot in BOTS:
        for start in range(0, documents, batch):
            docs = [{"id": f"doc-{i}", "text": f"{bot[:8]} document {i}", "metadata": {"n": i, "bot": bot[:8]},
                     "embedding": lab.vector(rng, DIM)} for i in range(start, min(start + batch, documents))]
            response = call("PUT", address, f"/v1/bots/{bot}/documents", {"documents": docs})
            assert response.status_code == 200, response.text


def docker(container: str, *command: str) -> str:
    return subprocess.run(["docker", "exec", container, *command], check=True, capture_output=True,
                          text=True).stdout


def psql(container: str, sql: str) -> str:
    return docker(container, "runuser", "-u", "postgres", "--", "psql", "-d", "ragops", "-AtXc", sql).strip()


def pg_rows(container: str) -> dict:
    """Per bot: rows and an md5 over every row's id, text and metadata, in id order."""
    out = psql(container, "SELECT bot_id, count(*), md5(string_agg(id || '|' || text || '|' || metadata::text, ','"
                          " ORDER BY id)) FROM documents GROUP BY bot_id ORDER BY bot_id")
    return {line.split("|")[0]: {"rows": int(line.split("|")[1]), "md5": line.split("|")[2]}
            for line in out.splitlines() if line}


MILVUS_COUNT = """
import json, sys
from pymilvus import MilvusClient
client = MilvusClient(uri=sys.argv[1], timeout=60)
out = {}
for bot, partition in json.loads(sys.argv[2]).items():
    rows = client.query("chatty", filter="", output_fields=["count(*)"], consistency_level="Strong",
                        partition_names=[partition])
    out[bot] = rows[0]["count(*)"]
print(json.dumps(out))
"""


def milvus_entities(container: str, address: str) -> dict:
    partitions = {bot: milvus_partition_name(bot) for bot in BOTS}
    return json.loads(docker(container, "/opt/ragops/tools/bin/python", "-c", MILVUS_COUNT,
                             f"http://{address}:19530", json.dumps(partitions)))


def searches(address: str) -> dict:
    """Fixed searches per bot through Nginx: ids, scores (rounded) and texts, best first, as lists (like JSON)."""
    rng = random.Random(99)
    found = {}
    for bot in BOTS:
        found[bot] = []
        for _number in range(SEARCHES):
            response = call("POST", address, f"/v1/bots/{bot}/search", {"embedding": lab.vector(rng, DIM), "top_k": 10})
            assert response.status_code == 200, response.text
            found[bot].append([[r["id"], round(r["score"], 4), r["text"]] for r in response.json()["results"]])
    return found


def settled_searches(address: str, timeout: float = 90) -> dict:
    """The searches once two rounds in a row agree (the API searches with bounded staleness)."""
    deadline, last = time.monotonic() + timeout, searches(address)
    while True:
        time.sleep(3)
        current = searches(address)
        if current == last or time.monotonic() > deadline:
            return current
        last = current


def fingerprint(pg_container: str, milvus_container: str, milvus_address: str, api_address: str) -> dict:
    return {"postgres": pg_rows(pg_container), "milvus": milvus_entities(milvus_container, milvus_address),
            "searches": settled_searches(api_address)}


def source_fingerprint() -> dict:
    return fingerprint(SOURCE, SOURCE, "127.0.0.1", SOURCE_ADDRESS)


def record() -> dict:
    """The source's fingerprint, kept for the verifier."""
    data = source_fingerprint()
    expected_path().write_text(json.dumps(data, indent=1))
    return data


def start_playbook(playbook: str, log: Path, *extra: str) -> subprocess.Popen:
    """The playbook against the scenario's inventory, in the background, its output in ``log``."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    assert inventory, "run through molecule"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"))
    handle = log.open("w")
    return subprocess.Popen(["ansible-playbook", "-i", inventory, str(ROOT / playbook), *extra], cwd=ROOT, env=env,
                            stdout=handle, stderr=subprocess.STDOUT, text=True)


def state(container: str) -> dict:
    try:
        return json.loads(docker(container, "cat", "/var/lib/ragops/migration.json"))
    except subprocess.CalledProcessError:
        return {}


def wait_ready(address: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if lab.call("GET", url(address, "/readyz"), key=None, timeout=10).status_code == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"https://{address}/readyz not ready within {timeout} s")
        time.sleep(2)


if __name__ == "__main__":
    # molecule prepare: load the source through its Nginx and record what must survive the move.
    wait_ready(SOURCE_ADDRESS)
    load(SOURCE_ADDRESS, int(os.environ.get("RAGOPS_MIGRATION_DOCUMENTS", "300")))
    print(json.dumps(record()["postgres"]))
