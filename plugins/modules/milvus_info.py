#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: milvus_info
short_description: Report a Milvus server, its tenant collection and per-tenant entity counts
version_added: 0.1.0
description:
  - Read-only facts about the server (version, partition limit), the collections of the database, and for one
    collection its tenancy, load state and partitions.
  - Per tenant, the partition it maps to (C(bot_<32 hex>)), whether it exists and how many entities it holds.
  - Used by migrations, backups and status reports to compare the data before and after a move.
extends_documentation_fragment:
  - ragops.stack.milvus
  - ragops.stack.milvus.partition_limit
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
  collection:
    description: The tenant collection to describe. Without it only server facts are returned.
    type: str
  tenants:
    description:
      - Bot UUIDs to report on, including those without a partition yet.
      - When omitted, every partition that follows the tenant rule is reported
        (in C(partition_key) tenancy, no tenant is reported unless listed).
    type: list
    elements: str
  count_entities:
    description:
      - Count the entities of each reported tenant.
      - On a loaded collection the count is exact (a C(count(*)) query with Strong consistency); on a released
        one it comes from the partition statistics, which only know flushed segments. RV(count_method) says which.
    type: bool
    default: true
  search_probes:
    description:
      - Run this many searches per existing tenant and return the ids found.
      - The ids land in C(search_ids) of each tenant in RV(tenants).
      - The query vectors are derived from the tenant id alone, so two servers holding the same data return
        the same ids. Migrations use this to prove that searches answer as before.
      - Needs a loaded collection; V(0) runs none.
    type: int
    default: 0
  search_top_k:
    description: Hits per probe search.
    type: int
    default: 10
seealso:
  - module: ragops.stack.milvus_collection
  - module: ragops.stack.milvus_partition
  - module: ragops.stack.postgres_partition_info
author:
  - ragops.stack maintainers (@ragops)
"""

EXAMPLES = r"""
- name: Server facts and the partition limit
  ragops.stack.milvus_info:
    uri: "http://{{ ragops_milvus_host }}:19530"
  register: milvus

- name: Entities per tenant of the tenant collection
  ragops.stack.milvus_info:
    collection: chatty
  register: milvus_tenants

- name: Counts plus the ids three fixed searches find, to compare two servers
  ragops.stack.milvus_info:
    collection: chatty
    search_probes: 3
  register: milvus_fingerprint

- name: Fail when the collection is close to the partition limit
  ansible.builtin.assert:
    that: milvus_tenants.collection.partition_count < milvus_tenants.partition_limit * 0.9
    fail_msg: >-
      chatty has {{ milvus_tenants.collection.partition_count }}
      of {{ milvus_tenants.partition_limit }} partitions
"""

RETURN = r"""
server_version:
  description: Version reported by the server.
  returned: always
  type: str
  sample: v2.3.5
partition_limit:
  description: The server's C(rootCoord.maxPartitionNum) (C(_default) counts against it).
  returned: always
  type: int
  sample: 4096
partition_limit_source:
  description: Where the limit came from, V(option), V(server) or V(version default).
  returned: always
  type: str
  sample: server
collections:
  description: Collections of the database.
  returned: always
  type: list
  elements: str
  sample: [chatty]
collection:
  description: The requested collection; C(exists=false) and nothing else when it is missing.
  returned: when O(collection) is given
  type: dict
  sample:
    name: chatty
    exists: true
    tenancy: partition
    partition_key: null
    loaded: true
    partitions: [_default, bot_550e8400e29b41d4a716446655440000]
    partition_count: 2
count_method:
  description: How entities were counted, V(exact), V(statistics) or V(none).
  returned: when O(collection) is given
  type: str
  sample: exact
tenants:
  description:
    - Per tenant (canonical UUID), its partition and entity count.
    - C(search_ids) holds the ids found by each probe search, best first, when O(search_probes) is set.
  returned: when O(collection) is given
  type: dict
  sample:
    550e8400-e29b-41d4-a716-446655440000:
      partition: bot_550e8400e29b41d4a716446655440000
      exists: true
      entities: 10000
      search_ids: [[448977311234, 448977311201], [448977310007, 448977311234]]
"""

import math
import random

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ragops.stack.plugins.module_utils.milvus import (
    call,
    connect,
    milvus_argument_spec,
    partition_key_field,
    partition_limit,
    partition_limit_argument_spec,
)
from ansible_collections.ragops.stack.plugins.module_utils.tenant import (
    MILVUS_PARTITION_PREFIX,
    TenantError,
    milvus_partition_name,
    tenant_from_partition,
    validate_tenants,
)


def count_entities(module, client, collection, method, partition=None, tenant_filter=""):
    if method == "exact":
        kwargs = dict(filter=tenant_filter, output_fields=["count(*)"], consistency_level="Strong")
        if partition:
            kwargs["partition_names"] = [partition]
        what = "count(%s, %s)" % (collection, partition or tenant_filter)
        rows = call(module, what, client.query, collection, **kwargs)
        return int(rows[0]["count(*)"]) if rows else 0
    if partition:
        stats = call(module, "get_partition_stats(%s, %s)" % (collection, partition),
                     client.get_partition_stats, collection, partition)
        return int(stats.get("row_count", 0))
    return None


def probe_vector(tenant, number, dim):
    """A unit vector that depends on the tenant and the probe number only."""
    generator = random.Random("%s:%d" % (tenant, number))  # noqa: S311 - reproducible on purpose, not a secret
    values = [generator.gauss(0.0, 1.0) for _index in range(dim)]
    norm = math.sqrt(sum(value * value for value in values)) or 1.0
    return [value / norm for value in values]


def vector_field(description):
    for field in description.get("fields", []):
        if "FLOAT_VECTOR" in str(field.get("type")).upper() or str(field.get("type")) == "101":
            return field["name"], int(field.get("params", {}).get("dim", 0))
    return None, 0


def search_ids(module, client, collection, field, dim, metric, tenant, probes, top_k, partition=None,
               tenant_filter=""):
    data = [probe_vector(tenant, number, dim) for number in range(probes)]
    params = {"params": {"ef": max(64, top_k)}}
    if metric:
        params["metric_type"] = metric
    kwargs = dict(data=data, limit=top_k, anns_field=field, search_params=params, consistency_level="Strong",
                  filter=tenant_filter, output_fields=[])
    if partition:
        kwargs["partition_names"] = [partition]
    hits = call(module, "search(%s, %s)" % (collection, partition or tenant_filter), client.search, collection,
                **kwargs)
    return [[hit["id"] for hit in row] for row in hits]


def index_metric(module, client, collection, field):
    names = call(module, "list_indexes(%s)" % collection, client.list_indexes, collection, field_name=field)
    if not names:
        return None
    return call(module, "describe_index(%s)" % collection, client.describe_index, collection, names[0]).get(
        "metric_type")


def main():
    argument_spec = milvus_argument_spec()
    argument_spec.update(partition_limit_argument_spec())
    argument_spec.update(
        collection=dict(type="str"),
        tenants=dict(type="list", elements="str"),
        count_entities=dict(type="bool", default=True),
        search_probes=dict(type="int", default=0),
        search_top_k=dict(type="int", default=10),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    try:
        requested = validate_tenants(params["tenants"]) if params["tenants"] is not None else None
    except TenantError as exc:
        module.fail_json(msg="invalid input: %s" % exc)

    client, version = connect(module)
    limit, source = partition_limit(module, version)
    result = dict(changed=False, server_version=version, partition_limit=limit, partition_limit_source=source,
                  collections=sorted(call(module, "list_collections", client.list_collections)))
    name = params["collection"]
    if not name:
        module.exit_json(**result)
    if name not in result["collections"]:
        result.update(collection=dict(name=name, exists=False), tenants={}, count_method="none")
        module.exit_json(**result)

    description = call(module, "describe_collection(%s)" % name, client.describe_collection, name)
    key = (partition_key_field(description) or {}).get("name")
    partitions = call(module, "list_partitions(%s)" % name, client.list_partitions, name)
    loaded = str(call(module, "get_load_state(%s)" % name, client.get_load_state, name).get("state")).endswith("Loaded")
    result["collection"] = dict(name=name, exists=True, tenancy="partition_key" if key else "partition",
                                partition_key=key, loaded=loaded, partitions=partitions,
                                partition_count=len(partitions))
    method = "none"
    if params["count_entities"]:
        method = "exact" if loaded else ("statistics" if not key else "none")
    result["count_method"] = method

    probes = params["search_probes"]
    if probes < 0 or params["search_top_k"] < 1:
        module.fail_json(msg="search_probes must be >= 0 and search_top_k >= 1, got %d and %d"
                         % (probes, params["search_top_k"]))
    if probes and not loaded:
        module.fail_json(msg="search_probes needs collection %s loaded; it is released" % name)
    field, dim = vector_field(description)
    if probes and not field:
        module.fail_json(msg="search_probes: collection %s has no float vector field" % name)
    metric = index_metric(module, client, name, field) if probes else None

    if requested is None:
        derived = [tenant_from_partition(p, MILVUS_PARTITION_PREFIX) for p in partitions]
        requested = [] if key else [t for t in derived if t]
    existing = set(partitions)
    tenants = {}
    for tenant in requested:
        if key:
            facts = dict(partition=None, exists=None)
            if method == "exact":
                tenant_filter = '%s == "%s"' % (key, tenant)
                facts["entities"] = count_entities(module, client, name, method, tenant_filter=tenant_filter)
                facts["exists"] = facts["entities"] > 0
            if probes and facts["exists"]:
                facts["search_ids"] = search_ids(module, client, name, field, dim, metric, tenant, probes,
                                                 params["search_top_k"], tenant_filter=tenant_filter)
        else:
            partition = milvus_partition_name(tenant)
            facts = dict(partition=partition, exists=partition in existing)
            if facts["exists"] and method != "none":
                facts["entities"] = count_entities(module, client, name, method, partition=partition)
            if probes and facts["exists"]:
                facts["search_ids"] = search_ids(module, client, name, field, dim, metric, tenant, probes,
                                                 params["search_top_k"], partition=partition)
        tenants[tenant] = facts
    result["tenants"] = tenants
    module.exit_json(**result)


if __name__ == "__main__":
    main()
