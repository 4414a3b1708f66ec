# -*- coding: utf-8 -*-
# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the ragops.stack PostgreSQL modules share on top of community.postgresql.

Connection options, connecting and the psycopg checks come from
community.postgresql's module_utils; the catalog queries about a
LIST-partitioned parent come from ``partition_catalog.py`` (no Ansible import,
the backup program on the hosts uses them too); this file adds the
partitioned-table options and the checks that fail the module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.community.postgresql.plugins.module_utils.postgres import (
    connect_to_db,
    ensure_required_libs,
    get_conn_params,
    postgres_common_argument_spec,
)

from ansible_collections.ragops.stack.plugins.module_utils.partition_catalog import (
    COLUMN_QUERY,
    STRATEGIES,
    fetch_all,
    find_parent,
)
from ansible_collections.ragops.stack.plugins.module_utils.tenant import (
    TenantError,
    check_postgres_name,
    postgres_partition_name,
    validate_tenants,
)


def partitioned_table_argument_spec():
    """Connection options of community.postgresql plus the partitioned table."""
    spec = postgres_common_argument_spec()
    spec.update(
        db=dict(type="str", default="", aliases=["login_db"]),
        schema=dict(type="str", default="public"),
        table=dict(type="str", default="documents"),
        column=dict(type="str", default="bot_id"),
    )
    return spec


def endpoint(module):
    """Where the module connects, for messages: host:port/db (never the password)."""
    params = module.params
    host = params.get("login_host") or params.get("login_unix_socket") or "local socket"
    return "%s:%s/%s" % (host, params.get("login_port"), params.get("db") or "(default database)")


def connect(module):
    """Connect in autocommit mode (the modules open their own short transactions)."""
    ensure_required_libs(module)
    conn_params = get_conn_params(module, module.params, warn_db_default=False)
    db_connection, error = connect_to_db(module, conn_params, autocommit=True, fail_on_conn=False)
    if db_connection is None:
        module.fail_json(msg="cannot connect to PostgreSQL at %s: %s" % (endpoint(module), error))
    return db_connection


def partition_names(module):
    """Validate the batch and the derived names; return {tenant uuid: partition name}."""
    params = module.params
    try:
        check_postgres_name(params["schema"], "schema")
        check_postgres_name(params["column"], "column")
        tenants = validate_tenants(params.get("tenants") or [])
        problems = []
        mapping = {}
        for tenant in tenants:
            try:
                mapping[tenant] = postgres_partition_name(tenant, params["table"])
            except TenantError as exc:
                problems.append("tenant %s: %s" % (tenant, exc))
        if problems:
            raise TenantError("; ".join(problems))
    except TenantError as exc:
        module.fail_json(msg="invalid input, nothing was changed: %s" % exc)
    return mapping


def inspect_parent(module, cursor, required=True):
    """Describe the parent table; with ``required``, fail unless it is LIST-partitioned on the column.

    Returns None when the table is missing and not ``required``.
    """
    params = module.params
    qualified = "%s.%s" % (params["schema"], params["table"])
    where = "in database %s" % endpoint(module)
    parent = find_parent(cursor, params["schema"], params["table"])
    if parent is None:
        if required:
            module.fail_json(msg="table %s does not exist %s; create it PARTITION BY LIST (%s) first"
                             % (qualified, where, params["column"]))
        return None
    problem = None
    if parent["relkind"] != "p":
        problem = "is not partitioned (rule: PARTITION BY LIST (%s))" % params["column"]
    elif parent["strategy"] != "l":
        problem = "is partitioned BY %s (rule: PARTITION BY LIST (%s))" % (
            STRATEGIES.get(parent["strategy"], parent["strategy"]), params["column"])
    elif parent["key_columns"] != 1 or parent["key_column"] != params["column"]:
        problem = "is partitioned on %s (rule: PARTITION BY LIST (%s))" % (
            parent["key_column"] if parent["key_columns"] == 1 else "an expression or several columns",
            params["column"])
    if problem:
        if required:
            module.fail_json(msg="table %s %s %s" % (qualified, where, problem))
        parent["problem"] = problem
        return parent
    column = fetch_all(cursor, COLUMN_QUERY, dict(oid=parent["oid"], column=params["column"]))
    parent["key_type"] = column[0]["type"] if column else parent["key_type"]
    parent["problem"] = None
    return parent


def describe_error(exc):
    """One-line text of a database error, SQLSTATE included when there is one."""
    code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    text = to_native(exc).strip().splitlines()[0] if to_native(exc).strip() else exc.__class__.__name__
    return "%s [SQLSTATE %s]" % (text, code) if code else text
