"""The Milvus unit's stop and start helpers (ragops_tools milvus-flush / milvus-ready) on the real server."""

from __future__ import annotations

import random
import re

import pytest
from pymilvus import MilvusClient

from ragops_tools.milvus_service import flush, wait_ready
from tests.conftest import MILVUS_HEALTH, MILVUS_URI, milvus_service

ROWS = 500


def fill(milvus, name: str, load: bool) -> None:
    milvus.create_collection(name, dimension=8, consistency_level="Strong")
    rng = random.Random(name)
    milvus.insert(name, [{"id": i, "vector": [rng.random() for _dim in range(8)]} for i in range(ROWS)])
    if not load:
        milvus.release_collection(name)


def test_flush_seals_the_loaded_collections_only(milvus, collection):
    fill(milvus, collection, load=True)
    released = collection + "_released"
    fill(milvus, released, load=False)
    try:
        result = flush(MILVUS_URI, timeout=60)
        assert collection in result["flushed"] and released not in result["flushed"], result
        assert milvus.get_collection_stats(collection)["row_count"] == ROWS
    finally:
        milvus.drop_collection(released)


@pytest.mark.restart
def test_after_a_restart_ready_means_loaded_and_complete(milvus, collection):
    fill(milvus, collection, load=True)
    flush(MILVUS_URI, timeout=60)
    try:
        milvus_service("restart")
        result = wait_ready(MILVUS_URI, MILVUS_HEALTH, timeout=180)
        assert collection in result["loaded"], result
        client = MilvusClient(uri=MILVUS_URI, timeout=10)
        # No wait of our own: once wait_ready returns the collection answers, with every row written before.
        assert str(client.get_load_state(collection)["state"]).endswith("Loaded")
        assert client.query(collection, output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"] == ROWS
        client.close()
    finally:
        client = MilvusClient(uri=MILVUS_URI, timeout=60)
        client.drop_collection(collection)
        client.close()


def test_ready_gives_up_after_its_timeout():
    with pytest.raises(TimeoutError, match=re.escape("did not answer http://127.0.0.1:9/healthz within 1 s")):
        wait_ready(MILVUS_URI, "http://127.0.0.1:9/healthz", timeout=1, poll=0.2)
