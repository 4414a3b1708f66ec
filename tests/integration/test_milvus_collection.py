"""ragops.stack.milvus_collection against a real Milvus 2.3 server."""

from __future__ import annotations

from tests.conftest import MILVUS_URI
from tests.modrun import run_module


def ensure(collection, check=False, diff=False, **options):
    options.setdefault("dim", 8)
    options.setdefault("uri", MILVUS_URI)
    return run_module("milvus_collection", check=check, diff=diff, collection=collection, **options)


def test_creates_indexes_loads_and_is_idempotent(milvus, collection):
    predicted = ensure(collection, check=True, diff=True)
    assert predicted["changed"] is True and predicted["executed"] == []
    assert predicted["diff"]["before"] == {} and predicted["diff"]["after"]["vector"] == {"name": "embedding", "dim": 8}
    assert not milvus.has_collection(collection), "check mode must not create"

    created = ensure(collection)
    assert created["changed"] is True
    assert created["executed"] == [f"create_collection({collection}, dim=8, tenancy=partition)",
                                   f"create_index({collection}, embedding, HNSW)", f"load_collection({collection})"]
    described = milvus.describe_collection(collection)
    assert [f["name"] for f in described["fields"]] == ["id", "bot_id", "embedding"]
    index = milvus.describe_index(collection, "embedding")
    assert (index["index_type"], index["metric_type"], index["M"]) == ("HNSW", "COSINE", "16")
    assert str(milvus.get_load_state(collection)["state"]).endswith("Loaded")

    again = ensure(collection, diff=True)
    assert again["changed"] is False and again["executed"] == []
    assert again["diff"]["before"] == again["diff"]["after"]
    assert ensure(collection, check=True)["changed"] is False


def test_a_different_schema_is_an_error_listing_every_difference(milvus, collection):
    ensure(collection)
    result = ensure(collection, dim=16, metric_type="IP", index_params={"M": 8, "efConstruction": 64})
    assert result.get("failed")
    for text in ("vector dim is 8, wanted 16", "index metric is 'COSINE', wanted 'IP'", "index params",
                 "never drops a collection"):
        assert text in result["msg"]
    assert milvus.describe_collection(collection)["fields"][2]["params"]["dim"] == 8


def test_partition_key_tenancy(milvus, collection):
    result = ensure(collection, tenancy="partition_key", num_partitions=16)
    assert result["changed"] is True
    key = [f for f in milvus.describe_collection(collection)["fields"] if f.get("is_partition_key")]
    assert [f["name"] for f in key] == ["bot_id"]
    assert len(milvus.list_partitions(collection)) == 16
    assert ensure(collection, tenancy="partition_key", num_partitions=16)["changed"] is False
    mismatch = ensure(collection)  # partition tenancy requested for a partition-key collection
    assert mismatch.get("failed") and "tenancy is 'partition_key', wanted 'partition'" in mismatch["msg"]


def test_release_load_and_absent(milvus, collection):
    ensure(collection)
    released = ensure(collection, loaded=False)
    assert released["changed"] is True and released["executed"] == [f"release_collection({collection})"]
    assert str(milvus.get_load_state(collection)["state"]).endswith("NotLoad")
    assert ensure(collection, loaded=False)["changed"] is False
    assert ensure(collection)["executed"] == [f"load_collection({collection})"]

    assert run_module("milvus_collection", check=True, uri=MILVUS_URI, collection=collection,
                      state="absent")["changed"] is True
    assert milvus.has_collection(collection)
    dropped = run_module("milvus_collection", uri=MILVUS_URI, collection=collection, state="absent")
    assert dropped["changed"] is True and not milvus.has_collection(collection)
    assert run_module("milvus_collection", uri=MILVUS_URI, collection=collection, state="absent")["changed"] is False


def test_bad_options_are_refused_before_connecting(collection):
    result = ensure(collection, dim=1, vector_field="emb-x", uri="http://127.0.0.1:1")
    assert result.get("failed")
    assert "dim=1 is out of range (rule: 2 to 32768)" in result["msg"]
    assert "Milvus field name 'emb-x' is invalid" in result["msg"]
    missing_dim = run_module("milvus_collection", uri=MILVUS_URI, collection=collection)
    assert missing_dim.get("failed") and "dim" in missing_dim["msg"]
