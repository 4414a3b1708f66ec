#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: milvus_partition
short_description: Ensure one Milvus partition per tenant, for a whole batch of tenants
version_added: 0.1.0
description:
  - Creates or drops the partitions of a Milvus collection in one task, for a list of bot UUIDs
    (names derived by the collection's naming rule, C(bot_<32 hex>)) or a list of raw partition names.
  - The whole batch is validated before anything changes, including the server's partition limit
    (C(rootCoord.maxPartitionNum); the C(_default) partition counts).
  - Partitions are created or dropped one at a time; a run that stops half-way is completed by
    running it again.
  - The collection must use the C(partition) tenancy mode of M(ragops.stack.milvus_collection);
    a partition-key collection has no per-tenant partitions to manage.
extends_documentation_fragment:
  - ragops.stack.milvus
  - ragops.stack.milvus.partition_limit
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the server and reports what would be created or dropped; changes nothing.
  diff_mode:
    support: full
    details: Shows the requested partitions that exist before and after.
  platform:
    platforms: posix
options:
  collection:
    description:
      - Name of the tenant collection.
    type: str
    required: true
  tenants:
    description:
      - Bot UUIDs (8-4-4-4-12 or 32 hex digits, any case); each gets the partition C(bot_<32 hex>).
      - Mutually exclusive with O(names).
    type: list
    elements: str
  names:
    description:
      - Raw partition names, for partitions that do not follow the tenant rule.
      - Each must be a valid Milvus name (a letter or C(_) first, then letters, digits and C(_),
        at most 255 characters). Mutually exclusive with O(tenants).
    type: list
    elements: str
  state:
    description:
      - V(present) creates the missing partitions.
      - V(absent) drops the partitions that exist, releasing a loaded one first. Their entities are
        deleted with them.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: ragops.stack.milvus_collection
  - module: ragops.stack.milvus_info
  - module: ragops.stack.postgres_partition
  - name: Milvus partitions
    description: Milvus' guide to managing partitions.
    link: https://milvus.io/docs/manage-partitions.md
author:
  - ragops.stack maintainers (@ragops)
"""

EXAMPLES = r"""
- name: Give every bot its Milvus partition
  ragops.stack.milvus_partition:
    uri: "http://{{ ragops_milvus_host }}:19530"
    token: "{{ ragops_milvus_token | default(omit) }}"
    collection: chatty
    tenants: "{{ ragops_tenants | map(attribute='id') | list }}"

- name: Remove a bot's partition and its vectors
  ragops.stack.milvus_partition:
    collection: chatty
    tenants:
      - 550e8400-e29b-41d4-a716-446655440000
    state: absent

- name: Manage partitions that follow no tenant rule
  ragops.stack.milvus_partition:
    collection: chatty
    names: [archive_2024, archive_2025]
    max_partitions: 1024
"""

RETURN = r"""
created:
  description: Partitions created by this run (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [bot_550e8400e29b41d4a716446655440000]
dropped:
  description: Partitions dropped by this run (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: []
released:
  description: Loaded partitions released before they were dropped.
  returned: always
  type: list
  elements: str
  sample: []
existing:
  description: Requested partitions that were already in the wanted state (present, or already gone).
  returned: always
  type: list
  elements: str
  sample: []
partitions:
  description: The requested tenants and the partition name each maps to (empty when O(names) is used).
  returned: always
  type: dict
  sample: {"550e8400-e29b-41d4-a716-446655440000": "bot_550e8400e29b41d4a716446655440000"}
partition_count:
  description: Partitions of the collection after the run, C(_default) included.
  returned: always
  type: int
  sample: 12
partition_limit:
  description: The server's C(rootCoord.maxPartitionNum) that the batch was checked against.
  returned: always
  type: int
  sample: 4096
partition_limit_source:
  description: Where O(max_partitions) came from, V(option), V(server) or V(version default).
  returned: always
  type: str
  sample: server
server_version:
  description: Version reported by the Milvus server.
  returned: always
  type: str
  sample: v2.3.5
executed:
  description: The server calls made, in order (empty in check mode).
  returned: always
  type: list
  elements: str
  sample: ["create_partition(chatty, bot_550e8400e29b41d4a716446655440000)"]
"""

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
    TenantError,
    check_milvus_name,
    milvus_partition_name,
    validate_names,
    validate_tenants,
)

DEFAULT_PARTITION = "_default"


def requested_names(module):
    """Validate the whole batch; return ({tenant: name}, [names]) or fail listing every problem."""
    params = module.params
    try:
        check_milvus_name(params["collection"], "collection")
        if params["tenants"] is not None:
            tenants = validate_tenants(params["tenants"])
            mapping = dict((t, milvus_partition_name(t)) for t in tenants)
            return mapping, list(mapping.values())
        names = validate_names(params["names"])
    except TenantError as exc:
        module.fail_json(msg="invalid input, nothing was changed: %s" % exc)
    if DEFAULT_PARTITION in names and params["state"] == "absent":
        module.fail_json(msg="names: the _default partition cannot be dropped (rule: Milvus keeps it)")
    return {}, names


def main():
    argument_spec = milvus_argument_spec()
    argument_spec.update(partition_limit_argument_spec())
    argument_spec.update(
        collection=dict(type="str", required=True),
        tenants=dict(type="list", elements="str"),
        names=dict(type="list", elements="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("tenants", "names")],
        required_one_of=[("tenants", "names")],
        supports_check_mode=True,
    )
    params = module.params
    collection = params["collection"]
    mapping, wanted = requested_names(module)

    client, version = connect(module)
    if not call(module, "has_collection(%s)" % collection, client.has_collection, collection):
        module.fail_json(
            msg="collection %s does not exist in database %s at %s; create it first with ragops.stack.milvus_collection"
            % (collection, params["db_name"], params["uri"])
        )
    description = call(module, "describe_collection(%s)" % collection, client.describe_collection, collection)
    key_field = (partition_key_field(description) or {}).get("name")
    if key_field:
        module.fail_json(
            msg="collection %s uses the partition key %s (tenancy partition_key); Milvus manages its partitions,"
            " so per-tenant partitions cannot be created or dropped" % (collection, key_field)
        )

    current = call(module, "list_partitions(%s)" % collection, client.list_partitions, collection)
    current_set = set(current)
    limit, limit_source = partition_limit(module, version)
    result = dict(
        changed=False, created=[], dropped=[], released=[], existing=[], partitions=mapping,
        partition_limit=limit, partition_limit_source=limit_source, server_version=version, executed=[],
    )

    if params["state"] == "present":
        missing = [name for name in wanted if name not in current_set]
        result["existing"] = [name for name in wanted if name in current_set]
        total = len(current_set) + len(missing)
        if total > limit:
            module.fail_json(
                msg="collection %s would have %d partitions (%d now, _default included, + %d new) but the"
                " server allows %d (rootCoord.maxPartitionNum, from %s); nothing was changed. Past ~1,000 tenants"
                " use the partition_key tenancy of ragops.stack.milvus_collection"
                % (collection, total, len(current_set), len(missing), limit, limit_source),
                **result
            )
        result["created"] = missing
    else:
        present = [name for name in wanted if name in current_set]
        result["existing"] = [name for name in wanted if name not in current_set]
        result["dropped"] = present

    result["changed"] = bool(result["created"] or result["dropped"])
    changed_names = result["created"] + result["dropped"]
    before = sorted(name for name in wanted if name in current_set)
    after = sorted(result["existing"] + result["created"]) if params["state"] == "present" else []
    result["partition_count"] = len(current_set) + len(result["created"]) - len(result["dropped"])
    if module._diff:
        result["diff"] = dict(
            before=dict(collection=collection, partitions=before),
            after=dict(collection=collection, partitions=after),
        )
    if module.check_mode or not changed_names:
        module.exit_json(**result)

    executed = result["executed"]

    def run(what, func, *args, **kwargs):
        value = call(module, what, func, *args, _result=result, **kwargs)
        executed.append(what)
        return value

    for name in result["created"]:
        run("create_partition(%s, %s)" % (collection, name), client.create_partition, collection, name)
    for name in result["dropped"]:
        state = call(module, "get_load_state(%s, %s)" % (collection, name),
                     client.get_load_state, collection, partition_name=name, _result=result)
        if str(state.get("state")).endswith(("Loaded", "Loading")):
            run("release_partitions(%s, [%s])" % (collection, name), client.release_partitions, collection, [name])
            result["released"].append(name)
        run("drop_partition(%s, %s)" % (collection, name), client.drop_partition, collection, name)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
