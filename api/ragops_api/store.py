"""Reads and writes against PostgreSQL (the documents) and Milvus (their vectors)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout
from pymilvus import MilvusClient, MilvusException
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
FETCH = "SELECT id, text, metadata FROM documents WHERE bot_id = %s AND id = ANY(%s)"
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
    take effect at once, and a bot removed meanwhile is noticed when Milvus or PostgreSQL refuses it."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def __contains__(self, uuid: str) -> bool:
        with self._lock:
            return self._expiry.get(uuid, 0.0) > time.monotonic()

    def add(self, uuid: str) -> None:
        with self._lock:
            if len(self._expiry) > 100_000:
                self._expiry.clear()
            self._expiry[uuid] = time.monotonic() + self.ttl

    def forget(self, uuid: str) -> None:
        with self._lock:
            self._expiry.pop(uuid, None)


class Store:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.bots = BotCache(settings.bot_cache_ttl)
        self.pool = ConnectionPool(
            settings.pg_dsn, min_size=settings.pg_pool_min, max_size=settings.pg_pool_max,
            timeout=settings.pg_timeout, open=False, name="ragops-api",
            kwargs={"row_factory": dict_row, "application_name": "ragops-api"},
            check=ConnectionPool.check_connection,
        )
        self._milvus: MilvusClient | None = None
        self._milvus_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------

    def open(self) -> None:
        """Start the pool and connect to Milvus; a backend that is down now is retried on use."""
        self.pool.open(wait=False)
        try:
            self.milvus()
        except MilvusException as exc:
            log.error("cannot connect to Milvus at %s yet: %s", self.settings.milvus_uri, exc)

    def close(self) -> None:
        self.pool.close()
        with self._milvus_lock:
            if self._milvus is not None:
                self._milvus.close()
                self._milvus = None

    def milvus(self) -> MilvusClient:
        with self._milvus_lock:
            if self._milvus is None:
                s = self.settings
                self._milvus = MilvusClient(uri=s.milvus_uri, token=s.milvus_token, db_name=s.milvus_db,
                                            timeout=s.milvus_timeout)
            return self._milvus

    # -- bots --------------------------------------------------------------

    def check_bot(self, bot: Bot) -> None:
        """Raise UnknownBot unless the bot is provisioned (a yes is cached for RAGOPS_BOT_CACHE_TTL)."""
        if bot.uuid in self.bots:
            return
        missing = self._missing(bot)
        if missing:
            raise UnknownBot(bot, missing)
        self.bots.add(bot.uuid)

    def _missing(self, bot: Bot) -> str:
        """What the bot lacks, "" if nothing: its attached PostgreSQL partition, its Milvus partition."""
        with self._postgres("bot lookup") as conn:
            row = conn.execute(PARTITION_ATTACHED, (bot.postgres_partition,)).fetchone()
        if not row or not row["exists"]:
            return f"no PostgreSQL partition {bot.postgres_partition} is attached to {TABLE}"
        if self.settings.tenancy == "partition_key":
            return ""
        with self._milvus_call("bot lookup") as client:
            if not client.has_partition(self.settings.collection, bot.milvus_partition,
                                        timeout=self.settings.milvus_timeout):
                return f"collection {self.settings.collection} has no Milvus partition {bot.milvus_partition}"
        return ""

    def _recheck(self, bot: Bot, error: BackendUnavailable) -> Exception:
        """After a failed call: UnknownBot if the bot went away meanwhile, else ``error``."""
        self.bots.forget(bot.uuid)
        try:
            self.check_bot(bot)
        except (UnknownBot, BackendUnavailable) as exc:
            return exc
        return error

    # -- search ------------------------------------------------------------

    def search(self, bot: Bot, embedding: list[float], top_k: int) -> list[dict[str, Any]]:
        s = self.settings
        try:
            with self._milvus_call("search") as client:
                hits = client.search(
                    s.collection, data=[embedding], limit=top_k,
                    # The filter repeats the partition restriction: a vector written to the wrong
                    # partition by anything else still never shows up for this bot.
                    filter=f'{TENANT_FIELD} == "{bot.uuid}"',
                    partition_names=[bot.milvus_partition] if s.tenancy == "partition" else None,
                    anns_field=VECTOR_FIELD,
                    search_params={"metric_type": s.metric, "params": {"ef": max(s.hnsw_ef, top_k)}},
                    consistency_level=s.search_consistency, timeout=s.milvus_timeout,
                )[0]
        except BackendUnavailable as exc:
            raise self._recheck(bot, exc) from exc
        ids = [hit["id"] for hit in hits]
        if not ids:
            return []
        with self._postgres("search") as conn:
            rows = {row["id"]: row for row in conn.execute(FETCH, (bot.uuid, ids))}
        # Milvus' order is the ranking; a vector without its row (a half-failed write) is skipped.
        return [dict(rows[hit["id"]], score=float(hit["distance"])) for hit in hits if hit["id"] in rows]

    # -- upsert ------------------------------------------------------------

    def upsert(self, bot: Bot, documents: Sequence[Document]) -> int:
        """Write the rows, then the vectors; the rows are committed only if the vectors were written.

        The row locks the INSERT takes hold a concurrent write of the same documents back until the
        commit, so Milvus receives the writes of one document in the order PostgreSQL applies them.
        """
        rows = [(bot.uuid, d.id, d.text, Jsonb(d.metadata)) for d in documents]
        entities = [{ID_FIELD: d.id, TENANT_FIELD: bot.uuid, VECTOR_FIELD: d.embedding} for d in documents]
        try:
            with self._postgres("upsert") as conn, conn.transaction():
                try:
                    with conn.cursor() as cursor:
                        cursor.executemany(UPSERT, rows)
                except psycopg.errors.CheckViolation as exc:
                    if NO_PARTITION in str(exc):
                        self.bots.forget(bot.uuid)
                        raise UnknownBot(bot, f"no PostgreSQL partition of {TABLE} takes its rows") from exc
                    raise InvalidDocuments(exc.diag.message_primary or str(exc)) from exc
                except (psycopg.DataError, psycopg.IntegrityError) as exc:
                    raise InvalidDocuments(exc.diag.message_primary or str(exc)) from exc
                self._write_vectors(bot, entities)
        except BackendUnavailable as exc:
            if exc.backend == "Milvus":
                raise self._recheck(bot, exc) from exc
            raise
        return len(rows)

    def _write_vectors(self, bot: Bot, entities: list[dict[str, Any]]) -> None:
        s = self.settings
        with self._milvus_call("upsert") as client:
            if s.tenancy == "partition":
                client.upsert(s.collection, entities, partition_name=bot.milvus_partition, timeout=s.milvus_timeout)
                return
            # Partition-key tenancy. Milvus 2.3.5's upsert puts partition-key rows in the wrong partition
            # (fixed upstream by milvus-io/milvus#30772), and a delete by primary key reaches every bot.
            # So: refuse ids another bot holds, delete this bot's old vectors, insert the new ones.
            ids = [e[ID_FIELD] for e in entities]
            existing = client.query(s.collection, filter=f"{ID_FIELD} in {milvus_string_list(ids)}",
                                    output_fields=[ID_FIELD, TENANT_FIELD], consistency_level="Strong",
                                    timeout=s.milvus_timeout)
            foreign = sorted({r[ID_FIELD] for r in existing if r[TENANT_FIELD] != bot.uuid})
            if foreign:
                raise IdConflict(foreign)
            mine = [r[ID_FIELD] for r in existing]
            if mine:
                client.delete(s.collection, filter=f'{TENANT_FIELD} == "{bot.uuid}" and {ID_FIELD} in '
                              f"{milvus_string_list(mine)}", timeout=s.milvus_timeout)
            client.insert(s.collection, entities, timeout=s.milvus_timeout)

    # -- readiness ---------------------------------------------------------

    def readiness(self) -> dict[str, str]:
        """One entry per check: "ok" or why it failed (no secrets, no server internals)."""
        checks = {"postgres": "ok", "milvus": "ok", "collection": "ok"}
        try:
            with self.pool.connection(timeout=2.0) as conn:
                row = conn.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (TABLE,)).fetchone()
            if not row or not row["present"]:
                checks["postgres"] = f"table {TABLE} is missing"
        except Exception as exc:
            log.warning("readiness: PostgreSQL check failed: %s", exc)
            checks["postgres"] = "unreachable"
        s = self.settings
        try:
            client = self.milvus()
            state = client.get_load_state(s.collection, timeout=2.0)["state"]
            if state == LoadState.NotExist:
                checks["collection"] = f"collection {s.collection} does not exist"
            elif state != LoadState.Loaded:
                checks["collection"] = f"collection {s.collection} is not loaded (state {state.name})"
            else:
                checks["collection"] = self._schema_problem(client.describe_collection(s.collection, timeout=2.0))
        except MilvusException as exc:
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

    @contextmanager
    def _postgres(self, action: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A pooled connection; a PostgreSQL failure becomes BackendUnavailable. Commits on success."""
        try:
            with self.pool.connection() as conn:
                yield conn
        except (psycopg.Error, PoolTimeout) as exc:
            raise self._unavailable("PostgreSQL", action, exc) from exc

    @contextmanager
    def _milvus_call(self, action: str) -> Iterator[MilvusClient]:
        try:
            yield self.milvus()
        except MilvusException as exc:
            raise self._unavailable("Milvus", action, exc) from exc

    def _unavailable(self, backend: str, action: str, exc: Exception) -> BackendUnavailable:
        self.metrics.backend_errors.labels(backend.lower()).inc()
        log.error("%s %s failed: %s", backend, action, exc)
        return BackendUnavailable(backend, action)
