"""The read-only info modules, against data written for real."""

from __future__ import annotations

import random

import pytest

from tests.conftest import MILVUS_URI, PG, new_tenants
from tests.modrun import run_module


@pytest.fixture
def tenants_with_data(milvus, collection, pg, pg_schema):
    """Three tenants with partitions on both servers; two hold data."""
    bots = new_tenants(3)
    run_module("milvus_collection", uri=MILVUS_URI, collection=collection, dim=4)
    run_module("milvus_partition", uri=MILVUS_URI, collection=collection, tenants=bots)
    run_module("postgres_partition", schema=pg_schema, tenants=bots, **PG)
    rng = random.Random(7)
    for bot, count in ((bots[0], 25), (bots[1], 3)):
        milvus.insert(collection, [{"id": f"d{i}", "bot_id": bot, "embedding": [rng.random() for _dim in range(4)]}
                                   for i in range(count)], partition_name="bot_" + bot.replace("-", ""))
        with pg.cursor() as cur:
            cur.executemany(f"INSERT INTO {pg_schema}.documents (bot_id, id, text) VALUES (%s, %s, %s)",
                            [(bot, f"d{i}", f"text {i}") for i in range(count)])
    return bots


def test_milvus_info_counts_entities_per_tenant(collection, tenants_with_data):
    bots = tenants_with_data
    info = run_module("milvus_info", uri=MILVUS_URI, collection=collection)
    assert info["changed"] is False and info["server_version"].startswith("v2.3")
    assert (info["partition_limit"], info["partition_limit_source"]) == (4096, "server")
    assert collection in info["collections"]
    assert info["collection"]["partition_count"] == 4 and info["collection"]["loaded"] is True
    assert info["count_method"] == "exact"
    assert {t: f["entities"] for t, f in info["tenants"].items()} == {bots[0]: 25, bots[1]: 3, bots[2]: 0}

    unknown = new_tenants(1)[0]
    some = run_module("milvus_info", uri=MILVUS_URI, collection=collection, tenants=[bots[1], unknown])
    assert some["tenants"] == {bots[1]: {"partition": "bot_" + bots[1].replace("-", ""), "exists": True,
                                         "entities": 3},
                               unknown: {"partition": "bot_" + unknown.replace("-", ""), "exists": False}}
    missing = run_module("milvus_info", uri=MILVUS_URI, collection="nope_" + collection)
    assert missing["collection"] == {"name": "nope_" + collection, "exists": False}


def test_milvus_info_partition_key_counts_by_filter(milvus, collection):
    run_module("milvus_collection", uri=MILVUS_URI, collection=collection, dim=4, tenancy="partition_key",
               num_partitions=4)
    bots = new_tenants(2)
    milvus.insert(collection, [{"id": f"k{i}", "bot_id": bots[i % 2], "embedding": [0.5, 0.1, 0.2, i / 10]}
                               for i in range(7)])
    info = run_module("milvus_info", uri=MILVUS_URI, collection=collection, tenants=bots)
    assert info["collection"]["tenancy"] == "partition_key" and info["collection"]["partition_key"] == "bot_id"
    assert {t: f["entities"] for t, f in info["tenants"].items()} == {bots[0]: 4, bots[1]: 3}


def test_postgres_partition_info_rows_and_checksums(pg, pg_schema, tenants_with_data):
    bots = tenants_with_data
    info = run_module("postgres_partition_info", schema=pg_schema, checksum=True, **PG)
    assert info["changed"] is False
    assert info["table"]["partitioned_by_list"] is True and info["table"]["column_type"] == "uuid"
    assert len(info["partitions"]) == 3
    assert {t: f["rows"] for t, f in info["tenants"].items()} == {bots[0]: 25, bots[1]: 3, bots[2]: 0}
    assert info["tenants"][bots[2]]["checksum"] == "0"
    before = info["tenants"][bots[0]]["checksum"]

    # The checksum follows content, not physical order: rewrite the rows in another order, same sum.
    pg.execute(f"CREATE TEMP TABLE keep AS SELECT * FROM {pg_schema}.documents WHERE bot_id = %s", (bots[0],))
    pg.execute(f"DELETE FROM {pg_schema}.documents WHERE bot_id = %s", (bots[0],))
    pg.execute(f"INSERT INTO {pg_schema}.documents SELECT * FROM keep ORDER BY id DESC")
    same = run_module("postgres_partition_info", schema=pg_schema, checksum=True, tenants=[bots[0]], **PG)
    assert same["tenants"][bots[0]]["checksum"] == before

    pg.execute(f"UPDATE {pg_schema}.documents SET text = 'changed' WHERE bot_id = %s AND id = 'd3'", (bots[0],))
    changed = run_module("postgres_partition_info", schema=pg_schema, checksum=True, tenants=[bots[0]], **PG)
    assert changed["tenants"][bots[0]]["checksum"] != before and changed["tenants"][bots[0]]["rows"] == 25


def test_postgres_partition_info_reports_missing_and_unusable_tables(pg, pg_schema):
    missing = run_module("postgres_partition_info", schema=pg_schema, table="absent_table", **PG)
    assert missing["table"]["exists"] is False and missing["tenants"] == {}
    pg.execute(f"CREATE TABLE {pg_schema}.plain (bot_id uuid)")
    plain = run_module("postgres_partition_info", schema=pg_schema, table="plain", **PG)
    assert plain["table"]["exists"] is True and plain["table"]["partitioned_by_list"] is False
    assert "is not partitioned" in plain["table"]["problem"]
    bot = new_tenants(1)[0]
    listed = run_module("postgres_partition_info", schema=pg_schema, tenants=[bot], **PG)
    assert listed["tenants"] == {bot: {"partition": "documents_" + bot.replace("-", ""), "exists": False,
                                       "attached": False}}


def test_milvus_info_search_probes_fingerprint_the_data(milvus, collection, tenants_with_data):
    bots = tenants_with_data
    first = run_module("milvus_info", uri=MILVUS_URI, collection=collection, search_probes=3, search_top_k=5)
    probes = first["tenants"][bots[0]]["search_ids"]
    assert len(probes) == 3 and all(len(row) == 5 for row in probes)
    assert len({tuple(row) for row in probes}) > 1, "the three probe vectors should differ"
    assert [len(row) for row in first["tenants"][bots[1]]["search_ids"]] == [3, 3, 3]
    assert first["tenants"][bots[2]]["search_ids"] == [[], [], []]

    again = run_module("milvus_info", uri=MILVUS_URI, collection=collection, search_probes=3, search_top_k=5)
    assert again["tenants"] == first["tenants"]

    milvus.delete(collection, ids=[probes[0][0]], partition_name="bot_" + bots[0].replace("-", ""))
    changed = run_module("milvus_info", uri=MILVUS_URI, collection=collection, search_probes=3, search_top_k=5)
    assert probes[0][0] not in changed["tenants"][bots[0]]["search_ids"][0]
    assert changed["tenants"][bots[0]]["entities"] == 24
    assert changed["tenants"][bots[1]] == first["tenants"][bots[1]]

    refused = run_module("milvus_info", uri=MILVUS_URI, collection=collection, search_probes=-1)
    assert refused.get("failed") and "search_probes must be >= 0" in refused["msg"]
