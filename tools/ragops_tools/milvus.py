# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Milvus side: the client, the collection's description and re-creation, and scans by unit.

A unit is what is exported, restored or copied at one time: one partition with partition tenancy, else the whole
collection. Partition names map to tenants by the one rule of ``tenant``.
"""

from __future__ import annotations

from ragops_tools.base import BackupError
from ragops_tools.checksums import EntityChecksum, pack_vector
from ragops_tools.tenant import MILVUS_PARTITION_PREFIX, tenant_from_partition

# pymilvus is in the tools virtualenv; the pure parts of the package need it not.
try:
    from pymilvus import DataType, MilvusClient
except ImportError:  # pragma: no cover
    DataType = MilvusClient = None


def open_client(uri: str, timeout: float, token: str = "", db_name: str = "default"):
    kwargs = dict(uri=uri, db_name=db_name or "default", timeout=timeout)
    if token:
        kwargs["token"] = token
    return MilvusClient(**kwargs)


def milvus_client(config: dict):
    mv = config["milvus"]
    return open_client(mv["uri"], mv.get("timeout", 120), mv.get("token") or "", mv.get("db_name") or "default")


def load_state(client, name: str) -> str:
    """Loaded, Loading or NotLoad (pymilvus answers an enum whose name ends with the state)."""
    state = str(client.get_load_state(name).get("state"))
    return next((known for known in ("Loaded", "Loading") if state.endswith(known)), "NotLoad")


def describe(client, name: str) -> dict:
    """The collection's schema, index and tenancy, in a JSON-able form."""
    info = client.describe_collection(name)
    fields = []
    for field in info["fields"]:
        kind = getattr(field["type"], "name", str(field["type"]))
        params = dict((k, int(v) if str(v).isdigit() else v) for k, v in (field.get("params") or {}).items())
        fields.append(dict(name=field["name"], type=kind, params=params, is_primary=bool(field.get("is_primary")),
                           is_partition_key=bool(field.get("is_partition_key")),
                           auto_id=bool(field.get("auto_id"))))
    vectors = [f for f in fields if f["type"].endswith("VECTOR")]
    if len(vectors) != 1 or vectors[0]["type"] != "FLOAT_VECTOR":
        raise BackupError("collection %s: the export handles exactly one FLOAT_VECTOR field, found %s"
                          % (name, [(f["name"], f["type"]) for f in vectors]))
    indexes = []
    for index_name in client.list_indexes(name):
        index = client.describe_index(name, index_name)
        kept = ("field_name", "index_type", "metric_type", "index_name", "params")
        dropped = ("total_rows", "indexed_rows", "pending_index_rows", "state")
        indexes.append({k: v for k, v in index.items() if k in kept or k not in dropped})
    partition_key = next((f["name"] for f in fields if f["is_partition_key"]), None)
    return dict(name=name, fields=fields, indexes=indexes, partition_key=partition_key,
                tenancy="partition_key" if partition_key else "partition",
                num_partitions=info.get("num_partitions"),
                consistency_level=info.get("consistency_level_name") or info.get("consistency_level"),
                primary=next(f["name"] for f in fields if f["is_primary"]),
                vector=vectors[0]["name"], dim=int(vectors[0]["params"]["dim"]))


def milvus_units(client, coll: dict, only_tenants: list | None = None) -> list[dict]:
    """What is exported and restored one at a time: each partition (partition tenancy), else the collection."""
    if coll["tenancy"] == "partition_key":
        return [dict(unit="_collection", partitions=None, tenant=None)]
    units = []
    for name in client.list_partitions(coll["name"]):
        tenant = tenant_from_partition(name, MILVUS_PARTITION_PREFIX)
        if only_tenants is not None and tenant not in only_tenants:
            continue
        units.append(dict(unit=name, partitions=[name], tenant=tenant))
    return units


def iterate_entities(client, coll: dict, partitions, batch_size: int, fields=None):
    iterator = client.query_iterator(coll["name"], batch_size=batch_size, filter="",
                                     output_fields=fields or [f["name"] for f in coll["fields"]],
                                     partition_names=partitions, consistency_level="Strong")
    try:
        while True:
            batch = iterator.next()
            if not batch:
                break
            yield batch
    finally:
        iterator.close()


def scan_unit(client, coll: dict, partitions, batch_size: int, sink=None) -> dict:
    """Count and checksum one unit (and per tenant-field value), passing every batch to ``sink``."""
    vector, tenant_field = coll["vector"], coll["partition_key"]
    total, per_tenant = EntityChecksum(), {}
    for batch in iterate_entities(client, coll, partitions, batch_size):
        packed = []
        for entity in batch:
            scalars = dict((k, v) for k, v in entity.items() if k != vector)
            data = pack_vector(entity[vector], coll["dim"])
            total.add(scalars, data)
            if tenant_field:
                per_tenant.setdefault(str(entity[tenant_field]), EntityChecksum()).add(scalars, data)
            packed.append((scalars, data))
        if sink:
            sink(packed)
    result = dict(entities=total.count, checksum=total.value)
    if tenant_field:
        result["by_tenant"] = dict((t, dict(entities=c.count, checksum=c.value)) for t, c in per_tenant.items())
    return result


def create_collection(client, coll: dict) -> None:
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    for field in coll["fields"]:
        kwargs = dict(field["params"])
        if field["is_primary"]:
            kwargs["is_primary"] = True
        if field["is_partition_key"]:
            kwargs["is_partition_key"] = True
        schema.add_field(field["name"], DataType[field["type"]], **kwargs)
    kwargs = dict(schema=schema)
    if coll.get("consistency_level") is not None:
        kwargs["consistency_level"] = coll["consistency_level"]
    if coll["tenancy"] == "partition_key" and coll.get("num_partitions"):
        kwargs["num_partitions"] = coll["num_partitions"]
    client.create_collection(coll["name"], **kwargs)
    index_params = client.prepare_index_params()
    for index in coll["indexes"]:
        params = index.get("params") or dict((k, int(v) if str(v).isdigit() else v) for k, v in index.items()
                                             if k not in ("field_name", "index_type", "metric_type", "index_name"))
        index_params.add_index(field_name=index["field_name"], index_type=index.get("index_type"),
                               metric_type=index.get("metric_type"), params=params)
    client.create_index(coll["name"], index_params)


def count_unit(client, coll: dict, partitions) -> int:
    kwargs = dict(filter="", output_fields=["count(*)"], consistency_level="Strong")
    if partitions:
        kwargs["partition_names"] = partitions
    rows = client.query(coll["name"], **kwargs)
    return int(rows[0]["count(*)"]) if rows else 0


def ensure_loaded(client, name: str, timeout: float = 600) -> None:
    if load_state(client, name) != "Loaded":
        client.load_collection(name, timeout=timeout)


def milvus_live(config: dict) -> dict:
    client = milvus_client(config)
    name = config["milvus"]["collection"]
    if not client.has_collection(name):
        return {}
    coll = describe(client, name)
    result = {}
    for unit in milvus_units(client, coll):
        facts = scan_unit(client, coll, unit["partitions"], config["milvus"]["batch_size"])
        if unit["tenant"]:
            result[unit["tenant"]] = dict(partition=unit["unit"], entities=facts["entities"],
                                          checksum=facts["checksum"])
        for tenant, value in facts.get("by_tenant", {}).items():
            result[tenant] = dict(partition=None, **value)
    client.close()
    return result


def milvus_live_counts(config: dict, manifest: dict, tenants: list | None) -> dict:
    client = milvus_client(config)
    coll = manifest["collection"]
    if not client.has_collection(coll["name"]):
        return {}
    ensure_loaded(client, coll["name"])
    existing = set(client.list_partitions(coll["name"]))
    counts = {}
    for unit, facts in manifest["units"].items():
        if tenants is not None and facts.get("tenant") not in tenants:
            continue
        partitions = facts["partitions"]
        if partitions and partitions[0] not in existing:
            continue
        counts[unit] = count_unit(client, coll, partitions)
    client.close()
    return counts
