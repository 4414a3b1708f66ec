"""Configuration of the search API, read from ``RAGOPS_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from psycopg.conninfo import conninfo_to_dict

PREFIX = "RAGOPS_"
TENANCIES = ("partition", "partition_key")
METRICS = ("COSINE", "IP", "L2")
CONSISTENCY_LEVELS = ("Strong", "Bounded", "Session", "Eventually")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """A ``RAGOPS_*`` variable is missing or invalid."""


@dataclass(frozen=True)
class Settings:
    dim: int
    milvus_uri: str = "http://127.0.0.1:19530"
    milvus_token: str = field(default="", repr=False)
    milvus_db: str = "default"
    milvus_timeout: float = 10.0
    collection: str = "chatty"
    tenancy: str = "partition"
    metric: str = "COSINE"
    search_consistency: str = "Bounded"
    hnsw_ef: int = 64
    pg_dsn: str = field(default="", repr=False)
    pg_pool_min: int = 1
    pg_pool_max: int = 10
    pg_timeout: float = 5.0
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    require_api_key: bool = True
    cors_origins: tuple[str, ...] = ()
    rate_limit_rps: float = 50.0
    rate_limit_burst: int = 100
    max_documents: int = 500
    bot_cache_ttl: float = 30.0
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        problems = []
        if not 2 <= self.dim <= 32768:
            problems.append(f"RAGOPS_DIM={self.dim} is out of range (2 to 32768)")
        for name, value, allowed in (("RAGOPS_TENANCY", self.tenancy, TENANCIES),
                                     ("RAGOPS_METRIC", self.metric, METRICS),
                                     ("RAGOPS_SEARCH_CONSISTENCY", self.search_consistency, CONSISTENCY_LEVELS)):
            if value not in allowed:
                problems.append(f"{name}={value!r} is not one of {', '.join(allowed)}")
        if self.require_api_key and not self.api_keys:
            problems.append("RAGOPS_API_KEYS is empty while RAGOPS_REQUIRE_API_KEY is true")
        if not 1 <= self.pg_pool_min <= self.pg_pool_max:
            problems.append("RAGOPS_PG_POOL_MIN and RAGOPS_PG_POOL_MAX must satisfy 1 <= min <= max")
        if self.rate_limit_rps < 0 or self.rate_limit_burst < 1:
            problems.append("RAGOPS_RATE_LIMIT_RPS must be >= 0 (0 disables) and RAGOPS_RATE_LIMIT_BURST >= 1")
        if not 1 <= self.hnsw_ef <= 32768:
            problems.append("RAGOPS_HNSW_EF must be between 1 and 32768")
        if self.max_documents < 1:
            problems.append("RAGOPS_MAX_DOCUMENTS must be >= 1")
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a log line or a response."""
        values = [self.milvus_token, *self.api_keys]
        password = _dsn_password(self.pg_dsn)
        if password:
            values.append(password)
        return tuple(v for v in values if v)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        kwargs = dict(
            dim=reader.integer("DIM"),
            milvus_uri=reader.text("MILVUS_URI"),
            milvus_token=reader.text("MILVUS_TOKEN"),
            milvus_db=reader.text("MILVUS_DB"),
            milvus_timeout=reader.number("MILVUS_TIMEOUT"),
            collection=reader.text("COLLECTION"),
            tenancy=reader.text("TENANCY"),
            metric=reader.text("METRIC"),
            search_consistency=reader.text("SEARCH_CONSISTENCY"),
            hnsw_ef=reader.integer("HNSW_EF"),
            pg_dsn=reader.text("PG_DSN"),
            pg_pool_min=reader.integer("PG_POOL_MIN"),
            pg_pool_max=reader.integer("PG_POOL_MAX"),
            pg_timeout=reader.number("PG_TIMEOUT"),
            api_keys=reader.items("API_KEYS"),
            require_api_key=reader.boolean("REQUIRE_API_KEY"),
            cors_origins=reader.items("CORS_ORIGINS"),
            rate_limit_rps=reader.number("RATE_LIMIT_RPS"),
            rate_limit_burst=reader.integer("RATE_LIMIT_BURST"),
            max_documents=reader.integer("MAX_DOCUMENTS"),
            bot_cache_ttl=reader.number("BOT_CACHE_TTL"),
            host=reader.text("HOST"),
            port=reader.integer("PORT"),
            log_level=reader.text("LOG_LEVEL"),
        )
        if kwargs["dim"] is None and not any(p.startswith(PREFIX + "DIM=") for p in reader.problems):
            reader.problems.append(f"{PREFIX}DIM is required (the embedding dimension of the collection)")
        if reader.problems:
            raise ConfigError("invalid configuration: " + "; ".join(reader.problems))
        return cls(**{k: v for k, v in kwargs.items() if v is not None})


class _Reader:
    """Reads typed values; collects every problem instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def _raw(self, name: str) -> str | None:
        value = self.env.get(PREFIX + name)
        return None if value is None or value.strip() == "" else value.strip()

    def text(self, name: str) -> str | None:
        return self._raw(name)

    def _convert(self, name: str, kind: type[int] | type[float]) -> int | float | None:
        raw = self._raw(name)
        if raw is None:
            return None
        try:
            return kind(raw)
        except ValueError:
            self.problems.append(f"{PREFIX}{name}={raw!r} is not a valid {kind.__name__}")
            return None

    def integer(self, name: str) -> int | None:
        return self._convert(name, int)  # type: ignore[return-value]

    def number(self, name: str) -> float | None:
        return self._convert(name, float)

    def boolean(self, name: str) -> bool | None:
        raw = self._raw(name)
        if raw is None:
            return None
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        self.problems.append(f"{PREFIX}{name}={raw!r} is not a boolean (true/false)")
        return None

    def items(self, name: str) -> tuple[str, ...] | None:
        raw = self._raw(name)
        if raw is None:
            return None
        return tuple(item.strip() for item in raw.split(",") if item.strip())


def _dsn_password(dsn: str) -> str:
    if not dsn:
        return ""
    try:
        return str(conninfo_to_dict(dsn).get("password") or "")
    except Exception:  # an unparsable DSN fails later, when connecting
        return ""
