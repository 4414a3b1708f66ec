#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: postgres_partition
short_description: Ensure one PostgreSQL LIST partition per tenant, for a whole batch of tenants
version_added: 0.1.0
description:
  - Gives every bot UUID of O(tenants) its own partition C(<table>_<32 hex>) of a table
    C(PARTITION BY LIST (<column>)), or detaches it.
  - The parent table is checked first (it must exist and be LIST-partitioned on O(column)), and the whole
    batch is validated before anything changes.
  - Each partition is made in its own short transaction with C(lock_timeout) and bounded retries, never
    holding a lock on the parent across the batch. A partition is created as a plain table with a C(CHECK)
    constraint that proves its bound, then attached with C(ATTACH PARTITION), which takes only a
    C(SHARE UPDATE EXCLUSIVE) lock on the parent (C(CREATE TABLE ... PARTITION OF) would take
    C(ACCESS EXCLUSIVE)) and does not scan the new table.
  - A run that stops half-way leaves every tenant either done or untouched; running it again finishes the
    job, including attaching a table left detached.
extends_documentation_fragment:
  - community.postgresql.postgres
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Inspects the catalog and returns the queries that would run; changes nothing.
  diff_mode:
    support: full
    details: Shows the requested partitions attached to the parent before and after.
  platform:
    platforms: posix
options:
  db:
    description: Database to connect to.
    type: str
    default: ''
    aliases: [login_db]
  schema:
    description: Schema of the parent table and of its partitions.
    type: str
    default: public
  table:
    description:
      - The LIST-partitioned parent table. Partition names are C(<table>_<32 hex>), which must fit
        PostgreSQL's 63-byte identifiers, so O(table) is at most 30 bytes.
    type: str
    default: documents
  column:
    description: The partition key column holding the bot UUID.
    type: str
    default: bot_id
  tenants:
    description:
      - Bot UUIDs (8-4-4-4-12 or 32 hex digits, any case). The partition bound is the canonical lowercase
        8-4-4-4-12 form.
    type: list
    elements: str
    required: true
  state:
    description:
      - V(present) creates and attaches the missing partitions.
      - V(absent) detaches the partitions; the tables and their rows stay unless O(drop_data=true).
    type: str
    choices: [present, absent]
    default: present
  drop_data:
    description:
      - With O(state=absent), also drop the detached tables and every row in them.
    type: bool
    default: false
  detach_concurrently:
    description:
      - With O(state=absent), use C(DETACH PARTITION ... CONCURRENTLY), which does not block queries on
        the parent. Falls back to a plain C(DETACH) when the parent has a DEFAULT partition, where
        PostgreSQL does not allow it.
      - A concurrent detach that was interrupted is finalized by the next run.
    type: bool
    default: true
  lock_timeout:
    description:
      - How long one statement may wait for a lock before it gives up, in PostgreSQL syntax
        (C(500ms), C(2s), C(1min)).
    type: str
    default: 2s
  lock_retries:
    description:
      - How many times a tenant's transaction is retried after a lock timeout, with a growing pause.
    type: int
    default: 5
  retry_delay:
    description: Seconds to wait before the first retry; doubled for each further one, up to 10 seconds.
    type: float
    default: 0.5
  trust_input:
    description:
      - Kept for compatibility with community.postgresql; every identifier is validated and quoted whatever
        its value.
    type: bool
    default: true
notes:
  - Requires psycopg 3 on the host that runs the module.
  - A DEFAULT partition on the parent is scanned by every C(ATTACH PARTITION); the module warns when there is one.
seealso:
  - module: ragops.stack.postgres_partition_info
  - module: ragops.stack.milvus_partition
  - module: community.postgresql.postgresql_table
  - name: PostgreSQL table partitioning
    description: Declarative partitioning and the locks ATTACH and DETACH take.
    link: https://www.postgresql.org/docs/current/ddl-partitioning.html
author:
  - ragops.stack maintainers (@ragops)
"""

EXAMPLES = r"""
- name: Give every bot its PostgreSQL partition
  ragops.stack.postgres_partition:
    login_host: "{{ ragops_postgres_host }}"
    login_user: ragops
    login_password: "{{ ragops_postgres_password }}"
    db: ragops
    tenants: "{{ ragops_tenants | map(attribute='id') | list }}"

- name: Detach a bot's partition, keeping its rows as a standalone table
  ragops.stack.postgres_partition:
    db: ragops
    tenants: [550e8400-e29b-41d4-a716-446655440000]
    state: absent

- name: Remove a bot and its rows
  ragops.stack.postgres_partition:
    db: ragops
    tenants: [550e8400-e29b-41d4-a716-446655440000]
    state: absent
    drop_data: true
"""

RETURN = r"""
created:
  description: Partitions created (and attached) by this run, or that would be in check mode.
  returned: always
  type: list
  elements: str
  sample: [documents_550e8400e29b41d4a716446655440000]
attached:
  description: Existing standalone tables attached by this run (for example left by an earlier detach).
  returned: always
  type: list
  elements: str
  sample: []
detached:
  description: Partitions detached by this run.
  returned: always
  type: list
  elements: str
  sample: []
dropped:
  description: Tables dropped by this run (O(drop_data=true) only).
  returned: always
  type: list
  elements: str
  sample: []
existing:
  description: Requested partitions already in the wanted state.
  returned: always
  type: list
  elements: str
  sample: []
partitions:
  description: Each requested tenant (canonical UUID) and its partition name.
  returned: always
  type: dict
  sample: {"550e8400-e29b-41d4-a716-446655440000": "documents_550e8400e29b41d4a716446655440000"}
lock_retries_used:
  description: How many transactions were retried after a lock timeout.
  returned: always
  type: int
  sample: 0
queries:
  description: The statements executed, in order (in check mode, the statements that would be executed).
  returned: always
  type: list
  elements: str
  sample:
    - CREATE TABLE "public"."documents_550e8400e29b41d4a716446655440000" (LIKE "public"."documents" INCLUDING ALL)
    - ALTER TABLE "public"."documents" ATTACH PARTITION "public"."documents_550e8400e29b41d4a716446655440000"
      FOR VALUES IN ('550e8400-e29b-41d4-a716-446655440000')
server_version:
  description: Version of the PostgreSQL server.
  returned: always
  type: str
  sample: "15.8"
"""

import re
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ragops.stack.plugins.module_utils.partition_catalog import (
    BOUND_CHECK,
    bound_clause,
    inspect_relations,
    parent_partitions,
    server_version,
)
from ansible_collections.ragops.stack.plugins.module_utils.postgres import (
    connect,
    describe_error,
    endpoint,
    inspect_parent,
    partition_names,
    partitioned_table_argument_spec,
)

PSYCOPG_IMPORT_ERROR = None
try:
    from psycopg import errors as pg_errors
    from psycopg import sql
except ImportError:
    pg_errors = sql = None
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()

LOCK_TIMEOUT = re.compile(r"^\d+\s*(us|ms|s|min|h)?$")
MAX_RETRY_DELAY = 10.0


class Planner(object):
    """Turns the catalog state of each tenant into the statements that reach the wanted state."""

    def __init__(self, module, parent, relations, partitions):
        self.module = module
        self.params = module.params
        self.parent = parent
        self.relations = relations
        self.holder = dict((value, p["name"]) for p in partitions for value in p["values"])
        schema = sql.Identifier(self.params["schema"])
        self.parent_ident = sql.SQL("{}.{}").format(schema, sql.Identifier(self.params["table"]))
        self.schema = schema

    def ident(self, name):
        return sql.SQL("{}.{}").format(self.schema, sql.Identifier(name))

    def create(self, name):
        return sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(self.ident(name), self.parent_ident)

    def add_bound_check(self, name, tenant):
        return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({col} IS NOT NULL AND {col} = {val})").format(
            self.ident(name), sql.Identifier(BOUND_CHECK), col=sql.Identifier(self.params["column"]),
            val=sql.Literal(tenant))

    def attach(self, name, tenant):
        return sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})").format(
            self.parent_ident, self.ident(name), sql.Literal(tenant))

    def drop_bound_check(self, name):
        return sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(self.ident(name), sql.Identifier(BOUND_CHECK))

    def detach(self, name, mode=""):
        return sql.SQL("ALTER TABLE {} DETACH PARTITION {}" + mode).format(self.parent_ident, self.ident(name))

    def drop(self, name):
        return sql.SQL("DROP TABLE {}").format(self.ident(name))

    def plan(self, tenant, name):
        """Return (outcome, [statements], in_transaction) for one tenant, or fail on a conflict."""
        rel = self.relations.get(name)
        ours = rel is not None and rel["parent"] == self.parent["oid"]
        qualified = "%s.%s" % (self.params["schema"], name)
        if rel is not None and rel["relkind"] not in ("r", "p"):
            self.conflict("%s exists but is not a table (relkind %s)" % (qualified, rel["relkind"]))
        if rel is not None and rel["parent"] is not None and not ours:
            self.conflict("%s is a partition of another table" % qualified)
        holder = self.holder.get(tenant)
        if self.params["state"] == "present" and holder not in (None, name):
            self.conflict("tenant %s is already held by partition %s.%s, not by %s"
                          % (tenant, self.params["schema"], holder, name))
        if self.params["state"] == "present":
            if ours and not rel["detach_pending"]:
                if rel["bound"] != bound_clause(tenant):
                    self.conflict("%s is attached with bound %s, wanted %s"
                                  % (qualified, rel["bound"], bound_clause(tenant)))
                return "existing", [], True
            attach = [self.attach(name, tenant), self.drop_bound_check(name)]
            if rel is None:
                return "created", [self.create(name), self.add_bound_check(name, tenant)] + attach, True
            steps = [] if rel["has_bound_check"] else [self.add_bound_check(name, tenant)]
            if ours:  # an interrupted concurrent detach: finish it, then attach again
                return "attached", [self.detach(name, " FINALIZE")] + steps + attach, True
            return "attached", steps + attach, True
        drop = [self.drop(name)] if self.params["drop_data"] else []
        if ours:
            if rel["detach_pending"]:
                return "detached", [self.detach(name, " FINALIZE")] + drop, True
            if self.params["detach_concurrently"] and not self.parent["default_partition"]:
                return "detached", [self.detach(name, " CONCURRENTLY")] + drop, False
            return "detached", [self.detach(name)] + drop, True
        if rel is not None and drop:
            return "dropped", drop, True
        return "existing", [], True

    def conflict(self, text):
        self.module.fail_json(msg="nothing was changed: %s (in database %s)" % (text, endpoint(self.module)))


def execute(module, conn, statements, in_transaction, result):
    """Run one tenant's statements with lock_timeout, retrying after lock timeouts."""
    params = module.params
    set_timeout = sql.SQL("SET {} lock_timeout = {}").format(
        sql.SQL("LOCAL" if in_transaction else "SESSION"), sql.Literal(params["lock_timeout"]))
    texts = [s.as_string(conn) for s in statements]
    for attempt in range(params["lock_retries"] + 1):
        try:
            with conn.cursor() as cursor:
                if in_transaction:
                    with conn.transaction():
                        cursor.execute(set_timeout)
                        for statement in statements:
                            cursor.execute(statement)
                else:
                    cursor.execute(set_timeout)
                    for statement in statements:
                        cursor.execute(statement)
            result["queries"].extend(texts)
            return
        except pg_errors.LockNotAvailable as exc:
            if attempt == params["lock_retries"]:
                module.fail_json(
                    msg="gave up after %d lock timeouts of %s each on %s: %s; the tenants before it are done,"
                    " this one is untouched, re-run to finish"
                    % (attempt + 1, params["lock_timeout"], texts[-1], describe_error(exc)), **result)
            result["lock_retries_used"] += 1
            time.sleep(min(params["retry_delay"] * (2 ** attempt), MAX_RETRY_DELAY))
        except Exception as exc:
            module.fail_json(
                msg="failed in database %s running %s: %s; the tenants before it are done, re-run to finish"
                % (endpoint(module), " ; ".join(texts), describe_error(exc)), **result)


def main():
    argument_spec = partitioned_table_argument_spec()
    argument_spec.update(
        tenants=dict(type="list", elements="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        drop_data=dict(type="bool", default=False),
        detach_concurrently=dict(type="bool", default=True),
        lock_timeout=dict(type="str", default="2s"),
        lock_retries=dict(type="int", default=5),
        retry_delay=dict(type="float", default=0.5),
        trust_input=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if sql is None:
        module.fail_json(msg=missing_required_lib("psycopg >= 3.1"), exception=PSYCOPG_IMPORT_ERROR)
    params = module.params
    if not LOCK_TIMEOUT.match(params["lock_timeout"]):
        module.fail_json(msg="invalid input, nothing was changed: lock_timeout=%r (rule: a number with"
                         " us, ms, s, min or h, like 2s)" % params["lock_timeout"])
    if params["lock_retries"] < 0 or params["retry_delay"] < 0:
        module.fail_json(msg="invalid input, nothing was changed: lock_retries and retry_delay must not be negative")
    mapping = partition_names(module)

    conn = connect(module)
    with conn.cursor() as cursor:
        parent = inspect_parent(module, cursor, required=True)
        relations = inspect_relations(cursor, params["schema"], mapping.values())
        partitions = parent_partitions(cursor, parent["oid"])
    result = dict(changed=False, created=[], attached=[], detached=[], dropped=[], existing=[],
                  partitions=mapping, lock_retries_used=0, queries=[],
                  server_version=server_version(conn))
    if parent["default_partition"] and params["state"] == "present":
        module.warn("%s.%s has the DEFAULT partition %s: every ATTACH PARTITION scans it"
                    % (params["schema"], params["table"], parent["default_partition"]))

    planner = Planner(module, parent, relations, partitions)
    plans = [(name,) + planner.plan(tenant, name) for tenant, name in mapping.items()]
    result["changed"] = any(statements for _name, _outcome, statements, _tx in plans)
    if module._diff:
        before = sorted(n for n, r in relations.items() if r["parent"] == parent["oid"] and not r["detach_pending"])
        after = sorted(mapping.values()) if params["state"] == "present" else []
        result["diff"] = dict(before=dict(table=params["table"], partitions=before),
                              after=dict(table=params["table"], partitions=after))
    for name, outcome, statements, in_transaction in plans:
        if module.check_mode:
            result["queries"].extend(s.as_string(conn) for s in statements)
        elif statements:
            execute(module, conn, statements, in_transaction, result)
        result[outcome].append(name)
        if outcome == "detached" and params["drop_data"]:
            result["dropped"].append(name)
    conn.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
