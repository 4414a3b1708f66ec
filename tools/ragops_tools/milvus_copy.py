# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The copy strategy of a migration: stream the collection from another Milvus into this host's, then compare."""

from __future__ import annotations

from ragops_tools.base import BackupError
from ragops_tools.milvus import (
    MilvusClient,
    create_collection,
    describe,
    ensure_loaded,
    iterate_entities,
    milvus_client,
    milvus_units,
    scan_unit,
)


def copy_milvus(config: dict, source_uri: str, tenants: list | None = None, source_db: str = "default") -> dict:
    """Stream the collection from another server into this host's, one unit at a time, and compare both.

    The target's copy of every unit is replaced, so a copy that stopped half-way is redone whole.
    """
    mv = config["milvus"]
    name = mv["collection"]
    kwargs = dict(uri=source_uri, db_name=source_db, timeout=mv.get("timeout", 120))
    if mv.get("token"):
        kwargs["token"] = mv["token"]
    source, target = MilvusClient(**kwargs), milvus_client(config)
    if not source.has_collection(name):
        raise BackupError("Milvus collection %s does not exist at %s" % (name, source_uri))
    coll = describe(source, name)
    executed = []
    if coll["tenancy"] == "partition_key" and target.has_collection(name):
        target.drop_collection(name)
        executed.append("drop_collection(%s)" % name)
    if not target.has_collection(name):
        create_collection(target, coll)
        executed.append("create_collection(%s)" % name)
    else:
        live = describe(target, name)
        shape = ("dim", "primary", "vector", "tenancy")
        if [live[k] for k in shape] != [coll[k] for k in shape]:
            raise BackupError("collection %s differs between the servers (%s: %s here, %s at %s)"
                              % (name, "/".join(shape), [live[k] for k in shape], [coll[k] for k in shape],
                                 source_uri))
    ensure_loaded(target, name)
    existing = set(target.list_partitions(name))
    copied, differences, units = {}, [], []
    for unit in milvus_units(source, coll, tenants):
        partitions = unit["partitions"]
        if partitions and partitions[0] == "_default":
            # Cannot be dropped: emptied instead.
            for batch in iterate_entities(target, coll, partitions, mv["batch_size"], fields=[coll["primary"]]):
                target.delete(name, ids=[e[coll["primary"]] for e in batch], partition_name="_default")
        elif partitions:
            if partitions[0] in existing:
                target.release_partitions(name, partitions)
                target.drop_partition(name, partitions[0])
                executed.append("drop_partition(%s)" % partitions[0])
            target.create_partition(name, partitions[0])
        inserted = 0
        for batch in iterate_entities(source, coll, partitions, mv["batch_size"]):
            target.insert(name, batch, partition_name=partitions[0] if partitions else "")
            inserted += len(batch)
        executed.append("insert(%s, %d entities)" % (unit["unit"], inserted))
        units.append(unit)
    # One flush for all units, then every unit is read back from both servers.
    target.flush(name)
    ensure_loaded(target, name)
    for unit in units:
        partitions = unit["partitions"]
        if partitions and not str(target.get_load_state(name, partition_name=partitions[0]).get("state")) \
                .endswith("Loaded"):
            target.load_partitions(name, partitions)
        want = scan_unit(source, coll, partitions, mv["batch_size"])
        got = scan_unit(target, coll, partitions, mv["batch_size"])
        if (want["entities"], want["checksum"]) != (got["entities"], got["checksum"]):
            differences.append("%s: %d entities (checksum %s) at the source, %d (%s) here"
                               % (unit["unit"], want["entities"], want["checksum"], got["entities"],
                                  got["checksum"]))
        if unit["tenant"]:
            copied[unit["tenant"]] = dict(partition=unit["unit"], entities=got["entities"], checksum=got["checksum"])
        for tenant, value in got.get("by_tenant", {}).items():
            copied[tenant] = dict(partition=None, **value)
    source.close()
    target.close()
    if differences:
        raise BackupError("the copy differs from the source: " + "; ".join(differences))
    return dict(executed=executed, tenants=copied)
