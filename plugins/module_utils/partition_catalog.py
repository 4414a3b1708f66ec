# -*- coding: utf-8 -*-
# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catalog queries about a LIST-partitioned parent table, and the row checksum rule.

The only implementation of both: the PostgreSQL modules (through
``module_utils/postgres.py``) and the ragops_tools package on the hosts
(backups, restores) use this file. Plain Python on purpose, like
``tenant.py``: no Ansible import, so that programs outside Ansible can load
it as well. Every query takes named parameters and expects a cursor whose
rows are mappings (psycopg's ``dict_row``, or what community.postgresql's
connection gives).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

STRATEGIES = {"l": "LIST", "r": "RANGE", "h": "HASH"}

PARENT_QUERY = """
SELECT c.oid::bigint AS oid, c.relkind::text AS relkind, pt.partstrat::text AS strategy,
       pt.partnatts AS key_columns, a.attname::text AS key_column,
       format_type(a.atttypid, a.atttypmod) AS key_type,
       d.relname::text AS default_partition
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_partitioned_table pt ON pt.partrelid = c.oid
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0]
LEFT JOIN pg_class d ON d.oid = pt.partdefid
WHERE n.nspname = %(schema)s AND c.relname = %(table)s
"""

COLUMN_QUERY = """
SELECT format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a
WHERE a.attrelid = %(oid)s AND a.attname = %(column)s AND a.attnum > 0 AND NOT a.attisdropped
"""

# Every table of the schema named like a tenant partition of this parent,
# whether attached to it, to another parent or to none.
RELATIONS_QUERY = """
SELECT c.relname::text AS name, c.relkind::text AS relkind, i.inhparent::bigint AS parent,
       pg_get_expr(c.relpartbound, c.oid) AS bound, COALESCE(i.inhdetachpending, false) AS detach_pending,
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.conname = %(bound_check)s)
         AS has_bound_check
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
WHERE n.nspname = %(schema)s AND c.relname = ANY(%(names)s)
"""

PARTITIONS_QUERY = """
SELECT c.relname::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bound,
       i.inhdetachpending AS detach_pending
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = %(oid)s
ORDER BY c.relname
"""
BOUND_VALUE = re.compile(r"'((?:[^']|'')*)'")

# The constraint that proves a table holds one tenant only, so that ATTACH
# PARTITION does not scan it; it is dropped once the table is attached.
BOUND_CHECK = "ragops_tenant_bound"

# Sum of the first 64 bits of each row's md5: order-independent, streams, and a
# duplicated or changed row changes it. ``{}`` is the qualified partition.
CHECKSUM_SQL = ("SELECT count(*) AS rows,"
                " COALESCE(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint::numeric), 0)::text AS checksum"
                " FROM {} AS t")
COUNT_SQL = "SELECT count(*) AS rows FROM {}"


def fetch_all(cursor, query, args=None):
    cursor.execute(query, args)
    return [dict(row) for row in cursor.fetchall()]


def find_parent(cursor, schema, table):
    """The PARENT_QUERY row of ``schema.table``, or None when there is no such table."""
    rows = fetch_all(cursor, PARENT_QUERY, dict(schema=schema, table=table))
    return rows[0] if rows else None


def inspect_relations(cursor, schema, names):
    """{name: relation facts} for the given candidate partition names."""
    rows = fetch_all(cursor, RELATIONS_QUERY, dict(schema=schema, names=list(names), bound_check=BOUND_CHECK))
    return dict((row["name"], row) for row in rows)


def parent_partitions(cursor, parent_oid):
    """Every partition of the parent: [{name, bound, values, detach_pending}]."""
    rows = fetch_all(cursor, PARTITIONS_QUERY, dict(oid=parent_oid))
    for row in rows:
        bound = row["bound"] or ""
        row["values"] = [] if bound == "DEFAULT" else [v.replace("''", "'") for v in BOUND_VALUE.findall(bound)]
    return rows


def server_version(conn):
    """'15.18' from the connection."""
    number = conn.info.server_version
    return "%d.%d" % (number // 10000, number % 10000)


def bound_clause(tenant):
    """The partition bound of a tenant, as PostgreSQL prints it back."""
    return "FOR VALUES IN ('%s')" % tenant
