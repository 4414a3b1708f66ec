"""The PostgreSQL side of ragops_tools against a real PostgreSQL 15: the per-tenant facts a backup records."""

from __future__ import annotations

from ragops_tools.pg_helper import pg_table_exists, pg_tenant_facts
from tests.conftest import PG, new_tenants
from tests.modrun import run_module


def test_tenant_facts_are_the_partition_info_module_facts(pg, pg_schema):
    """Partitions found by the catalog queries, rows and checksums by the module's rule; DEFAULT is no tenant."""
    from psycopg.rows import dict_row

    bots = new_tenants(3)
    assert run_module("postgres_partition", schema=pg_schema, tenants=bots, **PG)["changed"]
    pg.execute(f"CREATE TABLE {pg_schema}.documents_rest PARTITION OF {pg_schema}.documents DEFAULT")
    for count, bot in zip((5, 1, 0), bots):
        for n in range(count):
            pg.execute(f"INSERT INTO {pg_schema}.documents (bot_id, id, text) VALUES (%s, %s, %s)",
                       (bot, f"doc-{n}", f"text {n} of {bot}"))
    settings = dict(schema=pg_schema, table="documents")
    with pg.cursor(row_factory=dict_row) as cursor:
        assert pg_table_exists(cursor, settings)
        facts = pg_tenant_facts(cursor, settings)
        some = pg_tenant_facts(cursor, settings, [bots[1]])
        assert pg_tenant_facts(cursor, dict(settings, table="missing")) == {}
    info = run_module("postgres_partition_info", schema=pg_schema, checksum=True, **PG)["tenants"]
    assert facts == {t: dict(partition=f["partition"], rows=f["rows"], checksum=f["checksum"])
                     for t, f in info.items()}
    assert sorted(facts) == sorted(bots) and facts[bots[0]]["rows"] == 5
    assert list(some) == [bots[1]] and some[bots[1]] == facts[bots[1]]
