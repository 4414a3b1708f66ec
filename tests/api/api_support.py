"""Constants and helpers shared by the search API tests (imported by conftest.py and the tests)."""

from __future__ import annotations

import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "api") not in sys.path:
    sys.path[:0] = [str(ROOT / "api"), str(ROOT)]

from pymilvus import MilvusClient  # noqa: E402

PG = dict(host="127.0.0.1", port=5432, user="postgres", password="ragops-test-only")
PG_ADMIN_DSN = "host={host} port={port} user={user} password={password} dbname=ragops_test".format(**PG)
MILVUS_URI = "http://127.0.0.1:19530"
MILVUS_HEALTH = "http://127.0.0.1:9091/healthz"
DIM = 8
KEYS = ("test-key-one", "test-key-two")
# Provisioned up front in one module run each; every test takes fresh ones.
BOTS_PER_TENANCY = {"partition": 32, "partition_key": 10}
RUN = uuid.uuid4().hex[:8]
DB_NAME = f"ragops_api_{RUN}"


def wait_for_milvus(timeout: float = 90.0) -> MilvusClient:
    """Milvus may be restarting (other suites restart it); wait, then fail loudly."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(MILVUS_HEALTH, timeout=2) as response:
                last = response.read().decode().strip()
            if last == "OK":
                client = MilvusClient(uri=MILVUS_URI, timeout=10)
                client.list_collections()
                return client
        except Exception as exc:
            last = str(exc)
        time.sleep(1)
    pytest.fail(f"Milvus at {MILVUS_URI} is not usable after {timeout:.0f}s (health: {last}); start it with"
                " `python tests/services/milvus_server.py start`", pytrace=False)


def checked(result: dict) -> dict:
    assert not result.get("failed"), result.get("msg")
    return result


def vector(*head: float) -> list[float]:
    """A DIM-sized vector starting with ``head``, zeros after."""
    return [*head, *([0.0] * (DIM - len(head)))]


def doc(doc_id: str, text: str, *head: float, **metadata: object) -> dict:
    return {"id": doc_id, "text": text, "metadata": metadata, "embedding": vector(*head)}
