"""ragops.stack.postgres_partition against a real PostgreSQL 15."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from tests.conftest import PG, ROOT, new_tenants
from tests.modrun import run_module


def partitions(pg, schema, table="documents"):
    """{partition name: bound} attached to the parent."""
    rows = pg.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
        (f"{schema}.{table}",),
    ).fetchall()
    return dict(rows)


def tables(pg, schema):
    return {r[0] for r in pg.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))}


def run(schema, tenants, **extra):
    return run_module("postgres_partition", schema=schema, tenants=tenants, **PG, **extra)


def test_creates_attaches_and_is_idempotent(pg, pg_schema):
    bots = new_tenants(3)
    first = run(pg_schema, bots + [bots[0].upper().replace("-", "")])
    assert first.get("failed"), "a tenant given twice in two spellings must be refused"
    assert "repeats tenants[0]" in first["msg"]

    result = run(pg_schema, bots)
    assert result["changed"] is True, result
    names = ["documents_" + b.replace("-", "") for b in bots]
    assert result["created"] == names
    assert partitions(pg, pg_schema) == {n: f"FOR VALUES IN ('{b}')" for n, b in zip(names, bots)}
    assert any("ATTACH PARTITION" in q for q in result["queries"])
    assert not any("PARTITION OF" in q for q in result["queries"]), "must not take ACCESS EXCLUSIVE on the parent"
    # The proving CHECK constraint is gone once attached.
    assert pg.execute("SELECT count(*) FROM pg_constraint WHERE conname = 'ragops_tenant_bound'").fetchone()[0] == 0

    # Rows routed through the parent land in the tenant's partition.
    pg.execute(f"INSERT INTO {pg_schema}.documents (bot_id, id, text) VALUES (%s, 'a', 'hello')", (bots[1],))
    assert pg.execute(f"SELECT count(*) FROM {pg_schema}.{names[1]}").fetchone()[0] == 1

    again = run(pg_schema, bots)
    assert again["changed"] is False
    assert again["existing"] == names and again["queries"] == []


def test_check_mode_predicts_and_changes_nothing(pg, pg_schema):
    bots = new_tenants(2)
    predicted = run_module("postgres_partition", check=True, diff=True, schema=pg_schema, tenants=bots, **PG)
    assert predicted["changed"] is True
    assert len(predicted["created"]) == 2 and len(predicted["queries"]) == 8
    assert predicted["diff"]["before"]["partitions"] == []
    assert len(predicted["diff"]["after"]["partitions"]) == 2
    assert tables(pg, pg_schema) == {"documents"}

    real = run(pg_schema, bots)
    assert real["queries"] == predicted["queries"], "check mode must predict the real statements"
    converged = run_module("postgres_partition", check=True, diff=True, schema=pg_schema, tenants=bots, **PG)
    assert converged["changed"] is False and converged["queries"] == []
    assert converged["diff"]["before"] == converged["diff"]["after"]


def test_absent_detaches_keeps_rows_and_present_reattaches(pg, pg_schema):
    bot, other = new_tenants(2)
    run(pg_schema, [bot, other])
    name = "documents_" + bot.replace("-", "")
    pg.execute(f"INSERT INTO {pg_schema}.documents (bot_id, id) VALUES (%s, 'kept')", (bot,))

    detached = run(pg_schema, [bot], state="absent")
    assert detached["changed"] is True and detached["detached"] == [name] and detached["dropped"] == []
    assert any("CONCURRENTLY" in q for q in detached["queries"])
    assert name not in partitions(pg, pg_schema)
    assert pg.execute(f"SELECT id FROM {pg_schema}.{name}").fetchall() == [("kept",)]
    assert run(pg_schema, [bot], state="absent")["changed"] is False

    # A detached table (or one left by a run that stopped half-way) is attached again, rows and all.
    back = run(pg_schema, [bot])
    assert back["changed"] is True and back["attached"] == [name] and back["created"] == []
    assert pg.execute(f"SELECT id FROM {pg_schema}.documents WHERE bot_id = %s", (bot,)).fetchall() == [("kept",)]

    dropped = run(pg_schema, [bot], state="absent", drop_data=True)
    assert dropped["detached"] == [name] and dropped["dropped"] == [name]
    assert name not in tables(pg, pg_schema)
    assert "documents_" + other.replace("-", "") in partitions(pg, pg_schema)


def test_drop_data_of_an_already_detached_table(pg, pg_schema):
    bot = new_tenants(1)
    run(pg_schema, bot)
    run(pg_schema, bot, state="absent")
    result = run(pg_schema, bot, state="absent", drop_data=True)
    assert result["changed"] is True and result["dropped"] == ["documents_" + bot[0].replace("-", "")]
    assert tables(pg, pg_schema) == {"documents"}


def test_plain_detach_when_a_default_partition_exists(pg, pg_schema):
    pg.execute(f"CREATE TABLE {pg_schema}.documents_default PARTITION OF {pg_schema}.documents DEFAULT")
    bot = new_tenants(1)
    created = run(pg_schema, bot)
    assert "has the DEFAULT partition documents_default: every ATTACH PARTITION scans it" in str(created["warnings"])
    detached = run(pg_schema, bot, state="absent")
    assert not any("CONCURRENTLY" in q for q in detached["queries"])
    assert set(partitions(pg, pg_schema)) == {"documents_default"}


@pytest.mark.parametrize(
    ("ddl", "rule"),
    [
        (None, "does not exist"),
        ("CREATE TABLE {s}.documents (bot_id uuid, id text)", "is not partitioned"),
        ("CREATE TABLE {s}.documents (bot_id uuid, id int) PARTITION BY RANGE (bot_id)", "is partitioned BY RANGE"),
        ("CREATE TABLE {s}.documents (bot_id uuid, id int) PARTITION BY LIST (id)", "is partitioned on id"),
    ],
)
def test_parent_must_be_list_partitioned_on_the_column(pg, ddl, rule):
    schema = "t_parent_" + new_tenants(1)[0][:8]
    pg.execute(f"CREATE SCHEMA {schema}")
    try:
        if ddl:
            pg.execute(ddl.format(s=schema))
        result = run(schema, new_tenants(1))
        assert result.get("failed") and rule in result["msg"]
        assert f"{schema}.documents" in result["msg"] and "127.0.0.1:5432/ragops_test" in result["msg"]
        assert tables(pg, schema) <= {"documents"}
    finally:
        pg.execute(f"DROP SCHEMA {schema} CASCADE")


def test_bad_input_is_refused_before_anything_changes(pg, pg_schema):
    good = new_tenants(2)
    result = run(pg_schema, [good[0], "not-a-uuid", good[1], good[1]])
    assert result.get("failed")
    assert "tenants[1]: tenant 'not-a-uuid' is not a UUID" in result["msg"]
    assert "tenants[3]" in result["msg"] and "repeats tenants[2]" in result["msg"]
    assert tables(pg, pg_schema) == {"documents"}

    too_long = run(pg_schema, good, table="t" * 31)
    assert too_long.get("failed") and "64 bytes long (rule: at most 63 bytes" in too_long["msg"]

    timeout = run(pg_schema, good, lock_timeout="soon")
    assert timeout.get("failed") and "lock_timeout='soon'" in timeout["msg"]


def test_a_tenant_held_by_another_partition_is_a_conflict(pg, pg_schema):
    bot, other = new_tenants(2)
    pg.execute(f"CREATE TABLE {pg_schema}.legacy PARTITION OF {pg_schema}.documents FOR VALUES IN ('{bot}')")
    result = run(pg_schema, [other, bot])
    assert result.get("failed") and f"tenant {bot} is already held by partition {pg_schema}.legacy" in result["msg"]
    assert set(partitions(pg, pg_schema)) == {"legacy"}, "the valid tenant before it must not be created either"


def test_unreachable_server_names_the_host_not_the_password(pg_schema):
    secret = "do-not-print-this-Pa55"
    unreachable = {**PG, "login_port": 1, "login_password": secret}
    result = run_module("postgres_partition", schema=pg_schema, tenants=new_tenants(1), **unreachable)
    assert result.get("failed")
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/ragops_test" in result["msg"]
    assert secret not in str(result)


def test_a_long_read_on_the_parent_does_not_block_attach(pg, pg_schema):
    """ATTACH takes SHARE UPDATE EXCLUSIVE, which a reader's ACCESS SHARE does not block."""
    import psycopg

    from tests.conftest import pg_dsn

    with psycopg.connect(pg_dsn()) as reader:
        reader.execute(f"SELECT count(*) FROM {pg_schema}.documents")  # transaction left open
        started = time.monotonic()
        result = run(pg_schema, new_tenants(3), lock_timeout="500ms", lock_retries=0)
        elapsed = time.monotonic() - started
        assert result["changed"] is True and result["lock_retries_used"] == 0, result.get("msg")
        # The naive statement is blocked by the same reader: this is what the module avoids.
        with psycopg.connect(pg_dsn(), autocommit=True) as naive:
            naive.execute("SET lock_timeout = '300ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                naive.execute(f"CREATE TABLE {pg_schema}.naive PARTITION OF {pg_schema}.documents"
                              f" FOR VALUES IN ('{new_tenants(1)[0]}')")
        reader.rollback()
    assert elapsed < 10


def test_lock_timeout_is_retried_then_succeeds(pg, pg_schema):
    import psycopg

    from tests.conftest import pg_dsn

    holder = psycopg.connect(pg_dsn())
    holder.execute(f"LOCK TABLE {pg_schema}.documents IN SHARE UPDATE EXCLUSIVE MODE")
    release = threading.Timer(1.5, holder.rollback)
    release.start()
    try:
        result = run(pg_schema, new_tenants(2), lock_timeout="200ms", lock_retries=6, retry_delay=0.2)
    finally:
        release.join()
        holder.close()
    assert result["changed"] is True, result.get("msg")
    assert result["lock_retries_used"] >= 1
    assert len(partitions(pg, pg_schema)) == 2


def test_lock_held_too_long_fails_mid_batch_and_a_rerun_finishes(pg, pg_schema):
    import psycopg

    from tests.conftest import pg_dsn

    first, second = new_tenants(2)
    second_name = "documents_" + second.replace("-", "")
    # The second tenant's table exists detached and someone holds it: only that tenant blocks.
    pg.execute(f"CREATE TABLE {pg_schema}.{second_name} (LIKE {pg_schema}.documents INCLUDING ALL)")
    with psycopg.connect(pg_dsn()) as holder:
        holder.execute(f"SELECT * FROM {pg_schema}.{second_name}")
        failed = run(pg_schema, [first, second], lock_timeout="100ms", lock_retries=2, retry_delay=0.05)
        holder.rollback()
    assert failed.get("failed")
    assert "gave up after 3 lock timeouts of 100ms" in failed["msg"] and second_name in failed["msg"]
    assert failed["created"] == ["documents_" + first.replace("-", "")], "the work done is reported"
    assert set(partitions(pg, pg_schema)) == {"documents_" + first.replace("-", "")}

    finished = run(pg_schema, [first, second])
    assert finished["changed"] is True and finished["attached"] == [second_name]
    assert finished["existing"] == ["documents_" + first.replace("-", "")]
    assert len(partitions(pg, pg_schema)) == 2


@pytest.mark.restart
def test_server_restart_between_runs(pg, pg_schema):
    bots = new_tenants(3)
    assert run(pg_schema, bots)["changed"] is True
    subprocess.run([str(ROOT / "tests" / "services" / "postgres.sh"), "restart"], check=True, capture_output=True)
    again = run(pg_schema, bots)
    assert again["changed"] is False and len(again["existing"]) == 3
