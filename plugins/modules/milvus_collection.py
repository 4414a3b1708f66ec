#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: milvus_collection
short_description: Ensure the tenant collection of a RAG platform exists in Milvus, indexed and loaded
version_added: 0.1.0
description:
  - Creates the collection that holds every tenant's vectors, with the ragops schema (a VARCHAR primary
    key, the tenant field C(bot_id) and a FLOAT_VECTOR field), its vector index and its load state.
  - Two tenancy modes. V(partition) gives each bot its own partition (see M(ragops.stack.milvus_partition)),
    limited by the server's C(rootCoord.maxPartitionNum). V(partition_key) makes the tenant field Milvus'
    partition key, hashed over O(num_partitions) partitions; this is the mode for installs past about 1,000 bots.
  - An existing collection whose schema, tenancy or index differs from the options is an error that lists
    every difference. The module never drops a collection to change it.
extends_documentation_fragment:
  - ragops.stack.milvus
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Compares the collection with the options and reports what would be done; changes nothing.
  diff_mode:
    support: full
    details: Shows the collection's schema, index and load state before and after.
  platform:
    platforms: posix
options:
  collection:
    description: Name of the collection.
    type: str
    required: true
  state:
    description:
      - V(present) creates the collection if it is missing and checks it otherwise.
      - V(absent) drops the collection and every vector in it.
    type: str
    choices: [present, absent]
    default: present
  dim:
    description: Dimension of the embeddings. Required with O(state=present).
    type: int
  metric_type:
    description: Distance used by the vector index and by searches.
    type: str
    choices: [COSINE, IP, L2]
    default: COSINE
  index_type:
    description: Vector index type.
    type: str
    choices: [HNSW, IVF_FLAT, IVF_SQ8, IVF_PQ, FLAT, DISKANN, AUTOINDEX]
    default: HNSW
  index_params:
    description:
      - Build parameters of the index, for example C(M) and C(efConstruction) for HNSW or C(nlist) for IVF.
      - "Defaults to C({M: 16, efConstruction: 200}) for HNSW and to none for other types."
    type: dict
  tenancy:
    description: How tenants are separated. See the description.
    type: str
    choices: [partition, partition_key]
    default: partition
  num_partitions:
    description: Number of partitions the partition key hashes tenants over. Used with O(tenancy=partition_key) only.
    type: int
    default: 64
  primary_field:
    description: Name of the VARCHAR primary key field (the document id).
    type: str
    default: id
  primary_max_length:
    description: Maximum length of a document id.
    type: int
    default: 64
  tenant_field:
    description: Name of the VARCHAR field holding the bot UUID.
    type: str
    default: bot_id
  tenant_max_length:
    description: Maximum length of the tenant field.
    type: int
    default: 64
  vector_field:
    description: Name of the FLOAT_VECTOR field.
    type: str
    default: embedding
  shards_num:
    description: Number of shards, fixed when the collection is created.
    type: int
    default: 1
  consistency_level:
    description: Default consistency level of the collection, fixed when it is created.
    type: str
    choices: [Strong, Bounded, Session, Eventually]
    default: Bounded
  loaded:
    description: Whether the collection is loaded into memory (searchable). V(false) releases it.
    type: bool
    default: true
  description:
    description: Description stored with a new collection.
    type: str
    default: ''
seealso:
  - module: ragops.stack.milvus_partition
  - module: ragops.stack.milvus_info
  - name: Milvus multi-tenancy
    description: Milvus' guide to partition-based and partition-key-based multi-tenancy.
    link: https://milvus.io/docs/multi_tenancy.md
author:
  - ragops.stack maintainers (@ragops)
"""

EXAMPLES = r"""
- name: The tenant collection, one partition per bot
  ragops.stack.milvus_collection:
    uri: "http://{{ ragops_milvus_host }}:19530"
    collection: chatty
    dim: 768

- name: A collection for thousands of bots, with a partition key
  ragops.stack.milvus_collection:
    collection: chatty_large
    dim: 1024
    metric_type: IP
    tenancy: partition_key
    num_partitions: 256
    index_params: {M: 32, efConstruction: 256}

- name: Release the collection from memory
  ragops.stack.milvus_collection:
    collection: chatty
    dim: 768
    loaded: false
"""

RETURN = r"""
collection:
  description: The collection as it is after the run (as it would be, in check mode). Empty when absent.
  returned: always
  type: dict
  sample:
    name: chatty
    tenancy: partition
    num_partitions: null
    primary: {name: id, max_length: 64}
    tenant: {name: bot_id, max_length: 64}
    vector: {name: embedding, dim: 768}
    fields: [id, bot_id, embedding]
    shards_num: 1
    consistency_level: Bounded
    index: {index_type: HNSW, metric_type: COSINE, params: {M: "16", efConstruction: "200"}}
    loaded: true
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
  sample: ["create_collection(chatty, dim=768, tenancy=partition)"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ragops.stack.plugins.module_utils.milvus import (
    call,
    connect,
    milvus_argument_spec,
    partition_key_field,
)
from ansible_collections.ragops.stack.plugins.module_utils.tenant import TenantError, check_milvus_name

DEFAULT_INDEX_PARAMS = {"HNSW": {"M": 16, "efConstruction": 200}}
INDEX_KEYS = ("index_type", "metric_type", "field_name", "index_name", "total_rows", "indexed_rows",
              "pending_index_rows", "state")


def wanted_description(params):
    index_params = params["index_params"]
    if index_params is None:
        index_params = DEFAULT_INDEX_PARAMS.get(params["index_type"], {})
    partition_key = params["tenancy"] == "partition_key"
    return dict(
        name=params["collection"],
        tenancy=params["tenancy"],
        num_partitions=params["num_partitions"] if partition_key else None,
        primary=dict(name=params["primary_field"], max_length=params["primary_max_length"]),
        tenant=dict(name=params["tenant_field"], max_length=params["tenant_max_length"]),
        vector=dict(name=params["vector_field"], dim=params["dim"]),
        fields=[params["primary_field"], params["tenant_field"], params["vector_field"]],
        shards_num=params["shards_num"],
        consistency_level=params["consistency_level"],
        index=dict(index_type=params["index_type"], metric_type=params["metric_type"],
                   params=dict((str(k), str(v)) for k, v in index_params.items())),
        loaded=params["loaded"],
    )


def _type_name(field):
    kind = field.get("type")
    return getattr(kind, "name", str(kind))


def current_description(module, client, name, vector_field):
    raw = call(module, "describe_collection(%s)" % name, client.describe_collection, name)
    fields = raw.get("fields", [])
    by_name = dict((f["name"], f) for f in fields)
    primary = next((f for f in fields if f.get("is_primary")), {})
    key = partition_key_field(raw)
    vector = by_name.get(vector_field) or next((f for f in fields if _type_name(f) == "FLOAT_VECTOR"), {})
    index = None
    indexes = call(module, "list_indexes(%s)" % name, client.list_indexes, name, field_name=vector.get("name", ""))
    if indexes:
        info = call(module, "describe_index(%s)" % name, client.describe_index, name, indexes[0])
        index = dict(index_type=info.get("index_type"), metric_type=info.get("metric_type"),
                     params=dict((str(k), str(v)) for k, v in info.items() if k not in INDEX_KEYS))
    state = call(module, "get_load_state(%s)" % name, client.get_load_state, name)
    tenant = key or by_name.get(module.params["tenant_field"], {})
    return dict(
        name=name,
        tenancy="partition_key" if key else "partition",
        num_partitions=raw.get("num_partitions") if key else None,
        primary=dict(name=primary.get("name"), type=_type_name(primary),
                     max_length=primary.get("params", {}).get("max_length")),
        tenant=dict(name=tenant.get("name"), type=_type_name(tenant) if tenant else None,
                    max_length=tenant.get("params", {}).get("max_length")),
        vector=dict(name=vector.get("name"), type=_type_name(vector) if vector else None,
                    dim=vector.get("params", {}).get("dim")),
        fields=[f["name"] for f in fields],
        shards_num=raw.get("num_shards"),
        consistency_level=raw.get("consistency_level_name"),
        index=index,
        loaded=str(state.get("state")).endswith("Loaded"),
    )


def differences(current, wanted):
    """Every way the existing collection differs from the options, in words."""
    found = []

    def differ(what, have, want):
        if have != want:
            found.append("%s is %r, wanted %r" % (what, have, want))

    differ("primary key field", current["primary"]["name"], wanted["primary"]["name"])
    differ("primary key type", current["primary"]["type"], "VARCHAR")
    differ("primary key max_length", _int(current["primary"]["max_length"]), wanted["primary"]["max_length"])
    differ("tenant field", current["tenant"]["name"], wanted["tenant"]["name"])
    differ("tenant field type", current["tenant"]["type"], "VARCHAR")
    differ("tenant field max_length", _int(current["tenant"]["max_length"]), wanted["tenant"]["max_length"])
    differ("vector field", current["vector"]["name"], wanted["vector"]["name"])
    differ("vector field type", current["vector"]["type"], "FLOAT_VECTOR")
    differ("vector dim", _int(current["vector"]["dim"]), wanted["vector"]["dim"])
    differ("fields", current["fields"], wanted["fields"])
    differ("tenancy", current["tenancy"], wanted["tenancy"])
    differ("num_partitions", current["num_partitions"], wanted["num_partitions"])
    differ("shards_num", current["shards_num"], wanted["shards_num"])
    differ("consistency_level", current["consistency_level"], wanted["consistency_level"])
    if current["index"] is not None:
        differ("index type", current["index"]["index_type"], wanted["index"]["index_type"])
        differ("index metric", current["index"]["metric_type"], wanted["index"]["metric_type"])
        differ("index params", current["index"]["params"], wanted["index"]["params"])
    return found


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def public(description):
    """The description without the internal type fields."""
    if not description:
        return {}
    shown = dict(description)
    for key in ("primary", "tenant", "vector"):
        shown[key] = dict((k, _int(v)) for k, v in description[key].items() if k != "type")
    return shown


def create(module, client, wanted, run):
    from pymilvus import DataType

    params = module.params
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False, description=params["description"])
    schema.add_field(params["primary_field"], DataType.VARCHAR, is_primary=True,
                     max_length=params["primary_max_length"])
    schema.add_field(params["tenant_field"], DataType.VARCHAR, max_length=params["tenant_max_length"],
                     is_partition_key=params["tenancy"] == "partition_key")
    schema.add_field(params["vector_field"], DataType.FLOAT_VECTOR, dim=params["dim"])
    kwargs = dict(schema=schema, shards_num=params["shards_num"], consistency_level=params["consistency_level"])
    if params["tenancy"] == "partition_key":
        kwargs["num_partitions"] = params["num_partitions"]
    run("create_collection(%s, dim=%d, tenancy=%s)" % (params["collection"], params["dim"], params["tenancy"]),
        client.create_collection, params["collection"], **kwargs)
    create_index(module, client, wanted, run)


def create_index(module, client, wanted, run):
    index_params = client.prepare_index_params()
    index_params.add_index(field_name=wanted["vector"]["name"], index_type=wanted["index"]["index_type"],
                           metric_type=wanted["index"]["metric_type"], params=wanted["index"]["params"])
    run("create_index(%s, %s, %s)" % (wanted["name"], wanted["vector"]["name"], wanted["index"]["index_type"]),
        client.create_index, wanted["name"], index_params)


def main():
    argument_spec = milvus_argument_spec()
    argument_spec.update(
        collection=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        dim=dict(type="int"),
        metric_type=dict(type="str", choices=["COSINE", "IP", "L2"], default="COSINE"),
        index_type=dict(type="str", choices=["HNSW", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "FLAT", "DISKANN", "AUTOINDEX"],
                        default="HNSW"),
        index_params=dict(type="dict"),
        tenancy=dict(type="str", choices=["partition", "partition_key"], default="partition"),
        num_partitions=dict(type="int", default=64),
        primary_field=dict(type="str", default="id"),
        primary_max_length=dict(type="int", default=64),
        tenant_field=dict(type="str", default="bot_id"),
        tenant_max_length=dict(type="int", default=64),
        vector_field=dict(type="str", default="embedding"),
        shards_num=dict(type="int", default=1),
        consistency_level=dict(type="str", choices=["Strong", "Bounded", "Session", "Eventually"], default="Bounded"),
        loaded=dict(type="bool", default=True),
        description=dict(type="str", default=""),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ("dim",))],
        supports_check_mode=True,
    )
    params = module.params
    name = params["collection"]
    problems = []
    try:
        check_milvus_name(name, "collection")
        for option in ("primary_field", "tenant_field", "vector_field"):
            check_milvus_name(params[option], "field")
    except TenantError as exc:
        problems.append(str(exc))
    for option, low, high in (("dim", 2, 32768), ("num_partitions", 1, 4096), ("shards_num", 1, 16),
                              ("primary_max_length", 1, 65535), ("tenant_max_length", 36, 65535)):
        value = params[option]
        if value is not None and not low <= value <= high:
            problems.append("%s=%d is out of range (rule: %d to %d)" % (option, value, low, high))
    if len(set([params["primary_field"], params["tenant_field"], params["vector_field"]])) != 3:
        problems.append("primary_field, tenant_field and vector_field must be three different names")
    if problems:
        module.fail_json(msg="invalid input, nothing was changed: %s" % "; ".join(problems))

    client, version = connect(module)
    result = dict(changed=False, collection={}, server_version=version, executed=[])

    def run(what, func, *args, **kwargs):
        value = call(module, what, func, *args, _result=result, **kwargs)
        result["executed"].append(what)
        return value

    exists = call(module, "has_collection(%s)" % name, client.has_collection, name)
    current = current_description(module, client, name, params["vector_field"]) if exists else None

    if params["state"] == "absent":
        result["changed"] = bool(exists)
        if module._diff:
            result["diff"] = dict(before=public(current), after={})
        if exists and not module.check_mode:
            run("drop_collection(%s)" % name, client.drop_collection, name)
        module.exit_json(**result)

    wanted = wanted_description(params)
    if current is not None:
        found = differences(current, wanted)
        if found:
            module.fail_json(
                msg="collection %s at %s differs from the requested one: %s. Nothing was changed; ragops never"
                " drops a collection to change its schema, tenancy or index: create a new collection and move the"
                " data, or change the options to match" % (name, params["uri"], "; ".join(found)),
                collection=public(current), server_version=version,
            )
    actions = []
    if current is None:
        actions.append("create")
    elif current["index"] is None:
        actions.append("index")
    if (current is None or not current["loaded"]) and params["loaded"]:
        actions.append("load")
    if current is not None and current["loaded"] and not params["loaded"]:
        actions.append("release")

    result["changed"] = bool(actions)
    result["collection"] = public(wanted)
    if module._diff:
        result["diff"] = dict(before=public(current), after=public(wanted))
    if module.check_mode or not actions:
        module.exit_json(**result)

    if "create" in actions:
        create(module, client, wanted, run)
    if "index" in actions:
        create_index(module, client, wanted, run)
    if "load" in actions:
        run("load_collection(%s)" % name, client.load_collection, name)
    if "release" in actions:
        run("release_collection(%s)" % name, client.release_collection, name)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
