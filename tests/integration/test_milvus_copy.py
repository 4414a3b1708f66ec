"""The copy strategy of a migration: ragops_tools copy-milvus against the real server.

Two databases of the one test server stand in for the source and the target servers.
"""

from __future__ import annotations

import random
import uuid

import pytest

from ragops_tools.base import BackupError
from ragops_tools.milvus import create_collection, describe
from ragops_tools.milvus_copy import copy_milvus
from tests.conftest import MILVUS_URI, new_tenants
from tests.modrun import run_module


@pytest.fixture
def target_db(milvus):
    name = "copy_" + uuid.uuid4().hex[:8]
    milvus.create_database(name)
    yield name
    from pymilvus import MilvusClient

    client = MilvusClient(uri=MILVUS_URI, db_name=name, timeout=30)
    for collection in client.list_collections():
        client.drop_collection(collection)
    client.close()
    milvus.drop_database(name)


def test_copy_streams_every_partition_and_redoes_a_half_copy(milvus, collection, target_db):
    from pymilvus import MilvusClient

    bots = new_tenants(3)
    run_module("milvus_collection", uri=MILVUS_URI, collection=collection, dim=8)
    run_module("milvus_partition", uri=MILVUS_URI, collection=collection, tenants=bots)
    rng = random.Random(3)
    for bot, count in zip(bots, (1200, 7, 0)):
        if count:
            milvus.insert(collection, [{"id": f"{bot[:4]}-{i}", "bot_id": bot,
                                        "embedding": [rng.random() for _dim in range(8)]} for i in range(count)],
                          partition_name="bot_" + bot.replace("-", ""))
    config = {"milvus": {"uri": MILVUS_URI, "db_name": target_db, "collection": collection, "batch_size": 500,
                         "timeout": 60}}
    target = MilvusClient(uri=MILVUS_URI, db_name=target_db, timeout=60)
    # A half-done earlier copy: one partition already holds a stray entity.
    create_collection(target, describe(milvus, collection))
    target.create_partition(collection, "bot_" + bots[0].replace("-", ""))
    target.load_collection(collection)
    target.insert(collection, [{"id": "stray", "bot_id": bots[0], "embedding": [0.0] * 8}],
                  partition_name="bot_" + bots[0].replace("-", ""))

    result = copy_milvus(config, MILVUS_URI)
    assert {t: f["entities"] for t, f in result["tenants"].items()} == {bots[0]: 1200, bots[1]: 7, bots[2]: 0}
    assert "drop_partition(bot_%s)" % bots[0].replace("-", "") in result["executed"]

    source_facts = run_module("milvus_info", uri=MILVUS_URI, collection=collection, search_probes=2, search_top_k=5)
    target_facts = run_module("milvus_info", uri=MILVUS_URI, db_name=target_db, collection=collection,
                              search_probes=2, search_top_k=5)
    assert target_facts["tenants"] == source_facts["tenants"]

    # The same copy again gives the same data; one tenant alone leaves the others as they are.
    again = copy_milvus(config, MILVUS_URI, tenants=[bots[1]])
    assert list(again["tenants"]) == [bots[1]]
    assert run_module("milvus_info", uri=MILVUS_URI, db_name=target_db, collection=collection)["tenants"] == \
        {t: {k: v for k, v in f.items() if k != "search_ids"} for t, f in source_facts["tenants"].items()}
    target.close()


def test_copy_refuses_a_target_collection_of_another_shape(milvus, collection, target_db):
    from pymilvus import MilvusClient

    run_module("milvus_collection", uri=MILVUS_URI, collection=collection, dim=8)
    target = MilvusClient(uri=MILVUS_URI, db_name=target_db, timeout=60)
    target.create_collection(collection, dimension=4)
    config = {"milvus": {"uri": MILVUS_URI, "db_name": target_db, "collection": collection, "batch_size": 500}}
    with pytest.raises(BackupError, match="differs between the servers"):
        copy_milvus(config, MILVUS_URI)
    target.close()
