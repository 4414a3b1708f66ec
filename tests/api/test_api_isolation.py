"""Tenant isolation, in both tenancy modes: a bot never sees another bot's documents."""

from __future__ import annotations

import psycopg
import pytest
from api_support import doc, vector

TENANCIES = ["partition", "partition_key"]


def put(client, bot, documents):
    return client.put(f"/v1/bots/{bot}/documents", json={"documents": documents})


def search(client, bot, embedding, top_k=10):
    response = client.post(f"/v1/bots/{bot}/search", json={"embedding": embedding, "top_k": top_k})
    assert response.status_code == 200, response.text
    return response.json()["results"]


@pytest.mark.parametrize("tenancy", TENANCIES)
def test_bots_with_identical_vectors_never_see_each_other(make_client, new_bot, tenancy):
    client = make_client(tenancy)
    a, b = new_bot(tenancy), new_bot(tenancy)
    same = [(1.0,), (1.0, 1.0), (0.0, 1.0)]
    for bot, owner in ((a, "a"), (b, "b")):
        documents = [doc(f"{owner}{n}", f"secret of {owner} #{n}", *v, owner=owner) for n, v in enumerate(same)]
        assert put(client, bot, documents).status_code == 200
    for bot, owner in ((a, "a"), (b, "b")):
        for query in (vector(1.0), vector(0.0, 1.0), vector(1.0, 1.0)):
            results = search(client, bot, query, top_k=100)
            assert len(results) == 3
            assert {r["metadata"]["owner"] for r in results} == {owner}
            assert all(r["id"].startswith(owner) and r["text"].startswith(f"secret of {owner}") for r in results)


def test_same_document_ids_in_two_partitions_stay_apart(make_client, new_bot, pg_dsn):
    """Partition tenancy: ids are per bot, in Milvus (per-partition upsert) and in PostgreSQL."""
    client = make_client("partition")
    a, b = new_bot(), new_bot()
    assert put(client, a, [doc("faq", "answer of a", 1.0)]).status_code == 200
    assert put(client, b, [doc("faq", "answer of b", 1.0)]).status_code == 200
    assert put(client, b, [doc("faq", "answer of b, v2", 1.0, 0.2)]).status_code == 200
    assert [(r["id"], r["text"]) for r in search(client, a, vector(1.0))] == [("faq", "answer of a")]
    assert [(r["id"], r["text"]) for r in search(client, b, vector(1.0))] == [("faq", "answer of b, v2")]
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute("SELECT bot_id::text, text FROM documents WHERE id = 'faq' ORDER BY text").fetchall()
    assert rows == [(a, "answer of a"), (b, "answer of b, v2")]


def test_partition_key_refuses_an_id_another_bot_holds(make_client, new_bot, pg_dsn, milvus, collections):
    """Partition-key tenancy: Milvus primary keys span bots, so taking another bot's id would delete its vector."""
    client = make_client("partition_key")
    a, b = new_bot("partition_key"), new_bot("partition_key")
    assert put(client, a, [doc("shared", "of a", 1.0)]).status_code == 200
    response = put(client, b, [doc("mine", "of b", 0.0, 1.0), doc("shared", "of b", 1.0)])
    assert response.status_code == 409
    assert response.json()["detail"].startswith('document ids already used by another bot of this collection: "shared"')
    assert [(r["id"], r["text"]) for r in search(client, a, vector(1.0))] == [("shared", "of a")]
    assert search(client, b, vector(1.0)) == []
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM documents WHERE bot_id = %s", (b,)).fetchone() == (0,)
    held = milvus.query(collections["partition_key"], filter='id == "shared"', output_fields=["bot_id"],
                        consistency_level="Strong")
    assert [h["bot_id"] for h in held] == [a]


def test_partition_key_reupsert_replaces_the_vector(make_client, new_bot, milvus, collections):
    client = make_client("partition_key")
    bot = new_bot("partition_key")
    awkward = ['plain', 'quote"inside', "single'quote", "back\\slash", "x\" || id != \"", "ünï日本", "tab\tnl\n"]
    documents = [doc(doc_id, f"v1 {n}", 1.0, n) for n, doc_id in enumerate(awkward)]
    assert put(client, bot, documents).status_code == 200
    assert put(client, bot, [doc(d["id"], f"v2 {n}", 0.0, 1.0, n) for n, d in enumerate(documents)]).status_code == 200
    results = search(client, bot, vector(0.0, 1.0), top_k=100)
    assert sorted(r["id"] for r in results) == sorted(awkward)
    assert all(r["text"].startswith("v2 ") for r in results)
    stored = milvus.query(collections["partition_key"], filter=f'bot_id == "{bot}"', output_fields=["id"],
                          consistency_level="Strong")
    assert sorted(s["id"] for s in stored) == sorted(awkward), "an old vector survived or a new one is missing"
