"""ragops.stack.milvus_partition against a real Milvus 2.3 server."""

from __future__ import annotations

import pytest

from tests.conftest import MILVUS_URI, milvus_service, new_tenants
from tests.modrun import run_module


def partition(bot: str) -> str:
    return "bot_" + bot.replace("-", "").lower()


def run(collection, check=False, diff=False, **options):
    return run_module("milvus_partition", check=check, diff=diff, uri=MILVUS_URI, collection=collection, **options)


@pytest.fixture
def tenant_collection(milvus, collection):
    created = run_module("milvus_collection", uri=MILVUS_URI, collection=collection, dim=4)
    assert created["changed"] is True, created
    return collection


def test_creates_once_and_check_mode_predicts(milvus, tenant_collection):
    bots = new_tenants(3)
    predicted = run(tenant_collection, check=True, diff=True, tenants=bots)
    assert predicted["changed"] is True and predicted["created"] == [partition(b) for b in bots]
    assert predicted["executed"] == [] and milvus.list_partitions(tenant_collection) == ["_default"]
    assert predicted["diff"] == {"before": {"collection": tenant_collection, "partitions": []},
                                 "after": {"collection": tenant_collection,
                                           "partitions": sorted(partition(b) for b in bots)}}
    assert predicted["partition_limit"] == 4096 and predicted["partition_limit_source"] == "server"

    created = run(tenant_collection, tenants=[b.upper() for b in bots])
    assert created["changed"] is True and created["created"] == predicted["created"]
    assert created["partitions"] == {b: partition(b) for b in bots}
    assert sorted(milvus.list_partitions(tenant_collection)) == sorted(["_default"] + predicted["created"])
    assert created["partition_count"] == 4

    more = new_tenants(1)
    again = run(tenant_collection, tenants=bots + more)
    assert again["changed"] is True and again["created"] == [partition(more[0])]
    assert again["existing"] == [partition(b) for b in bots]
    assert run(tenant_collection, tenants=bots + more)["changed"] is False
    assert run(tenant_collection, check=True, tenants=bots + more)["changed"] is False


def test_absent_releases_loaded_partitions_then_drops(milvus, tenant_collection):
    bots = new_tenants(2)
    run(tenant_collection, tenants=bots)
    milvus.insert(tenant_collection, [{"id": "d1", "bot_id": bots[0], "embedding": [0.1, 0.2, 0.3, 0.4]}],
                  partition_name=partition(bots[0]))
    assert str(milvus.get_load_state(tenant_collection, partition_name=partition(bots[0]))["state"]).endswith("Loaded")

    predicted = run(tenant_collection, check=True, tenants=bots, state="absent")
    assert predicted["changed"] is True and predicted["dropped"] == [partition(b) for b in bots]
    assert len(milvus.list_partitions(tenant_collection)) == 3

    dropped = run(tenant_collection, tenants=bots, state="absent")
    assert dropped["changed"] is True
    assert dropped["released"] == [partition(b) for b in bots]
    assert dropped["executed"][:2] == [f"release_partitions({tenant_collection}, [{partition(bots[0])}])",
                                       f"drop_partition({tenant_collection}, {partition(bots[0])})"]
    assert milvus.list_partitions(tenant_collection) == ["_default"]
    assert run(tenant_collection, tenants=bots, state="absent")["changed"] is False


def test_raw_names(milvus, tenant_collection):
    assert run(tenant_collection, names=["archive_2025"])["created"] == ["archive_2025"]
    both = run(tenant_collection, names=["x"], tenants=new_tenants(1))
    assert both.get("failed") and "mutually exclusive" in both["msg"]
    default = run(tenant_collection, names=["_default"], state="absent")
    assert default.get("failed") and "_default partition cannot be dropped" in default["msg"]


def test_bad_input_is_refused_before_anything_changes(milvus, tenant_collection):
    good = new_tenants(2)
    result = run(tenant_collection, tenants=[good[0], "bot-1", good[1], good[0].replace("-", "")])
    assert result.get("failed")
    assert "tenants[1]: tenant 'bot-1' is not a UUID" in result["msg"]
    assert "tenants[3]" in result["msg"] and "repeats tenants[0]" in result["msg"]
    names = run(tenant_collection, names=["ok_name", "has-dash"])
    assert names.get("failed") and "names[1]: Milvus partition name 'has-dash' is invalid" in names["msg"]
    assert milvus.list_partitions(tenant_collection) == ["_default"]


def test_missing_and_partition_key_collections(milvus, collection):
    missing = run(collection, tenants=new_tenants(1))
    assert missing.get("failed") and f"collection {collection} does not exist in database default" in missing["msg"]
    run_module("milvus_collection", uri=MILVUS_URI, collection=collection, dim=4, tenancy="partition_key",
               num_partitions=4)
    keyed = run(collection, tenants=new_tenants(1))
    assert keyed.get("failed") and "uses the partition key bot_id" in keyed["msg"]


def test_unreachable_server_names_the_uri_never_the_token(collection):
    token = "root:Sup3r-Secret-Token"
    result = run_module("milvus_partition", uri="http://127.0.0.1:1", token=token, timeout=2,
                        collection=collection, tenants=new_tenants(1))
    assert result.get("failed") and "cannot reach Milvus at http://127.0.0.1:1" in result["msg"]
    assert token not in str(result) and "Sup3r" not in str(result)


def test_max_partitions_option_is_enforced_with_default_counted(milvus, tenant_collection):
    run(tenant_collection, tenants=new_tenants(2))
    over = run(tenant_collection, tenants=new_tenants(3), max_partitions=5)
    assert over.get("failed")
    assert "would have 6 partitions (3 now, _default included, + 3 new) but the server allows 5" in over["msg"]
    assert over["partition_limit_source"] == "option" and len(milvus.list_partitions(tenant_collection)) == 3
    assert run(tenant_collection, tenants=new_tenants(2), max_partitions=5)["changed"] is True


@pytest.mark.restart
def test_limit_read_from_the_server_and_restart_between_runs(milvus_server, collection):
    """Restart Milvus with rootCoord.maxPartitionNum=6: the module reads it from the server."""
    from pymilvus import MilvusClient

    run_module("milvus_collection", uri=MILVUS_URI, collection=collection, dim=4)
    first = new_tenants(3)
    assert run(collection, tenants=first)["changed"] is True
    try:
        milvus_service("restart", "--env", "ROOTCOORD_MAXPARTITIONNUM=6")
        same = run(collection, tenants=first, timeout=30)
        assert same["changed"] is False, "partitions survive a restart"
        assert (same["partition_limit"], same["partition_limit_source"]) == (6, "server")
        over = run(collection, tenants=first + new_tenants(3))
        assert over.get("failed") and "would have 7 partitions" in over["msg"] and "allows 6" in over["msg"]
        # After a restart Milvus creates a partition of a loaded collection only once the
        # collection is loaded again (about 25 s here): the module waits for it.
        fits = run(collection, tenants=first + new_tenants(2), timeout=120)
        assert fits["changed"] is True and fits["partition_count"] == 6
    finally:
        client = MilvusClient(uri=MILVUS_URI, timeout=60)
        client.drop_collection(collection)  # before the restart: nothing left to reload
        client.close()
        milvus_service("restart")
