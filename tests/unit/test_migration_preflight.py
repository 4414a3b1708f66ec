"""The preflight of a migration: what it reads, and each rule with the message that names host, value and rule."""

from __future__ import annotations

import base64
import copy
import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ragops.stack.plugins.filter.migration_preflight import (
    CHECKS,
    migration_check,
    migration_problems,
    migration_state,
)

SOURCE, PG, MV, API = "rag-single-1", "rag-postgres-1", "rag-milvus-1", "rag-api-1"
A, B = "550e8400-e29b-41d4-a716-446655440000", "7c9e6679-7425-40de-944b-e07fc1f90ae7"
SOURCE_DIR = "/mnt/storage/rag-data/postgres/15/main"
TARGET_DIR = "/mnt/storage/rag-data/postgres/15/rag-postgres-1"


def slurped(text: str, item: str | None = None, source: str = "/var/lib/ragops/migration.json") -> dict:
    read = {"content": base64.b64encode(text.encode()).decode(), "encoding": "base64", "source": source}
    if item is not None:
        read["item"] = item
    return read


def missing(item: str | None = None) -> dict:
    read = {"failed": True, "msg": "file not found: /var/lib/ragops/migration.json"}
    if item is not None:
        read["item"] = item
    return read


def partitions(*tenants: str, rows: int | None = None) -> dict:
    return {"tenants": {t: {"exists": True, "rows": rows, "partition": "documents_x"} for t in tenants}}


# A source directory that can change hosts, seen from the target (as reads() would hold when re-homing).
REHOMING = {
    "rehome_paths": {"results": [
        {"item": SOURCE_DIR, "stat": {"exists": True, "isdir": True, "pw_name": "postgres", "dev": 7}},
        {"item": "/x", "stat": {"exists": True, "dev": 7}}]},
    "pg_owner": {"results": [slurped(SOURCE, SOURCE), slurped(SOURCE, PG)]},
}


def reads(**change) -> dict:
    """What the preflight registers for a source and targets that are ready for a streamed, re-homed move."""
    base = {
        "source_pg_server": {"query_result": [{"version": 150004, "in_recovery": False, "data_directory": SOURCE_DIR,
                                               "wal_level": "replica", "max_wal_senders": 10, "bytes": 1000}]},
        "source_pg_tenants": partitions(A, B, rows=3),
        "source_milvus": {"server_version": "v2.3.5-dev", "collection": {"exists": True, "loaded": True},
                          "tenants": {A: {"exists": True}, B: {"exists": True}, "gone": {"exists": False}}},
        "write_freeze_switch": {"stat": {"exists": True}},
        "target_pg_server": {"query_result": [{"version": 150006, "data_directory": TARGET_DIR}]},
        "target_pg_tenants": {"tenants": {}},
        "target_states": {"results": [missing(PG), missing(MV)]},
        "target_milvus_version": slurped("2.3.5\n", source="/opt/milvus/VERSION"),
        "target_milvus_unit": {"status": {"ActiveState": "inactive"}},
        "milvus_owner": {"results": [slurped(SOURCE + "\n", SOURCE), slurped(SOURCE + "\n", MV)]},
        "rehome_paths": {"skipped": True, "results": [
            {"skipped": True, "item": SOURCE_DIR}, {"skipped": True, "item": "/mnt/storage/rag-data/postgres/15"}]},
        "pg_owner": {"skipped": True, "results": [{"skipped": True, "item": SOURCE}, {"skipped": True, "item": PG}]},
        "target_pg_free": {"stdout_lines": ["Avail", "5000"]},
        "source_milvus_size": {"skipped": True, "changed": False},
        "target_milvus_free": {"skipped": True, "changed": False},
        "api_units": {"results": [{"item": API, "stat": {"exists": True}}]},
    }
    base.update(change)
    return base


def rules(**change) -> dict:
    base = {"host": SOURCE, "nodename": SOURCE, "postgres_target": PG, "milvus_target": MV,
            "postgres_method": "stream", "milvus_method": "rehome", "space_margin": 1.2, "tenants": [B, A],
            "collection": "chatty", "write_freeze_file": "/etc/nginx/ragops-write-freeze.conf",
            "target_postgres_data_dir": TARGET_DIR, "milvus_data_dir": "/mnt/storage/rag-data/milvus",
            "milvus_owner_record": "/mnt/storage/rag-data/.milvus.owner",
            "api_unit_file": "/etc/systemd/system/ragops-api@.service"}
    base.update(change)
    return base


def problems(read: dict | None = None, **rule) -> dict:
    return migration_problems(migration_check(read or reads()), rules(**rule))


def only(found: dict, group: str) -> list:
    """The problems of ``group``, after checking that no other group has any."""
    assert {name: found[name] for name in CHECKS if name != group and found[name]} == {}
    return found[group]


# --- migration_state -------------------------------------------------------------------------------


def test_state_is_the_json_object_of_the_file():
    assert migration_state(slurped('{"state": "done", "source": "x"}')) == {"state": "done", "source": "x"}


def test_no_state_file_is_no_state():
    assert migration_state(missing()) == {}
    assert migration_state(slurped("  \n")) == {}


def test_a_state_file_that_is_not_an_object_is_refused_with_its_path():
    with pytest.raises(AnsibleFilterError, match=r"/var/lib/ragops/migration\.json does not hold JSON"):
        migration_state(slurped("{state: done"))
    with pytest.raises(AnsibleFilterError, match=r"migration\.json holds list, not a JSON object"):
        migration_state(slurped("[1]"))


# --- migration_check -------------------------------------------------------------------------------


def test_the_facts_of_a_ready_move():
    check = migration_check(reads())
    assert check["source_pg"]["data_directory"] == SOURCE_DIR
    assert check["target_pg"] == {"version": 150006, "data_directory": TARGET_DIR}
    assert check["target_pg_error"] == ""
    assert check["target_states"] == {}
    assert check["pg_tenants"] == check["milvus_tenants"] == sorted([A, B])
    assert check["target_pg_rows"] == 0
    assert (check["milvus_source_version"], check["milvus_target_version"]) == ("2.3.5", "2.3.5")
    assert check["milvus_target_state"] == "inactive"
    assert check["owner_seen"] == [SOURCE, SOURCE]
    assert check["pg_free"] == 5000
    assert check["unitless_api_hosts"] == []
    assert check["postgres_rehome"] is None and check["milvus_copy"] is None
    json.dumps(check)  # set_fact keeps it


def test_the_facts_of_a_target_that_does_not_answer():
    check = migration_check(reads(target_pg_server={"failed": True, "msg": "connection refused"},
                                  target_pg_tenants={"failed": True, "msg": "connection refused"},
                                  target_pg_free={"rc": 1, "stdout_lines": []},
                                  target_milvus_version=missing(), target_milvus_unit={}))
    assert check["target_pg"] == {} and check["target_pg_error"] == "connection refused"
    assert check["target_pg_rows"] == 0 and check["pg_free"] == 0
    assert check["milvus_target_version"] == "" and check["milvus_target_state"] == "unknown"


def test_target_states_and_rows_left_by_an_earlier_attempt():
    check = migration_check(reads(
        target_states={"results": [slurped(json.dumps({"state": "copying", "source": SOURCE}), PG), missing(MV)]},
        target_pg_tenants={"tenants": {A: {"rows": 4}, B: {"rows": None}}}))
    assert check["target_states"] == {PG: {"state": "copying", "source": SOURCE}}
    assert check["target_pg_rows"] == 4


def test_the_facts_of_a_rehoming_and_a_copy():
    check = migration_check(reads(
        rehome_paths={"results": [
            {"item": SOURCE_DIR, "stat": {"exists": True, "isdir": True, "pw_name": "postgres", "dev": 51}},
            {"item": "/mnt/storage/rag-data/postgres/15", "stat": {"exists": True, "dev": 51}}]},
        pg_owner={"results": [slurped(SOURCE, SOURCE), slurped(SOURCE, PG)]},
        source_milvus_size={"stdout": "1234\t/mnt/storage/rag-data/milvus"},
        target_milvus_free={"stdout_lines": ["Avail", "99999"]}))
    assert check["postgres_rehome"] == {"source_dir": SOURCE_DIR, "exists": True, "isdir": True, "owner": "postgres",
                                        "same_filesystem": True, "owner_seen": [SOURCE, SOURCE]}
    assert check["milvus_copy"] == {"source_bytes": 1234, "target_free": 99999}


def test_a_source_result_that_is_missing_is_refused():
    with pytest.raises(AnsibleFilterError, match="source_milvus is missing"):
        migration_check(reads(source_milvus=None))
    with pytest.raises(AnsibleFilterError, match="source_pg_tenants is not an info module result"):
        migration_check(reads(source_pg_tenants={"failed": True}))
    with pytest.raises(AnsibleFilterError, match="source_pg_server holds no query result"):
        migration_check(reads(source_pg_server={"query_result": []}))


# --- migration_problems ----------------------------------------------------------------------------


def test_a_ready_move_breaks_no_rule():
    found = problems()
    assert list(found) == list(CHECKS)
    assert all(found[name] == [] for name in CHECKS)


def test_settings_are_required():
    with pytest.raises(AnsibleFilterError, match="settings missing: api_unit_file"):
        migration_problems(migration_check(reads()), {k: v for k, v in rules().items() if k != "api_unit_file"})
    with pytest.raises(AnsibleFilterError, match="tenants must be a list of tenant ids"):
        problems(tenants="a,b")


def source(**change) -> dict:
    server = copy.deepcopy(reads()["source_pg_server"])
    server["query_result"][0].update(change)
    return server


def test_a_source_in_recovery_that_cannot_stream():
    found = only(problems(reads(source_pg_server=source(in_recovery=True, wal_level="minimal", max_wal_senders=0))),
                 "source")
    assert found == [
        f"{SOURCE} (source): PostgreSQL is in recovery (pg_is_in_recovery() must be false: the source must be a "
        "primary).",
        f"{SOURCE} (source): wal_level is minimal (must be replica or logical to stream; "
        "migrate_postgres_method=rehome needs no replication).",
        f"{SOURCE} (source): max_wal_senders is 0 (must be > 0 to stream).",
    ]


def test_rehoming_postgres_needs_no_replication_settings():
    read = reads(source_pg_server=source(wal_level="minimal", max_wal_senders=0), **REHOMING)
    assert all(found == [] for found in problems(read, postgres_method="rehome").values())


def test_milvus_and_the_freeze_switch_of_the_source():
    absent = reads(source_milvus=dict(reads()["source_milvus"], collection={"exists": False}),
                   write_freeze_switch={"stat": {"exists": False}})
    assert only(problems(absent), "source") == [
        f"{SOURCE} (source): Milvus collection chatty does not exist (it must exist and be loaded).",
        f"{SOURCE} (source): the write freeze switch /etc/nginx/ragops-write-freeze.conf is absent (re-run site.yml "
        "with the phase-1 inventory to install it).",
    ]
    unloaded = reads(source_milvus=dict(reads()["source_milvus"], collection={"exists": True, "loaded": False}))
    assert only(problems(unloaded), "source") == [
        f"{SOURCE} (source): Milvus collection chatty is not loaded (it must be loaded)."]


def test_tenant_lists_that_differ_name_every_side():
    milvus = dict(reads()["source_milvus"], tenants={A: {"exists": True}, "mv-only": {"exists": True}})
    read = reads(source_pg_tenants=partitions(A, "pg-only"), source_milvus=milvus)
    (found,) = only(problems(read, tenants=[A, B]), "tenants")
    assert found.startswith(f"{SOURCE}: the tenant lists differ (rule: the source's PostgreSQL partitions, its "
                            "Milvus partitions and ragops_tenants of this inventory must name the same bots).")
    assert found.endswith("Only in PostgreSQL: pg-only; only in Milvus: mv-only; on the source but not in "
                          f"ragops_tenants: mv-only, pg-only; in ragops_tenants but not on the source: {B}.")


def test_an_empty_inventory_tenant_list_differs():
    (found,) = only(problems(tenants=[]), "tenants")
    assert f"on the source but not in ragops_tenants: {A}, {B}; in ragops_tenants but not on the source: none." \
        in found


def test_a_tenant_listed_twice_differs_and_is_named():
    (found,) = only(problems(tenants=[A, B, B]), "tenants")
    assert found.endswith(f"more than once in ragops_tenants: {B}.")


def test_a_postgres_target_that_does_not_answer_says_only_that():
    read = reads(target_pg_server={"failed": True, "msg": "connection refused"}, target_pg_free={"stdout_lines": []})
    assert only(problems(read), "postgres_target") == [
        f"{PG} (PostgreSQL target): it does not answer (connection refused); converge it with site.yml first."]


def test_a_postgres_target_of_another_version_on_the_source_directory_with_rows_and_no_room():
    read = reads(target_pg_server={"query_result": [{"version": 160002, "data_directory": SOURCE_DIR}]},
                 target_pg_tenants=partitions(A, rows=7), target_pg_free={"stdout_lines": ["Avail", "1199"]})
    assert only(problems(read), "postgres_target") == [
        f"{PG} (PostgreSQL target): major version 16 against the source's 15 (the target must run the source's "
        "major version).",
        f"{PG} (PostgreSQL target): its data directory {SOURCE_DIR} is the source's (it must have its own).",
        f"{PG} (PostgreSQL target): 7 tenant rows already there (must be 0 unless an earlier attempt from {SOURCE} "
        "left them; its migration state names no source).",
        f"{PG} (PostgreSQL target): 1199 bytes free for 1000 bytes of data times migrate_space_margin 1.2 (a "
        "streaming copy needs them).",
    ]


def test_rows_left_by_an_earlier_attempt_from_this_source_are_allowed_not_from_another():
    state = {"results": [slurped(json.dumps({"state": "copying", "source": SOURCE}), PG)]}
    assert problems(reads(target_pg_tenants=partitions(A, rows=7), target_states=state))["postgres_target"] == []
    other = {"results": [slurped(json.dumps({"state": "copying", "source": "rag-other"}), PG)]}
    (found,) = only(problems(reads(target_pg_tenants=partitions(A, rows=7), target_states=other)), "postgres_target")
    assert found.endswith("its migration state names source rag-other).")


def test_free_space_counts_only_for_a_streamed_copy():
    read = reads(target_pg_free={"stdout_lines": ["Avail", "10"]}, **REHOMING)
    assert problems(read)["postgres_target"] != []
    assert problems(read, postgres_method="rehome")["postgres_target"] == []


def rehome_reads(stat: dict, parent_dev: int = 7, seen: tuple = (SOURCE, SOURCE), rows: int | None = None) -> dict:
    return reads(rehome_paths={"results": [{"item": SOURCE_DIR, "stat": stat},
                                           {"item": "/mnt/storage/rag-data/postgres/15",
                                            "stat": {"exists": True, "dev": parent_dev}}]},
                 pg_owner={"results": [slurped(seen[0], SOURCE), slurped(seen[1], PG)]},
                 target_pg_tenants=partitions(A, rows=rows) if rows else {"tenants": {}})


def test_a_postgres_directory_that_cannot_change_hosts():
    read = rehome_reads({"exists": True, "isdir": True, "pw_name": "root", "dev": 8}, seen=("", "rag-other"), rows=2)
    found_all = problems(read, postgres_method="rehome")
    assert found_all["postgres_target"][0].startswith(f"{PG} (PostgreSQL target): 2 tenant rows already there")
    (found,) = found_all["postgres_rehome"]
    assert found == (
        f"{PG} (PostgreSQL target): re-homing needs the source's PostgreSQL directory on the shared storage; "
        f"{SOURCE_DIR} is owned by root seen from {PG} (must be its postgres user). "
        f"{SOURCE_DIR} is not on the filesystem of the target's {TARGET_DIR} (it must be: the move is one rename). "
        f"/mnt/storage/rag-data/postgres/15/.main.owner names '' seen from {SOURCE} (must be {SOURCE}). "
        f"/mnt/storage/rag-data/postgres/15/.main.owner names '' seen from {SOURCE} and 'rag-other' seen from {PG} "
        "(must be the same file). "
        "the target's own cluster holds 2 tenant rows (must be 0: it is set aside, then removed). "
        "For storage that is not shared, set migrate_postgres_method=stream.")


def test_an_absent_postgres_directory_is_named():
    (found,) = problems(rehome_reads({"exists": False}), postgres_method="rehome")["postgres_rehome"]
    assert f"{SOURCE_DIR} is absent seen from {PG} (must be a directory on the shared storage)." in found


def test_postgres_rehome_rules_only_when_rehoming():
    read = rehome_reads({"exists": False})
    assert problems(read)["postgres_rehome"] == []
    with pytest.raises(AnsibleFilterError, match="postgres_rehome facts are missing"):
        problems(postgres_method="rehome")


@pytest.mark.parametrize(("installed", "ok"), [("2.3.5", True), ("2.4.0", True), ("2.3.10", True), ("2.3.4", False),
                                               ("", False)])
def test_the_milvus_target_must_not_be_older(installed, ok):
    read = reads(target_milvus_version=slurped(installed + "\n") if installed else missing())
    if ok:
        assert problems(read)["milvus_target"] == []
    else:
        assert only(problems(read), "milvus_target") == [
            f"{MV} (Milvus target): installed version '{installed}' must be 2.3.5 (the source's) or newer; converge "
            "it with site.yml first."]


def test_a_milvus_directory_that_cannot_change_hosts():
    read = reads(milvus_owner={"results": [slurped("rag-other", SOURCE), slurped("", MV)]},
                 target_milvus_unit={"status": {"ActiveState": "active"}})
    assert only(problems(read), "milvus_rehome") == [
        f"{MV} (Milvus target): re-homing needs the source's Milvus data on the shared storage at the same path "
        "(/mnt/storage/rag-data/milvus); "
        f"/mnt/storage/rag-data/.milvus.owner names 'rag-other' seen from {SOURCE} (must be {SOURCE}). "
        f"/mnt/storage/rag-data/.milvus.owner names 'rag-other' seen from {SOURCE} and '' seen from {MV} (must be "
        "the same file). Milvus on the target is active (must not run). "
        "For storage that is not shared, set migrate_milvus_method=copy."]
    copying = dict(read, source_milvus_size={"stdout": "0\t/mnt/storage/rag-data/milvus"})
    assert problems(copying, milvus_method="copy")["milvus_rehome"] == []


def test_a_milvus_copy_needs_milvus_running_and_room():
    read = reads(source_milvus_size={"stdout": "1000\t/mnt/storage/rag-data/milvus"},
                 target_milvus_free={"stdout_lines": ["Avail", "1100"]})
    assert only(problems(read, milvus_method="copy"), "milvus_copy") == [
        f"{MV} (Milvus target): a copy needs Milvus running on the target (it is inactive).",
        f"{MV} (Milvus target): a copy needs 1000 bytes times migrate_space_margin 1.2 free (found 1100).",
    ]
    running = dict(read, target_milvus_unit={"status": {"ActiveState": "active"}},
                   target_milvus_free={"stdout_lines": ["Avail", "1200"]})
    assert problems(running, milvus_method="copy")["milvus_copy"] == []
    with pytest.raises(AnsibleFilterError, match="milvus_copy facts are missing"):
        problems(milvus_method="copy")


def test_api_hosts_without_the_unit_are_named():
    read = reads(api_units={"results": [{"item": "rag-api-2", "stat": {"exists": False}},
                                        {"item": API, "stat": {"exists": True}},
                                        {"item": "rag-api-3", "stat": {"exists": False}}]})
    assert only(problems(read), "api_hosts") == [
        "API hosts without /etc/systemd/system/ragops-api@.service: rag-api-2, rag-api-3; converge them with site.yml "
        "first."]
