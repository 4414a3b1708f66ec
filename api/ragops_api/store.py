"""Reads and writes against PostgreSQL (the documents) and Milvus (their vectors), on the event loop.

Every backend call is awaited (psycopg's async pool, pymilvus' AsyncMilvusClient): a request never waits
for a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pymilvus import AsyncMilvusClient, MilvusException
from pymilvus.client.types import LoadState

from .config import Settings
from .metrics import Metrics
from .models import Document
from .naming import milvus_partition_name, postgres_partition_name, tenant_uuid

log = logging.getLogger("ragops_api.store")

TABLE = "documents"
# Field names of the collection made by the ragops.stack.milvus_collection module.
ID_FIELD, TENANT_FIELD, VECTOR_FIELD = "id", "bot_id", "embedding"

PARTITION_ATTACHED = """
SELECT EXISTS (
    SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'documents'::regclass AND c.relname = %s AND NOT i.inhdetachpending
)
"""
UPSERT = """
INSERT INTO documents (bot_id, id, text, metadata) VALUES (%s, %s, %s, %s)
ON CONFLICT (bot_id, id) DO UPDATE
SET text = EXCLUDED.text, metadata = EXCLUDED.metadata, updated_at = now()
"""
# The metadata as jsonb's own text: it goes into the response as it is, never parsed and encoded again.
FETCH = "SELECT id, text, metadata::text AS metadata FROM documents WHERE bot_id = %s AND id = ANY(%s)"
NO_PARTITION = "no partition of relation"


@dataclass(frozen=True)
class Bot:
    uuid: str
    milvus_partition: str
    postgres_partition: str

    @classmethod
    def parse(cls, bot_id: str) -> Bot:
        """Raises naming.TenantError unless ``bot_id`` is a UUID."""
        return cls(tenant_uuid(bot_id), milvus_partition_name(bot_id), postgres_partition_name(bot_id, TABLE))


class UnknownBot(Exception):
    def __init__(self, bot: Bot, reason: str) -> None:
        super().__init__(f"unknown bot {bot.uuid}: {reason}; provision the bot with ragops.stack first")


class BackendUnavailable(Exception):
    """Milvus or PostgreSQL failed; the message is safe to return to the client."""

    def __init__(self, backend: str, action: str) -> None:
        super().__init__(f"{backend} is unavailable ({action} failed); try again later")
        self.backend = backend


class InvalidDocuments(Exception):
    """The documents were refused by a backend (the message is the backend's reason)."""


class IdConflict(Exception):
    """Partition-key tenancy only: Milvus primary keys are unique across bots."""

    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__(
            "document ids already used by another bot of this collection: %s (with partition_key tenancy a"
            " document id is unique across bots)" % ", ".join(json.dumps(i, ensure_ascii=False) for i in ids)
        )


def milvus_string_list(values: Sequence[str]) -> str:
    """A Milvus expression list of string literals (JSON escaping is what its parser reads)."""
    return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in values) + "]"


class BotCache:
    """Bots known to exist, for ``ttl`` seconds. A missing bot is not remembered: provisioning it must
    take effect at once, and a bot removed meanwhile is noticed when Milvus or PostgreSQL refuses it.
    Used from the event loop's thread only."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._expiry: dict[str, float] = {}

    def __contains__(self, uuid: str) -> bool:
        return self._expiry.get(uuid, 0.0) > time.monotonic()

    def add(self, uuid: str) -> None:
        if len(self._expiry) > 100_000:
            self._expiry.clear()
        self._expiry[uuid] = time.monotonic() + self.ttl

    def forget(self, uuid: str) -> None:
        self._expiry.pop(uuid, None)


class Store:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.bots = BotCache(settings.bot_cache_ttl)
        # Autocommit: a read is one round trip, no BEGIN and COMMIT around it; writes open a transaction.
        # No check on every checkout either: a connection that broke while idle (a server restart) fails
        # once, then the pool drops its broken connections and an idempotent read is tried again.
        self.pool = AsyncConnectionPool(
            settings.pg_dsn, min_size=settings.pg_pool_min, max_size=settings.pg_pool_max,
            timeout=settings.pg_timeout, open=False, name="ragops-api",
            kwargs={"row_factory": dict_row, "application_name": "ragops-api", "autocommit": True},
        )
        self._milvus: AsyncMilvusClient | None = None

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        """Start the pool and connect to Milvus; a backend that is down now is retried on use."""
        await self.pool.open(wait=False)
        try:
            await self.milvus().get_server_version(timeout=self.settings.milvus_timeout)
        except (MilvusException, grpc.RpcError, asyncio.TimeoutError) as exc:
            log.error("cannot connect to Milvus at %s yet: %s", self.settings.milvus_uri, exc)

    async def close(self) -> None:
        await self.pool.close()
        if self._milvus is not None:
            client, self._milvus = self._milvus, None
            await client.close()

    def milvus(self) -> AsyncMilvusClient:
        """The client; it connects on its first call, and again on the next call after a failed connect."""
        if self._milvus is None:
            s = self.settings
            # dedicated: this app's own channel, closed with it (not pymilvus' per-loop shared one).
            self._milvus = AsyncMilvusClient(uri=s.milvus_uri, token=s.milvus_token, db_name=s.milvus_db,
                                             timeout=s.milvus_timeout, dedicated=True)
        return self._milvus

    # -- bots --------------------------------------------------------------

    async def check_bot(self, bot: Bot) -> None:
        """Raise UnknownBot unless the bot is provisioned (a yes is cached for RAGOPS_BOT_CACHE_TTL)."""
        if bot.uuid in self.bots:
            return
        missing = await self._missing(bot)
        if missing:
            raise UnknownBot(bot, missing)
        self.bots.add(bot.uuid)

    async def _missing(self, bot: Bot) -> str:
        """What the bot lacks, "" if nothing: its attached PostgreSQL partition, its Milvus partition."""
        rows = await self._read("bot lookup", PARTITION_ATTACHED, (bot.postgres_partition,))
        if not rows or not rows[0]["exists"]:
            return f"no PostgreSQL partition {bot.postgres_partition} is attached to {TABLE}"
        if self.settings.tenancy == "partition_key":
            return ""
        async with self._milvus_call("bot lookup") as client:
            if not await client.has_partition(self.settings.collection, bot.milvus_partition,
                                              timeout=self.settings.milvus_timeout):
                return f"collection {self.settings.collection} has no Milvus partition {bot.milvus_partition}"
        return ""

    async def _recheck(self, bot: Bot, error: BackendUnavailable) -> Exception:
        """After a failed call: UnknownBot if the bot went away meanwhile, else ``error``."""
        self.bots.forget(bot.uuid)
        try:
            await self.check_bot(bot)
        except (UnknownBot, BackendUnavailable) as exc:
            return exc
        return error

    # -- search ------------------------------------------------------------

    async def search(self, bot: Bot, embedding: list[float], top_k: int) -> list[dict[str, Any]]:
        """The hits in Milvus' order, each ``{id, text, metadata, score}``; ``metadata`` is JSON text."""
        s = self.settings
        partition = s.tenancy == "partition"
        try:
            async with self._milvus_call("search") as client:
                hits = (await client.search(
                    s.collection, data=[embedding], limit=top_k,
                    # A bot's own partition is its isolation; with partition_key tenancy the filter is.
                    filter="" if partition else f'{TENANT_FIELD} == "{bot.uuid}"',
                    partition_names=[bot.milvus_partition] if partition else None,
                    anns_field=VECTOR_FIELD,
                    search_params={"metric_type": s.metric, "params": {"ef": max(s.hnsw_ef, top_k)}},
                    consistency_level=s.search_consistency, timeout=s.milvus_timeout,
                ))[0]
        except BackendUnavailable as exc:
            raise await self._recheck(bot, exc) from exc
        ids = [hit["id"] for hit in hits]
        if not ids:
            return []
        rows = {row["id"]: row for row in await self._read("search", FETCH, (bot.uuid, ids))}
        # Milvus' order is the ranking; a vector without its row (a half-failed write) is skipped.
        return [dict(rows[hit["id"]], score=float(hit["distance"])) for hit in hits if hit["id"] in rows]

    # -- upsert ------------------------------------------------------------

    async def upsert(self, bot: Bot, documents: Sequence[Document]) -> int:
        """Write the rows, then the vectors; the rows are committed only if the vectors were written.

        The row locks the INSERT takes hold a concurrent write of the same documents back until the
        commit, so Milvus receives the writes of one document in the order PostgreSQL applies them.
        """
        rows = [(bot.uuid, d.id, d.text, Jsonb(d.metadata)) for d in documents]
        entities = [{ID_FIELD: d.id, TENANT_FIELD: bot.uuid, VECTOR_FIELD: d.embedding} for d in documents]
        try:
            async with self._postgres("upsert") as conn, conn.transaction():
                try:
                    async with conn.cursor() as cursor:
                        await cursor.executemany(UPSERT, rows)
                except psycopg.errors.CheckViolation as exc:
                    if NO_PARTITION in str(exc):
                        self.bots.forget(bot.uuid)
                        raise UnknownBot(bot, f"no PostgreSQL partition of {TABLE} takes its rows") from exc
                    raise InvalidDocuments(exc.diag.message_primary or str(exc)) from exc
                except (psycopg.DataError, psycopg.IntegrityError) as exc:
                    raise InvalidDocuments(exc.diag.message_primary or str(exc)) from exc
                await self._write_vectors(bot, entities)
        except BackendUnavailable as exc:
            if exc.backend == "Milvus":
                raise await self._recheck(bot, exc) from exc
            raise
        return len(rows)

    async def _write_vectors(self, bot: Bot, entities: list[dict[str, Any]]) -> None:
        s = self.settings
        async with self._milvus_call("upsert") as client:
            if s.tenancy == "partition":
                await client.upsert(s.collection, entities, partition_name=bot.milvus_partition,
                                    timeout=s.milvus_timeout)
                return
            # Partition-key tenancy. Milvus 2.3.5's upsert puts partition-key rows in the wrong partition
            # (fixed upstream by milvus-io/milvus#30772), and a delete by primary key reaches every bot.
            # So: refuse ids another bot holds, delete this bot's old vectors, insert the new ones.
            ids = [e[ID_FIELD] for e in entities]
            existing = await client.query(s.collection, filter=f"{ID_FIELD} in {milvus_string_list(ids)}",
                                          output_fields=[ID_FIELD, TENANT_FIELD], consistency_level="Strong",
                                          timeout=s.milvus_timeout)
            foreign = sorted({r[ID_FIELD] for r in existing if r[TENANT_FIELD] != bot.uuid})
            if foreign:
                raise IdConflict(foreign)
            mine = [r[ID_FIELD] for r in existing]
            if mine:
                await client.delete(s.collection, filter=f'{TENANT_FIELD} == "{bot.uuid}" and {ID_FIELD} in '
                                    f"{milvus_string_list(mine)}", timeout=s.milvus_timeout)
            await client.insert(s.collection, entities, timeout=s.milvus_timeout)

    # -- readiness ---------------------------------------------------------

    async def readiness(self) -> dict[str, str]:
        """One entry per check: "ok" or why it failed (no secrets, no server internals)."""
        checks = {"postgres": "ok", "milvus": "ok", "collection": "ok"}
        try:
            async with self.pool.connection(timeout=2.0) as conn:
                cursor = await conn.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (TABLE,))
                row = await cursor.fetchone()
            if not row or not row["present"]:
                checks["postgres"] = f"table {TABLE} is missing"
        except Exception as exc:
            log.warning("readiness: PostgreSQL check failed: %s", exc)
            checks["postgres"] = "unreachable"
        s = self.settings
        try:
            client = self.milvus()
            state = (await client.get_load_state(s.collection, timeout=2.0))["state"]
            if state == LoadState.NotExist:
                checks["collection"] = f"collection {s.collection} does not exist"
            elif state != LoadState.Loaded:
                checks["collection"] = f"collection {s.collection} is not loaded (state {state.name})"
            else:
                checks["collection"] = self._schema_problem(await client.describe_collection(s.collection,
                                                                                             timeout=2.0))
        except (MilvusException, grpc.RpcError, asyncio.TimeoutError) as exc:
            log.warning("readiness: Milvus check failed: %s", exc)
            checks["milvus"] = "unreachable"
            checks["collection"] = "unknown"
        return checks

    def _schema_problem(self, description: dict[str, Any]) -> str:
        s = self.settings
        fields = {f["name"]: f for f in description.get("fields", [])}
        dim = fields.get(VECTOR_FIELD, {}).get("params", {}).get("dim")
        if dim is None or int(dim) != s.dim:
            return f"collection {s.collection} has dim {dim}, RAGOPS_DIM is {s.dim}"
        keyed = bool(fields.get(TENANT_FIELD, {}).get("is_partition_key"))
        if keyed != (s.tenancy == "partition_key"):
            actual = "partition_key" if keyed else "partition"
            return f"collection {s.collection} tenancy is {actual}, RAGOPS_TENANCY is {s.tenancy}"
        return "ok"

    # -- error mapping -----------------------------------------------------

    async def _read(self, action: str, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        """The rows of one read. A connection broken since its last use fails the first try only: the pool
        then drops every broken idle connection, and the read runs once more."""
        for retry in (True, False):
            try:
                async with self.pool.connection() as conn:
                    cursor = await conn.execute(query, params)
                    return await cursor.fetchall()
            except PoolTimeout as exc:
                raise self._unavailable("PostgreSQL", action, exc) from exc
            except psycopg.OperationalError as exc:
                if not retry:
                    raise self._unavailable("PostgreSQL", action, exc) from exc
                log.warning("PostgreSQL %s failed, trying again on a checked connection: %s", action, exc)
                await self.pool.check()
            except psycopg.Error as exc:
                raise self._unavailable("PostgreSQL", action, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    @asynccontextmanager
    async def _postgres(self, action: str) -> AsyncIterator[psycopg.AsyncConnection[dict[str, Any]]]:
        """A pooled connection for a write; a PostgreSQL failure becomes BackendUnavailable (and a broken
        connection makes the pool check its idle ones, so that the next request gets a working one)."""
        try:
            async with self.pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise self._unavailable("PostgreSQL", action, exc) from exc
        except psycopg.OperationalError as exc:
            await self.pool.check()
            raise self._unavailable("PostgreSQL", action, exc) from exc
        except psycopg.Error as exc:
            raise self._unavailable("PostgreSQL", action, exc) from exc

    @asynccontextmanager
    async def _milvus_call(self, action: str) -> AsyncIterator[AsyncMilvusClient]:
        try:
            yield self.milvus()
        except (MilvusException, grpc.RpcError, asyncio.TimeoutError) as exc:
            raise self._unavailable("Milvus", action, exc) from exc

    def _unavailable(self, backend: str, action: str, exc: Exception) -> BackendUnavailable:
        self.metrics.backend_errors.labels(backend.lower()).inc()
        log.error("%s %s failed: %s", backend, action, exc)
        return BackendUnavailable(backend, action)
