"""Liveness, readiness, metrics and logs of the search API."""

from __future__ import annotations

import re

from api_support import DIM, KEYS, MILVUS_URI, RUN, checked, doc, vector

from tests.modrun import run_module


def test_healthz_checks_nothing_and_needs_no_key(make_client):
    client = make_client(key=None, pg_dsn="host=127.0.0.1 port=1 dbname=none connect_timeout=1")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_with_both_servers_and_a_loaded_collection(make_client):
    response = make_client(key=None).get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"postgres": "ok", "milvus": "ok", "collection": "ok"}}


def test_readyz_is_503_while_the_collection_is_released(make_client, milvus):
    name = f"api_{RUN}_ready"
    checked(run_module("milvus_collection", collection=name, dim=DIM, uri=MILVUS_URI))
    try:
        client = make_client(collection=name)
        assert client.get("/readyz").status_code == 200
        milvus.release_collection(name)
        response = client.get("/readyz")
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert checks["postgres"] == "ok" and checks["milvus"] == "ok"
        assert checks["collection"] == f"collection {name} is not loaded (state NotLoad)"
        milvus.load_collection(name)
        assert client.get("/readyz").status_code == 200
    finally:
        milvus.drop_collection(name)


def test_readyz_names_a_missing_collection_and_a_wrong_dimension(make_client, collections):
    missing = make_client(collection=f"api_{RUN}_missing").get("/readyz")
    assert missing.status_code == 503
    assert missing.json()["checks"]["collection"] == f"collection api_{RUN}_missing does not exist"
    wrong_dim = make_client(dim=DIM * 2).get("/readyz")
    assert wrong_dim.status_code == 503
    assert wrong_dim.json()["checks"]["collection"] == (
        f"collection {collections['partition']} has dim {DIM}, RAGOPS_DIM is {DIM * 2}")
    wrong_tenancy = make_client(tenancy="partition", collection=collections["partition_key"]).get("/readyz")
    assert "tenancy is partition_key" in wrong_tenancy.json()["checks"]["collection"]


def test_readyz_is_503_without_postgres_and_leaks_no_password(make_client, log_lines):
    client = make_client(pg_dsn="host=127.0.0.1 port=1 user=x password=pg-secret-xyz dbname=x connect_timeout=1",
                         pg_timeout=1.0)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["postgres"] == "unreachable"
    assert response.json()["checks"]["collection"] == "ok"
    assert "pg-secret-xyz" not in response.text
    assert log_lines(), "the failure was not logged"
    assert "pg-secret-xyz" not in str(log_lines())


def test_metrics_count_requests_by_route_template_and_status(api, new_bot):
    bot = new_bot()
    assert api.put(f"/v1/bots/{bot}/documents",
                   json={"documents": [doc("m1", "one", 1.0), doc("m2", "two", 0.0, 1.0)]}).status_code == 200
    assert api.post(f"/v1/bots/{bot}/search", json={"embedding": vector(1.0), "top_k": 2}).status_code == 200
    assert api.post("/v1/bots/00000000-0000-0000-0000-000000000000/search",
                    json={"embedding": vector(1.0)}).status_code == 404
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for line in (
        'ragops_api_requests_total{method="POST",route="/v1/bots/{bot_id}/search",status="200"} 1.0',
        'ragops_api_requests_total{method="POST",route="/v1/bots/{bot_id}/search",status="404"} 1.0',
        'ragops_api_requests_total{method="PUT",route="/v1/bots/{bot_id}/documents",status="200"} 1.0',
        "ragops_searches_total 1.0",
        "ragops_search_results_total 2.0",
        "ragops_upserts_total 1.0",
        "ragops_upserted_documents_total 2.0",
    ):
        assert line in text, line
    assert re.search(r'ragops_api_request_duration_seconds_bucket\{le="0.5",method="POST",'
                     r'route="/v1/bots/\{bot_id\}/search",status="200"\} 1.0', text)
    assert bot not in text, "a raw path (with a bot id) leaked into the metric labels"


def test_logs_are_json_lines_with_request_fields_and_never_the_key(make_client, log_lines, new_bot):
    client = make_client()
    bot = new_bot()
    response = client.post(f"/v1/bots/{bot}/search", json={"embedding": vector(1.0)},
                           headers={"X-Request-ID": "trace-42"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "trace-42"
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    access = [line for line in log_lines() if line["logger"] == "ragops_api.access"]
    search = next(line for line in access if line["request_id"] == "trace-42")
    assert search["method"] == "POST"
    assert search["path"] == f"/v1/bots/{bot}/search"
    assert search["route"] == "/v1/bots/{bot_id}/search"
    assert search["status"] == 200
    assert isinstance(search["duration_ms"], float)
    assert any(line["request_id"] == generated for line in access)
    client.get("/v1/bots/x/search", headers={"X-API-Key": KEYS[1]})
    assert not any(key in str(log_lines()) for key in KEYS)


def test_a_search_outlives_its_pooled_connections_being_cut(make_client, new_bot, pg_dsn, log_lines):
    """The pool does not ping a connection on every checkout: a read on a connection the server cut (as a
    restart does) fails once inside the API, which drops the broken ones and reads again. A write is not
    tried twice: it answers 503, and the next one works."""
    import psycopg

    client = make_client(pg_pool_min=2, pg_pool_max=2)
    bot = new_bot()
    assert client.put(f"/v1/bots/{bot}/documents", json={"documents": [doc("cut", "one", 1.0)]}).status_code == 200

    def cut() -> int:
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            return len(admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'ragops-api' AND datname = current_database()").fetchall())

    assert cut() == 2
    found = client.post(f"/v1/bots/{bot}/search", json={"embedding": vector(1.0)})
    assert found.status_code == 200, found.text
    assert [hit["id"] for hit in found.json()["results"]] == ["cut"]
    assert any("trying again on a checked connection" in line["message"] for line in log_lines())

    assert cut() >= 1
    written = [client.put(f"/v1/bots/{bot}/documents", json={"documents": [doc(f"w{n}", "two", 0.0, 1.0)]})
               for n in range(2)]
    assert [r.status_code for r in written] == [503, 200], [r.text for r in written]
