"""Shared fixtures: the real PostgreSQL 15 and Milvus servers started by `make services`."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# ansible_collections.ragops.stack resolves to this tree through collections/.
sys.path.insert(0, str(ROOT / "collections"))
sys.path.insert(0, str(ROOT))

PG = dict(
    login_host=os.environ.get("RAGOPS_TEST_PG_HOST", "127.0.0.1"),
    login_port=int(os.environ.get("RAGOPS_TEST_PG_PORT", "5432")),
    login_user=os.environ.get("RAGOPS_TEST_PG_USER", "postgres"),
    login_password=os.environ.get("RAGOPS_TEST_PG_PASSWORD", "ragops-test-only"),
    db=os.environ.get("RAGOPS_TEST_PG_DB", "ragops_test"),
)
MILVUS_URI = os.environ.get("RAGOPS_TEST_MILVUS_URI", "http://127.0.0.1:19530")
MILVUS_HEALTH = os.environ.get("RAGOPS_TEST_MILVUS_HEALTH", "http://127.0.0.1:9091/healthz")


def new_tenants(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _tenant in range(count)]


def pg_dsn() -> str:
    return "host={login_host} port={login_port} user={login_user} password={login_password} dbname={db}".format(**PG)


@pytest.fixture(scope="session")
def pg_server():
    import psycopg

    try:
        with psycopg.connect(pg_dsn(), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL test server unreachable ({exc}); start it with `make services`")
    return PG


@pytest.fixture
def pg(pg_server):
    """An autocommit connection for setting up and checking state."""
    import psycopg

    with psycopg.connect(pg_dsn(), autocommit=True) as conn:
        yield conn


@pytest.fixture
def pg_schema(pg):
    """A fresh schema holding a LIST-partitioned ``documents`` parent; dropped afterwards."""
    schema = "t_" + uuid.uuid4().hex[:12]
    pg.execute(f"CREATE SCHEMA {schema}")
    pg.execute(
        f"CREATE TABLE {schema}.documents (bot_id uuid NOT NULL, id text NOT NULL,"
        " text text NOT NULL DEFAULT '', metadata jsonb NOT NULL DEFAULT '{}',"
        " PRIMARY KEY (bot_id, id)) PARTITION BY LIST (bot_id)"
    )
    yield schema
    import psycopg

    with psycopg.connect(pg_dsn(), autocommit=True) as conn:  # pg may be gone after a server restart
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def milvus_service(*args: str) -> None:
    """Run tests/services/milvus_server.py (start, stop, restart [--env KEY=VALUE]) and wait for it."""
    subprocess.run([sys.executable, str(ROOT / "tests" / "services" / "milvus_server.py"), *args],
                   check=True, capture_output=True, timeout=240)


@pytest.fixture(scope="session")
def milvus_server():
    try:
        with urllib.request.urlopen(MILVUS_HEALTH, timeout=5) as resp:
            assert resp.status == 200
    except OSError as exc:
        pytest.fail(f"Milvus test server unreachable ({exc}); start it with `make services`")
    return MILVUS_URI


@pytest.fixture
def milvus(milvus_server):
    from pymilvus import MilvusClient

    client = MilvusClient(uri=milvus_server, timeout=30)
    yield client
    client.close()


@pytest.fixture
def collection(milvus):
    """A unique collection name; the collection is dropped afterwards if a test made it."""
    name = "t_" + uuid.uuid4().hex[:12]
    yield name
    if milvus.has_collection(name):
        milvus.drop_collection(name)
