# -*- coding: utf-8 -*-
# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare the data inventories a migration takes and lay out its report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError


def _tenants(facts, name):
    if not isinstance(facts, dict) or not isinstance(facts.get("tenants"), dict):
        raise AnsibleFilterError("%s: expected an info module result with 'tenants', got %r" % (name, type(facts)))
    return facts["tenants"]


def migration_differences(frozen, postgres_target, postgres_source_now, milvus_target):
    """Every way the target, or the source since the freeze, differs from the data taken at the freeze.

    ``frozen`` holds ``postgres`` (postgres_partition_info) and ``milvus`` (milvus_info with search probes),
    both read from the source once writes were frozen.
    """
    pg_frozen = _tenants(frozen.get("postgres"), "frozen postgres")
    mv_frozen = _tenants(frozen.get("milvus"), "frozen milvus")
    pg_target = _tenants(postgres_target, "target postgres")
    pg_now = _tenants(postgres_source_now, "source postgres now")
    mv_target = _tenants(milvus_target, "target milvus")
    differences = []
    # Equal rows and no checksum on either side would compare None with None: a checksum must have been taken.
    for side, facts in (("at the freeze", pg_frozen), ("on the target", pg_target), ("on the source now", pg_now)):
        for tenant in sorted(t for t, f in facts.items() if f.get("exists", True) and f.get("checksum") is None):
            differences.append("tenant %s: no PostgreSQL checksum was taken %s (postgres_partition_info needs "
                               "checksum: true)" % (tenant, side))
    for tenant in sorted(set(pg_frozen) | set(pg_now)):
        was, now = pg_frozen.get(tenant, {}), pg_now.get(tenant, {})
        if (was.get("rows"), was.get("checksum")) != (now.get("rows"), now.get("checksum")):
            differences.append(
                "tenant %s: the source's PostgreSQL changed behind the freeze (%s rows, checksum %s at the freeze; "
                "%s rows, checksum %s now)" % (tenant, was.get("rows"), was.get("checksum"), now.get("rows"),
                                               now.get("checksum")))
    for tenant in sorted(set(pg_frozen) | set(pg_target)):
        was, got = pg_frozen.get(tenant, {}), pg_target.get(tenant, {})
        if (was.get("rows"), was.get("checksum")) != (got.get("rows"), got.get("checksum")):
            differences.append(
                "tenant %s: PostgreSQL rows %s (checksum %s) on the source, %s (checksum %s) on the target"
                % (tenant, was.get("rows"), was.get("checksum"), got.get("rows"), got.get("checksum")))
    for tenant in sorted(set(mv_frozen) | set(mv_target)):
        was, got = mv_frozen.get(tenant, {}), mv_target.get(tenant, {})
        if was.get("entities") != got.get("entities"):
            differences.append("tenant %s: Milvus entities %s on the source, %s on the target"
                               % (tenant, was.get("entities"), got.get("entities")))
        for number, (expected, found) in enumerate(zip(was.get("search_ids") or [], got.get("search_ids") or [])):
            if list(expected) != list(found):
                differences.append("tenant %s: probe search %d found %s on the source, %s on the target"
                                   % (tenant, number, list(expected), list(found)))
        if len(was.get("search_ids") or []) != len(got.get("search_ids") or []):
            differences.append("tenant %s: %d probe searches on the source, %d on the target"
                               % (tenant, len(was.get("search_ids") or []), len(got.get("search_ids") or [])))
    return differences


def migration_table(frozen, postgres_target, milvus_target):
    """One row per tenant: rows and vectors on both sides, checksum and searches equal or not."""
    pg_frozen = _tenants(frozen.get("postgres"), "frozen postgres")
    mv_frozen = _tenants(frozen.get("milvus"), "frozen milvus")
    pg_target = _tenants(postgres_target, "target postgres")
    mv_target = _tenants(milvus_target, "target milvus")
    rows = []
    for tenant in sorted(set(pg_frozen) | set(mv_frozen)):
        pg_was, pg_got = pg_frozen.get(tenant, {}), pg_target.get(tenant, {})
        mv_was, mv_got = mv_frozen.get(tenant, {}), mv_target.get(tenant, {})
        rows.append(dict(
            tenant=tenant,
            rows_source=pg_was.get("rows"), rows_target=pg_got.get("rows"),
            checksum_equal=(pg_was.get("rows"), pg_was.get("checksum")) == (pg_got.get("rows"),
                                                                            pg_got.get("checksum")),
            vectors_source=mv_was.get("entities"), vectors_target=mv_got.get("entities"),
            searches=len(mv_was.get("search_ids") or []),
            searches_equal=(mv_was.get("search_ids") or []) == (mv_got.get("search_ids") or []),
        ))
    return rows


def migration_table_lines(rows):
    """The table as aligned text lines, for the play's output."""
    header = ("tenant", "rows src", "rows dst", "checksum", "vectors src", "vectors dst", "searches")
    body = [(r["tenant"], str(r["rows_source"]), str(r["rows_target"]), "equal" if r["checksum_equal"] else "DIFFERS",
             str(r["vectors_source"]), str(r["vectors_target"]),
             ("%d equal" % r["searches"]) if r["searches_equal"] else "DIFFER") for r in rows]
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header] + body]


class FilterModule(object):
    def filters(self):
        return {
            "migration_differences": migration_differences,
            "migration_table": migration_table,
            "migration_table_lines": migration_table_lines,
        }
