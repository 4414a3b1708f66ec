"""The comparison behind a migration's verification and its report table."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ragops.stack.plugins.filter.migration import (
    migration_differences,
    migration_table,
    migration_table_lines,
)


def pg(**tenants):
    return {"tenants": {t: {"partition": "documents_x", "exists": True, "rows": r, "checksum": c}
                        for t, (r, c) in tenants.items()}}


def mv(**tenants):
    return {"tenants": {t: {"partition": "bot_x", "exists": True, "entities": e, "search_ids": s}
                        for t, (e, s) in tenants.items()}}


FROZEN = {"postgres": pg(a=(10, "111"), b=(3, "222")), "milvus": mv(a=(10, [[1, 2], [3, 4]]), b=(3, [[7], [8]]))}


def test_identical_data_gives_no_difference():
    assert migration_differences(FROZEN, FROZEN["postgres"], FROZEN["postgres"], FROZEN["milvus"]) == []


def test_a_write_behind_the_freeze_is_named_with_both_values():
    now = pg(a=(10, "111"), b=(4, "999"))
    found = migration_differences(FROZEN, FROZEN["postgres"], now, FROZEN["milvus"])
    assert found == ["tenant b: the source's PostgreSQL changed behind the freeze (3 rows, checksum 222 at the "
                     "freeze; 4 rows, checksum 999 now)"]


def test_counts_without_checksums_are_not_proof():
    counted = pg(a=(10, None), b=(3, None))
    found = migration_differences(dict(FROZEN, postgres=counted), counted, counted, FROZEN["milvus"])
    assert "tenant a: no PostgreSQL checksum was taken at the freeze (postgres_partition_info needs checksum: true)" \
        in found
    assert sum("no PostgreSQL checksum" in line for line in found) == 6, found


def test_every_target_difference_is_reported():
    target_pg = pg(a=(10, "112"))
    target_mv = mv(a=(9, [[1, 2], [4, 3]]), b=(3, [[7]]))
    found = migration_differences(FROZEN, target_pg, FROZEN["postgres"], target_mv)
    assert "tenant a: PostgreSQL rows 10 (checksum 111) on the source, 10 (checksum 112) on the target" in found
    assert "tenant b: PostgreSQL rows 3 (checksum 222) on the source, None (checksum None) on the target" in found
    assert "tenant a: Milvus entities 10 on the source, 9 on the target" in found
    assert "tenant a: probe search 1 found [3, 4] on the source, [4, 3] on the target" in found
    assert "tenant b: 2 probe searches on the source, 1 on the target" in found
    assert len(found) == 5


def test_the_table_and_its_lines():
    target_pg = pg(a=(10, "111"), b=(3, "000"))
    rows = migration_table(FROZEN, target_pg, FROZEN["milvus"])
    assert rows[0] == {"tenant": "a", "rows_source": 10, "rows_target": 10, "checksum_equal": True,
                       "vectors_source": 10, "vectors_target": 10, "searches": 2, "searches_equal": True}
    assert rows[1]["checksum_equal"] is False
    lines = migration_table_lines(rows)
    assert lines[0].split() == ["tenant", "rows", "src", "rows", "dst", "checksum", "vectors", "src", "vectors", "dst",
                                "searches"]
    assert lines[1].split() == ["a", "10", "10", "equal", "10", "10", "2", "equal"]
    assert "DIFFERS" in lines[2]
    assert len({line.index(word) for line, word in zip(lines, ("rows src", "10", "3"))}) == 1, "aligned columns"


def test_input_that_is_not_an_info_result_is_refused():
    with pytest.raises(AnsibleFilterError, match="frozen postgres"):
        migration_differences({"postgres": None, "milvus": {}}, {}, {}, {})
