# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backups and restores of the Milvus tier: the export (every unit's entities, with counts and checksums),
or the milvus-backup tool.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from ragops_tools.base import BackupError, Refused
from ragops_tools.checksums import unpack_vector
from ragops_tools.milvus import (
    count_unit,
    create_collection,
    describe,
    ensure_loaded,
    iterate_entities,
    milvus_client,
    milvus_units,
    scan_unit,
)
from ragops_tools.system import run


def backup_milvus(config: dict, tier_dir: Path) -> dict:
    mv = config["milvus"]
    tier_dir.mkdir(mode=0o700)
    if mv["method"] == "milvus_backup":
        return backup_milvus_tool(config, tier_dir)
    client = milvus_client(config)
    name = mv["collection"]
    if not client.has_collection(name):
        raise BackupError("Milvus collection %s does not exist at %s" % (name, mv["uri"]))
    coll = describe(client, name)
    # Persist the growing segments first; the export reads with Strong consistency, so every write
    # acknowledged before it starts is in it. Searches go on meanwhile: nothing is released or locked.
    client.flush(name)
    units, tenants = {}, {}
    for unit in milvus_units(client, coll):
        base = tier_dir / unit["unit"]
        with gzip.open(str(base) + ".jsonl.gz", "wt", encoding="utf-8", compresslevel=mv.get("compress_level", 3)) \
                as scalars_out, open(str(base) + ".f32", "wb") as vectors_out:
            def sink(packed, scalars_out=scalars_out, vectors_out=vectors_out):
                for scalars, data in packed:
                    scalars_out.write(json.dumps(scalars, ensure_ascii=False, separators=(",", ":")) + "\n")
                    vectors_out.write(data)
            facts = scan_unit(client, coll, unit["partitions"], mv["batch_size"], sink)
        units[unit["unit"]] = dict(facts, partitions=unit["partitions"], tenant=unit["tenant"],
                                   files=[base.name + ".jsonl.gz", base.name + ".f32"])
        if unit["tenant"]:
            tenants[unit["tenant"]] = dict(partition=unit["unit"], entities=facts["entities"],
                                           checksum=facts["checksum"])
        for tenant, value in facts.get("by_tenant", {}).items():
            tenants[tenant] = dict(partition=None, **value)
    version = client.get_server_version()
    client.close()
    return dict(method="export", server_version=version, collection=coll, units=units, tenants=tenants, exact=True)


def client_version(config: dict) -> str:
    try:
        client = milvus_client(config)
        version = client.get_server_version()
        client.close()
        return version
    except Exception:  # only informative
        return "unknown"


def backup_milvus_tool(config: dict, tier_dir: Path) -> dict:
    mv = config["milvus"]
    if not mv.get("backup_bin") or not os.access(mv["backup_bin"], os.X_OK):
        raise BackupError("backup_milvus_method is milvus_backup but %r is not an executable milvus-backup"
                          % mv.get("backup_bin"))
    client = milvus_client(config)
    coll = describe(client, mv["collection"])
    client.flush(mv["collection"])
    counts = {}
    for unit in milvus_units(client, coll):
        facts = scan_unit(client, coll, unit["partitions"], mv["batch_size"])
        if unit["tenant"]:
            counts[unit["tenant"]] = dict(partition=unit["unit"], entities=facts["entities"],
                                          checksum=facts["checksum"])
    client.close()
    name = "ragops_%s" % tier_dir.parent.name
    command = [mv["backup_bin"], "create", "-n", name, "--colls", mv["collection"]]
    if mv.get("backup_config"):
        command += ["--config", mv["backup_config"]]
    proc = run(command)
    (tier_dir / "milvus-backup.log").write_text(proc.stdout + proc.stderr)
    return dict(method="milvus_backup", backup_name=name, server_version=client_version(config), collection=coll,
                units={}, tenants=counts, exact=False)


def restore_milvus(config: dict, tier_dir: Path, manifest: dict, force: bool, tenants: list | None) -> dict:
    mv = config["milvus"]
    if manifest["method"] != "export":
        raise BackupError("restoring a milvus-backup backup is done with that tool: %s restore -n %s"
                          % (mv.get("backup_bin") or "milvus-backup", manifest.get("backup_name")))
    coll = manifest["collection"]
    client = milvus_client(config)
    executed = []
    units = manifest["units"]
    if tenants is not None:
        if coll["tenancy"] == "partition_key":
            raise BackupError("a partial restore by tenant needs partition tenancy")
        units = dict((u, f) for u, f in units.items() if f.get("tenant") in tenants)
    if not client.has_collection(coll["name"]):
        create_collection(client, coll)
        executed.append("create_collection(%s)" % coll["name"])
    else:
        live = describe(client, coll["name"])
        if (live["dim"], live["primary"], live["vector"], live["tenancy"]) != \
                (coll["dim"], coll["primary"], coll["vector"], coll["tenancy"]):
            raise BackupError("collection %s differs from the backup's (dim/primary/vector/tenancy %s vs %s)"
                              % (coll["name"], (live["dim"], live["primary"], live["vector"], live["tenancy"]),
                                 (coll["dim"], coll["primary"], coll["vector"], coll["tenancy"])))
    ensure_loaded(client, coll["name"])
    existing = set(client.list_partitions(coll["name"]))
    busy = []
    for unit, facts in units.items():
        partitions = facts["partitions"]
        if partitions and partitions[0] not in existing:
            continue
        if count_unit(client, coll, partitions):
            busy.append(unit)
    if busy and not force:
        raise Refused("Milvus collection %s holds live entities in %d partition(s) (%s); set force to overwrite them"
                      % (coll["name"], len(busy), ", ".join(busy[:5]) + (", ..." if len(busy) > 5 else "")))
    for unit, facts in sorted(units.items()):
        partitions = facts["partitions"]
        if partitions and partitions[0] not in existing:
            client.create_partition(coll["name"], partitions[0])
            executed.append("create_partition(%s)" % partitions[0])
        if unit in busy:
            deleted = 0
            for batch in iterate_entities(client, coll, partitions, mv["batch_size"], fields=[coll["primary"]]):
                ids = [e[coll["primary"]] for e in batch]
                client.delete(coll["name"], ids=ids, partition_name=partitions[0] if partitions else None)
                deleted += len(ids)
            executed.append("delete(%s, %d entities)" % (unit, deleted))
        inserted = 0
        with gzip.open(str(tier_dir / (unit + ".jsonl.gz")), "rt", encoding="utf-8") as scalars_in, \
                open(tier_dir / (unit + ".f32"), "rb") as vectors_in:
            batch = []
            size = coll["dim"] * 4
            for line in scalars_in:
                entity = json.loads(line)
                entity[coll["vector"]] = unpack_vector(vectors_in.read(size), coll["dim"])
                batch.append(entity)
                if len(batch) >= mv["insert_batch"]:
                    client.insert(coll["name"], batch, partition_name=partitions[0] if partitions else "")
                    inserted += len(batch)
                    batch = []
            if batch:
                client.insert(coll["name"], batch, partition_name=partitions[0] if partitions else "")
                inserted += len(batch)
        executed.append("insert(%s, %d entities)" % (unit, inserted))
    client.flush(coll["name"])
    ensure_loaded(client, coll["name"])
    for facts in units.values():
        for partition in facts["partitions"] or []:
            if not str(client.get_load_state(coll["name"], partition_name=partition).get("state")).endswith("Loaded"):
                client.load_partitions(coll["name"], [partition])
                executed.append("load_partitions(%s)" % partition)
    actual = {}
    for unit, facts in sorted(units.items()):
        scanned = scan_unit(client, coll, facts["partitions"], mv["batch_size"])
        if facts.get("tenant"):
            actual[facts["tenant"]] = dict(partition=unit, entities=scanned["entities"], checksum=scanned["checksum"])
        for tenant, value in scanned.get("by_tenant", {}).items():
            actual[tenant] = dict(partition=None, **value)
    client.close()
    return dict(executed=executed, tenants=actual)
