"""Fixtures of the search API tests: the real PostgreSQL and Milvus, no mocks.

A session creates its own PostgreSQL database (documents.sql applied) and its
own Milvus collections (made by the milvus_collection module, as in
production), provisions a pool of bots with the partition modules, and drops
all of it at the end. Each test takes fresh bots from the pool, so tests never
see each other's documents. Unreachable servers fail the tests, never skip them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import psycopg
import pytest
from api_support import (
    BOTS_PER_TENANCY,
    DB_NAME,
    DIM,
    KEYS,
    MILVUS_URI,
    PG,
    PG_ADMIN_DSN,
    ROOT,
    RUN,
    checked,
    wait_for_milvus,
)
from fastapi.testclient import TestClient
from pymilvus import MilvusClient
from ragops_api.app import create_app
from ragops_api.config import Settings

from tests.modrun import run_module


@pytest.fixture(scope="session")
def milvus() -> Iterator[MilvusClient]:
    client = wait_for_milvus()
    yield client
    client.close()


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A database of its own with documents.sql applied; dropped at the end."""
    name = DB_NAME
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG['host']}:{PG['port']} is not usable: {exc}", pytrace=False)
    with admin:
        admin.execute(f"CREATE DATABASE {name}")
    dsn = "host={host} port={port} user={user} password={password} dbname=".format(**PG) + name
    ddl = (ROOT / "schema" / "documents.sql").read_text()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(ddl)
        conn.execute(ddl)  # idempotent
    yield dsn
    # A fresh connection: other suites may have restarted the server meanwhile.
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def collections(milvus: MilvusClient) -> Iterator[dict[str, str]]:
    """One collection per tenancy mode, made by the module that makes them in production."""
    names = {"partition": f"api_{RUN}_part", "partition_key": f"api_{RUN}_key"}
    try:
        for tenancy, name in names.items():
            checked(run_module("milvus_collection", collection=name, dim=DIM, tenancy=tenancy,
                               num_partitions=4, uri=MILVUS_URI))
        yield names
    finally:
        for name in names.values():
            if milvus.has_collection(name):
                milvus.drop_collection(name)


@pytest.fixture(scope="session")
def bot_pool(pg_dsn: str, collections: dict[str, str]) -> dict[str, list[str]]:
    """Provisioned bots (PostgreSQL partition; Milvus partition in partition tenancy), per tenancy mode."""
    pool = {tenancy: [str(uuid.uuid4()) for _number in range(count)] for tenancy, count in BOTS_PER_TENANCY.items()}
    checked(run_module("postgres_partition", tenants=pool["partition"] + pool["partition_key"], db=DB_NAME,
                       login_host=PG["host"], login_port=PG["port"], login_user=PG["user"],
                       login_password=PG["password"]))
    checked(run_module("milvus_partition", collection=collections["partition"], tenants=pool["partition"],
                       uri=MILVUS_URI))
    return pool


@pytest.fixture
def new_bot(bot_pool: dict[str, list[str]]) -> Callable[..., str]:
    """Hand out a provisioned bot nobody used yet."""

    def take(tenancy: str = "partition") -> str:
        assert bot_pool[tenancy], f"the pool of {tenancy} bots is empty; raise BOTS_PER_TENANCY"
        return bot_pool[tenancy].pop()

    return take


@pytest.fixture
def settings_for(pg_dsn: str, collections: dict[str, str]) -> Callable[..., Settings]:
    def build(tenancy: str = "partition", **overrides: object) -> Settings:
        values: dict[str, object] = dict(
            dim=DIM, milvus_uri=MILVUS_URI, collection=collections[tenancy], tenancy=tenancy,
            search_consistency="Strong", pg_dsn=pg_dsn, pg_pool_min=1, pg_pool_max=4, api_keys=KEYS,
            rate_limit_rps=0, bot_cache_ttl=30.0,
        )
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return build


@pytest.fixture
def make_client(settings_for: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """Start the real app (lifespan included) with test settings; sends the first API key by default."""
    with ExitStack() as stack:

        def make(tenancy: str = "partition", key: str | None = KEYS[0], **overrides: object) -> TestClient:
            app = create_app(settings_for(tenancy, **overrides))
            client = TestClient(app, headers={"X-API-Key": key} if key else {})
            stack.enter_context(client)
            return client

        yield make


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def log_lines(capsys: pytest.CaptureFixture[str]) -> Callable[[], list[dict]]:
    """The JSON lines written so far by apps created in the test (their handler writes to sys.stdout), parsed."""
    seen: list[dict] = []

    def lines() -> list[dict]:
        seen.extend(json.loads(line) for line in capsys.readouterr().out.splitlines())
        return seen

    return lines
