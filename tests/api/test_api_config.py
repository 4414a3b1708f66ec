"""RAGOPS_* configuration, the constant-time key check and the token bucket (no servers needed)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from api_support import ROOT
from ragops_api import naming
from ragops_api.config import ConfigError, Settings
from ragops_api.logs import JsonFormatter
from ragops_api.security import ApiKeys, RateLimiter


def test_defaults_and_parsing():
    settings = Settings.from_env({
        "RAGOPS_DIM": "768", "RAGOPS_API_KEYS": " k1, k2 ,,", "RAGOPS_CORS_ORIGINS": "https://a.example",
        "RAGOPS_REQUIRE_API_KEY": "yes", "RAGOPS_RATE_LIMIT_RPS": "2.5", "RAGOPS_TENANCY": "partition_key",
        "RAGOPS_PORT": "8081", "OTHER": "ignored",
    })
    assert settings.dim == 768
    assert settings.api_keys == ("k1", "k2")
    assert settings.cors_origins == ("https://a.example",)
    assert settings.rate_limit_rps == 2.5
    assert settings.tenancy == "partition_key"
    assert settings.port == 8081
    assert settings.collection == "chatty"
    assert settings.metric == "COSINE"
    assert settings.search_consistency == "Bounded"
    assert settings.hnsw_ef == 64
    assert settings.max_documents == 500


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"RAGOPS_TENANCY": "hash", "RAGOPS_PORT": "eighty", "RAGOPS_REQUIRE_API_KEY": "maybe"})
    message = str(error.value)
    assert "RAGOPS_DIM is required" in message
    assert "RAGOPS_PORT='eighty' is not a valid int" in message
    assert "RAGOPS_REQUIRE_API_KEY='maybe' is not a boolean" in message


def test_invalid_values_are_refused():
    with pytest.raises(ConfigError, match="RAGOPS_TENANCY='hash' is not one of partition, partition_key"):
        Settings.from_env({"RAGOPS_DIM": "8", "RAGOPS_TENANCY": "hash", "RAGOPS_API_KEYS": "k"})
    with pytest.raises(ConfigError, match="RAGOPS_API_KEYS is empty while RAGOPS_REQUIRE_API_KEY is true"):
        Settings.from_env({"RAGOPS_DIM": "8"})
    assert Settings.from_env({"RAGOPS_DIM": "8", "RAGOPS_REQUIRE_API_KEY": "false"}).api_keys == ()


def test_secrets_stay_out_of_repr_and_logs():
    settings = Settings.from_env({
        "RAGOPS_DIM": "8", "RAGOPS_API_KEYS": "key-aaa", "RAGOPS_MILVUS_TOKEN": "root:tok-bbb",
        "RAGOPS_PG_DSN": "host=db user=ragops password=pw-ccc dbname=ragops",
    })
    assert not any(secret in repr(settings) for secret in ("key-aaa", "tok-bbb", "pw-ccc"))
    assert set(settings.secrets) == {"key-aaa", "root:tok-bbb", "pw-ccc"}
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed with %s", ("password=pw-ccc",), None)
    record.detail = 'token "root:tok-bbb"'
    line = JsonFormatter(settings.secrets).format(record)
    assert "pw-ccc" not in line and "tok-bbb" not in line
    assert json.loads(line)["message"] == "failed with password=[REDACTED]"


def test_api_keys_match_exactly():
    keys = ApiKeys(["alpha", "beta"])
    assert keys.match("alpha") == 0
    assert keys.match("beta") == 1
    for wrong in (None, "", "alph", "alphaa", "ALPHA", "bêta"):
        assert keys.match(wrong) is None


def test_token_bucket():
    limiter = RateLimiter(rate=1000.0, burst=2)
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") == 0.0
    wait = limiter.acquire("a")
    assert 0 < wait <= 0.001
    assert limiter.acquire("b") == 0.0
    assert RateLimiter(rate=0, burst=1).acquire("a") == 0.0  # 0 disables


def test_naming_is_the_collection_rule_itself():
    """api/ragops_api/naming.py is a relative symlink to the one implementation, not a copy."""
    link = ROOT / "api" / "ragops_api" / "naming.py"
    assert link.is_symlink()
    assert os.readlink(link) == "../../plugins/module_utils/tenant.py"
    assert Path(naming.__file__).resolve() == (ROOT / "plugins" / "module_utils" / "tenant.py").resolve()
