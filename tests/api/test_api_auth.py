"""API keys, the rate limit and CORS."""

from __future__ import annotations

import pytest
from api_support import KEYS, vector

NOT_A_BOT = "00000000-0000-0000-0000-000000000000"


def search(client, bot, **headers):
    return client.post(f"/v1/bots/{bot}/search", json={"embedding": vector(1.0)}, headers=headers)


def test_a_key_is_required(make_client, new_bot):
    bot = new_bot()
    client = make_client(key=None)
    missing = search(client, bot)
    assert missing.status_code == 401
    assert missing.json() == {"detail": "missing or invalid X-API-Key header"}
    assert search(client, bot, **{"X-API-Key": "wrong"}).status_code == 401
    assert search(client, bot, **{"X-API-Key": KEYS[0] + "x"}).status_code == 401
    assert search(client, bot, **{"X-API-Key": KEYS[0][:-1]}).status_code == 401
    put = client.put(f"/v1/bots/{bot}/documents", json={"documents": []})
    assert put.status_code == 401


@pytest.mark.parametrize("key", KEYS)
def test_every_configured_key_is_accepted(make_client, new_bot, key):
    response = search(make_client(key=None), new_bot(), **{"X-API-Key": key})
    assert response.status_code == 200, response.text
    assert response.json() == {"results": []}


def test_without_a_key_nothing_about_bots_is_revealed(make_client):
    client = make_client(key="wrong")
    assert search(client, "not-a-uuid").status_code == 401
    assert search(client, NOT_A_BOT).status_code == 401


def test_no_key_is_needed_when_disabled(make_client, new_bot):
    client = make_client(key=None, require_api_key=False, api_keys=())
    assert search(client, new_bot()).status_code == 200
    assert search(client, new_bot(), **{"X-API-Key": "anything"}).status_code == 200


def test_probes_need_no_key(make_client):
    client = make_client(key=None)
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_rate_limit_per_key_answers_429_with_retry_after(make_client, new_bot):
    bot = new_bot()
    client = make_client(rate_limit_rps=0.5, rate_limit_burst=2)
    assert [search(client, bot).status_code for _attempt in range(2)] == [200, 200]
    limited = search(client, bot)
    assert limited.status_code == 429
    assert limited.json() == {"detail": "rate limit exceeded"}
    assert limited.headers["Retry-After"] == "2"
    # The other key has a bucket of its own.
    assert search(client, bot, **{"X-API-Key": KEYS[1]}).status_code == 200
    # Probes are never limited.
    assert client.get("/healthz").status_code == 200
    assert "ragops_rate_limited_total 1.0" in client.get("/metrics").text


def test_rate_limit_also_stops_guessing_keys(make_client, new_bot):
    bot = new_bot()
    client = make_client(key=None, rate_limit_rps=0.5, rate_limit_burst=3)
    statuses = [search(client, bot, **{"X-API-Key": f"guess-{n}"}).status_code for n in range(5)]
    assert statuses == [401, 401, 401, 429, 429]


def test_cors_is_off_by_default(api):
    preflight = api.options("/v1/bots/x/search", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in api.get("/healthz", headers={"Origin": "https://app.example"}).headers


def test_cors_allows_the_configured_origins_only(make_client):
    client = make_client(cors_origins=("https://app.example",))
    preflight = client.options("/v1/bots/x/search", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "X-API-Key, Content-Type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    other = client.options("/v1/bots/x/search", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in other.headers
