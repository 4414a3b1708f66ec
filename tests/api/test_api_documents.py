"""Upsert and search with one Milvus partition per bot (partition tenancy)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from api_support import DIM, doc, vector
from psycopg import sql
from ragops_api.naming import milvus_partition_name, postgres_partition_name, tenant_hex

DOCS = [
    doc("far", "orthogonal", 0.0, 1.0, lang="en"),
    doc("near", "same direction", 1.0, source="faq", tags=["a", "b"]),
    doc("mid", "45 degrees", 1.0, 1.0, nested={"page": 3}),
]


def put(client, bot, documents):
    return client.put(f"/v1/bots/{bot}/documents", json={"documents": documents})


def search(client, bot, embedding, top_k=5):
    return client.post(f"/v1/bots/{bot}/search", json={"embedding": embedding, "top_k": top_k})


def pg_rows(pg_dsn, bot):
    with psycopg.connect(pg_dsn) as conn:
        return conn.execute("SELECT id, text, metadata FROM documents WHERE bot_id = %s ORDER BY id", (bot,)).fetchall()


def test_search_returns_the_documents_in_score_order_with_text_and_metadata(api, new_bot):
    bot = new_bot()
    response = put(api, bot, DOCS)
    assert response.status_code == 200, response.text
    assert response.json() == {"upserted": 3}
    results = search(api, bot, vector(1.0)).json()["results"]
    assert [r["id"] for r in results] == ["near", "mid", "far"]
    assert [r["text"] for r in results] == ["same direction", "45 degrees", "orthogonal"]
    assert results[0]["metadata"] == {"source": "faq", "tags": ["a", "b"]}
    assert results[1]["metadata"] == {"nested": {"page": 3}}
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(1.0, abs=1e-5)
    assert scores[1] == pytest.approx(2 ** -0.5, abs=1e-5)
    assert [r["id"] for r in search(api, bot, vector(0.0, 1.0), top_k=1).json()["results"]] == ["far"]


def test_the_search_answer_is_json_of_the_documented_shape_whatever_the_text(api, new_bot):
    """The answer is written by hand (once, not validated again): awkward text and metadata must survive it."""
    from ragops_api.models import SearchResponse

    bot = new_bot()
    text = 'quote " backslash \\ newline \n tab \t 한국어 \u2028 emoji \U0001F600 nul-free'
    metadata = {"ключ": "значение", "quote": '"', "list": [1, 2.5, None, True], "deep": {"a": {"b": "\\"}}}
    assert put(api, bot, [doc('id "with" quotes \\ é', text, 1.0, **metadata)]).status_code == 200
    response = search(api, bot, vector(1.0))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    (hit,) = SearchResponse.model_validate_json(response.content).results
    assert (hit.id, hit.text, hit.metadata) == ('id "with" quotes \\ é', text, metadata)
    assert hit.score == pytest.approx(1.0, abs=1e-5)
    assert search(api, bot, vector(0.0, 0.0, 1.0)).json()["results"][0]["id"] == hit.id
    schema = api.get("/openapi.json").json()["paths"]["/v1/bots/{bot_id}/search"]["post"]["responses"]["200"]
    assert schema["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SearchResponse"}


def test_reupsert_updates_the_document_without_duplicating_it(api, new_bot, pg_dsn, milvus, collections):
    bot = new_bot()
    assert put(api, bot, [doc("d1", "first version", 1.0, v=1)]).status_code == 200
    assert put(api, bot, [doc("d1", "second version", 1.0, 0.5, v=2), doc("d2", "other", 0.0, 1.0)]).status_code == 200
    results = search(api, bot, vector(1.0), top_k=10).json()["results"]
    assert [(r["id"], r["text"], r["metadata"]) for r in results] == [
        ("d1", "second version", {"v": 2}), ("d2", "other", {})]
    assert pg_rows(pg_dsn, bot) == [("d1", "second version", {"v": 2}), ("d2", "other", {})]
    vectors = milvus.query(collections["partition"], filter='id in ["d1", "d2"]', output_fields=["id"],
                           partition_names=[milvus_partition_name(bot)], consistency_level="Strong")
    assert sorted(v["id"] for v in vectors) == ["d1", "d2"]


def test_the_32_hex_form_of_a_bot_id_is_the_same_bot(api, new_bot):
    bot = new_bot()
    assert put(api, bot, [doc("x", "hex", 1.0)]).status_code == 200
    results = search(api, tenant_hex(bot).upper(), vector(1.0)).json()["results"]
    assert [r["id"] for r in results] == ["x"]


def test_unknown_bot_is_404(api, new_bot):
    stranger = str(uuid.uuid4())
    response = search(api, stranger, vector(1.0))
    assert response.status_code == 404
    assert response.json()["detail"].startswith(f"unknown bot {stranger}: no PostgreSQL partition documents_")
    assert put(api, stranger, [doc("x", "x", 1.0)]).status_code == 404
    # Provisioned in PostgreSQL only (a partition-key bot has no Milvus partition here): still unknown.
    half = new_bot("partition_key")
    response = search(api, half, vector(1.0))
    assert response.status_code == 404
    assert f"has no Milvus partition {milvus_partition_name(half)}" in response.json()["detail"]


def test_a_bot_provisioned_after_a_404_is_found_at_once(api, pg_dsn, milvus, collections):
    """Only "this bot exists" is cached; a 404 is not remembered."""
    bot = str(uuid.uuid4())
    assert search(api, bot, vector(1.0)).status_code == 404
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} PARTITION OF documents FOR VALUES IN ({})").format(
            sql.Identifier(postgres_partition_name(bot)), sql.Literal(bot)))
    response = search(api, bot, vector(1.0))
    assert response.status_code == 404
    assert "has no Milvus partition" in response.json()["detail"]
    milvus.create_partition(collections["partition"], milvus_partition_name(bot))
    assert put(api, bot, [doc("late", "provisioned late", 1.0)]).status_code == 200
    assert [r["id"] for r in search(api, bot, vector(1.0)).json()["results"]] == ["late"]


@pytest.mark.parametrize("bot_id", ["not-a-uuid", "1234", "550e8400-e29b-41d4-a716-44665544000g", "bot_" + "0" * 32])
def test_bot_id_that_is_not_a_uuid_is_422(api, bot_id):
    response = search(api, bot_id, vector(1.0))
    assert response.status_code == 422
    assert "is not a UUID" in response.json()["detail"]


def test_wrong_dimension_is_422_naming_the_expected_one(api, new_bot):
    bot = new_bot()
    response = search(api, bot, [0.1] * 5)
    assert response.status_code == 422
    assert response.json()["detail"] == f"embedding has 5 values, expected {DIM}"
    bad = doc("b", "b", 1.0)
    bad["embedding"] = [1.0, 2.0, 3.0]
    response = put(api, bot, [doc("a", "a", 1.0), bad])
    assert response.status_code == 422
    assert response.json()["detail"] == f"documents[1].embedding has 3 values, expected {DIM}"


@pytest.mark.parametrize("word", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_embedding_value_is_422_naming_it(api, new_bot, word):
    bot = new_bot()
    values = ", ".join(["0.5"] * 3 + [word] + ["0.0"] * (DIM - 4))
    for send, path, body, where in (
        (api.post, f"/v1/bots/{bot}/search", f'{{"embedding": [{values}]}}', ["body", "embedding", 3]),
        (api.put, f"/v1/bots/{bot}/documents", f'{{"documents": [{{"id": "d", "embedding": [{values}]}}]}}',
         ["body", "documents", 0, "embedding", 3]),
    ):
        response = send(path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, response.text
        error = response.json()["detail"][0]
        assert error["loc"] == where and "finite" in error["msg"], error


@pytest.mark.parametrize(("top_k", "status"), [(0, 422), (1, 200), (100, 200), (101, 422), (-1, 422)])
def test_top_k_bounds(api, new_bot, top_k, status):
    assert search(api, new_bot(), vector(1.0), top_k=top_k).status_code == status


def test_top_k_limits_the_results(api, new_bot):
    bot = new_bot()
    assert put(api, bot, [doc(f"d{n}", str(n), 1.0, n / 10) for n in range(6)]).status_code == 200
    assert len(search(api, bot, vector(1.0), top_k=4).json()["results"]) == 4
    assert len(search(api, bot, vector(1.0), top_k=100).json()["results"]) == 6


def test_document_validation(make_client, new_bot):
    bot = new_bot()
    client = make_client(max_documents=2)
    too_many = put(client, bot, [doc(f"d{n}", "", 1.0) for n in range(3)])
    assert too_many.status_code == 422
    assert too_many.json()["detail"] == "3 documents in one request, the limit is 2"
    twice = put(client, bot, [doc("same", "", 1.0), doc("same", "", 0.0, 1.0)])
    assert twice.status_code == 422
    assert twice.json()["detail"] == "documents[1].id 'same' appears more than once"
    for bad in ([], [doc("", "", 1.0)], [doc("x" * 65, "", 1.0)], [doc("é" * 33, "", 1.0)],
                [doc("nul\x00", "", 1.0)], [{"id": "x", "embedding": vector(1.0), "extra": 1}]):
        assert put(client, bot, bad).status_code == 422, bad
    assert put(client, bot, [doc("x" * 64, "", 1.0), doc("é" * 32, "", 1.0)]).status_code == 200


def test_rows_are_not_committed_when_milvus_fails(make_client, new_bot, pg_dsn, milvus, collections):
    """PostgreSQL commits only after Milvus took the vectors; a bot that vanished meanwhile becomes 404."""
    bot = new_bot()
    client = make_client(bot_cache_ttl=300.0)
    assert put(client, bot, [doc("kept", "original", 1.0)]).status_code == 200
    name, partition = collections["partition"], milvus_partition_name(bot)
    milvus.release_partitions(name, [partition])
    milvus.drop_partition(name, partition)
    # The bot is still cached as provisioned, so the write reaches Milvus, which refuses it.
    response = put(client, bot, [doc("kept", "changed", 1.0), doc("new", "new", 0.0, 1.0)])
    assert response.status_code == 404
    assert f"has no Milvus partition {partition}" in response.json()["detail"]
    assert pg_rows(pg_dsn, bot) == [("kept", "original", {})]
    assert search(client, bot, vector(1.0)).status_code == 404
