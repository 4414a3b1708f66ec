#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: postgres_partition_info
short_description: Report the tenant partitions of a LIST-partitioned PostgreSQL table
version_added: 0.1.0
description:
  - Read-only facts about the parent table (whether it exists, how it is partitioned, its DEFAULT
    partition), every partition attached to it, and per tenant the partition, its row count and
    optionally a content checksum.
  - Used by migrations, backups and status reports to compare the data before and after a move.
extends_documentation_fragment:
  - community.postgresql.postgres
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  db:
    description: Database to connect to.
    type: str
    default: ''
    aliases: [login_db]
  schema:
    description: Schema of the parent table.
    type: str
    default: public
  table:
    description: The parent table.
    type: str
    default: documents
  column:
    description: The partition key column holding the bot UUID.
    type: str
    default: bot_id
  tenants:
    description:
      - Bot UUIDs to report on, including those that have no partition yet.
      - When omitted, every tenant that has a partition is reported.
    type: list
    elements: str
  count_rows:
    description: Count the rows of each reported tenant's partition (an exact C(count(*))).
    type: bool
    default: true
  checksum:
    description:
      - Also compute a checksum of each reported tenant's rows, independent of their physical order,
        so that two copies of a partition can be compared. Reads every row.
    type: bool
    default: false
seealso:
  - module: ragops.stack.postgres_partition
  - module: ragops.stack.milvus_info
author:
  - ragops.stack maintainers (@ragops)
"""

EXAMPLES = r"""
- name: Row counts per tenant
  ragops.stack.postgres_partition_info:
    db: ragops
  register: pg_tenants

- name: Counts and checksums of two bots before a move
  ragops.stack.postgres_partition_info:
    db: ragops
    tenants:
      - 550e8400-e29b-41d4-a716-446655440000
      - 7c9e6679-7425-40de-944b-e07fc1f90ae7
    checksum: true
  register: before_move
"""

RETURN = r"""
server_version:
  description: Version of the PostgreSQL server.
  returned: always
  type: str
  sample: "15.8"
table:
  description: The parent table.
  returned: always
  type: dict
  contains:
    name: {description: Schema-qualified name., type: str, returned: always, sample: public.documents}
    exists: {description: Whether the table exists., type: bool, returned: always, sample: true}
    partitioned_by_list:
      description: Whether it is LIST-partitioned on O(column), as the ragops modules require.
      type: bool
      returned: always
      sample: true
    problem:
      description: Why it is not usable by the ragops modules; null when it is.
      type: str
      returned: always
      sample: null
    column_type: {description: Type of the key column., type: str, returned: when it exists, sample: uuid}
    default_partition:
      description: Name of its DEFAULT partition; null when it has none.
      type: str
      returned: always
      sample: null
partitions:
  description: Every partition attached to the parent, in name order.
  returned: always
  type: list
  elements: dict
  sample:
    - name: documents_550e8400e29b41d4a716446655440000
      bound: FOR VALUES IN ('550e8400-e29b-41d4-a716-446655440000')
      values: [550e8400-e29b-41d4-a716-446655440000]
      detach_pending: false
tenants:
  description: Per tenant (canonical UUID), its partition and its data.
  returned: always
  type: dict
  sample:
    550e8400-e29b-41d4-a716-446655440000:
      partition: documents_550e8400e29b41d4a716446655440000
      exists: true
      attached: true
      rows: 10000
      checksum: "92233720368547758070"
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ragops.stack.plugins.module_utils.partition_catalog import (
    CHECKSUM_SQL,
    COUNT_SQL,
    fetch_all,
    inspect_relations,
    parent_partitions,
    server_version,
)
from ansible_collections.ragops.stack.plugins.module_utils.postgres import (
    connect,
    inspect_parent,
    partition_names,
    partitioned_table_argument_spec,
)
from ansible_collections.ragops.stack.plugins.module_utils.tenant import (
    TenantError,
    postgres_partition_name,
    tenant_uuid,
)

try:
    from psycopg import sql
except ImportError:
    sql = None
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()
else:
    PSYCOPG_IMPORT_ERROR = None


def main():
    argument_spec = partitioned_table_argument_spec()
    argument_spec.update(
        tenants=dict(type="list", elements="str"),
        count_rows=dict(type="bool", default=True),
        checksum=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if sql is None:
        module.fail_json(msg=missing_required_lib("psycopg >= 3.1"), exception=PSYCOPG_IMPORT_ERROR)
    params = module.params
    requested = partition_names(module)
    conn = connect(module)
    qualified = "%s.%s" % (params["schema"], params["table"])
    result = dict(changed=False, server_version=server_version(conn), partitions=[], tenants={},
                  table=dict(name=qualified, exists=False, partitioned_by_list=False, problem="does not exist",
                             default_partition=None))
    with conn.cursor() as cursor:
        parent = inspect_parent(module, cursor, required=False)
        if parent is None:
            module.exit_json(**result)
        result["table"].update(exists=True, partitioned_by_list=parent["problem"] is None, problem=parent["problem"],
                               column_type=parent["key_type"], default_partition=parent["default_partition"])
        partitions = parent_partitions(cursor, parent["oid"]) if parent["relkind"] == "p" else []
        result["partitions"] = partitions
        if params["tenants"] is None:
            requested = {}
            for partition in partitions:
                for value in partition["values"]:
                    try:
                        tenant = tenant_uuid(value)
                        requested[tenant] = postgres_partition_name(tenant, params["table"])
                    except TenantError:
                        continue
        holder = dict((value, p["name"]) for p in partitions for value in p["values"])
        relations = inspect_relations(cursor, params["schema"], requested.values())
        for tenant, derived in sorted(requested.items()):
            name = holder.get(tenant, derived)
            rel = relations.get(name)
            facts = dict(partition=name, exists=rel is not None or tenant in holder, attached=tenant in holder)
            if facts["exists"] and (params["count_rows"] or params["checksum"]):
                query = sql.SQL(CHECKSUM_SQL if params["checksum"] else COUNT_SQL).format(
                    sql.SQL("{}.{}").format(sql.Identifier(params["schema"]), sql.Identifier(name)))
                row = fetch_all(cursor, query)[0]
                facts.update(row)
            result["tenants"][tenant] = facts
    conn.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
