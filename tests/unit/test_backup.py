"""Pure logic of the ragops_tools package: ids, promotion, retention, checksums, manifests, metrics."""

from __future__ import annotations

import datetime as dt
import json
import struct
from pathlib import Path

import pytest

from ragops_tools import partition_catalog, pg_helper
from ragops_tools.base import MANIFEST, BackupError
from ragops_tools.checksums import (
    EntityChecksum,
    compare_tenants,
    file_entries,
    pack_vector,
    unpack_vector,
    verify_files,
)
from ragops_tools.ids import new_id, parse_id, promotions, retention_plan
from ragops_tools.manifest import apply_retention, find_backup, good_ids, last_success, link_tree, read_manifest
from ragops_tools.metrics import human_size, metrics_text

ROOT = Path(__file__).resolve().parents[2]

UTC = dt.timezone.utc


def when(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def test_ids_round_trip_and_scheduled_runs_share_the_minute():
    start = dt.datetime(2025, 3, 4, 2, 0, 1, 900000, tzinfo=UTC)
    assert new_id(start) == "20250304T020001Z"
    assert new_id(start, round_to_minute=True) == new_id(start.replace(second=0), round_to_minute=True)
    assert parse_id("20250304T020001Z") == start.replace(microsecond=0)
    for bad in ("latest", "2025-03-04", "20250304T020001", ".20250304T020001Z.partial", ""):
        assert parse_id(bad) is None


def test_new_id_is_utc_whatever_the_zone():
    local = dt.datetime(2025, 3, 4, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert new_id(local) == "20250304T020000Z"


def test_first_backup_of_a_week_and_of_a_month_is_promoted():
    # 2025-03-03 is a Monday; 2025-03-01 a Saturday of the previous ISO week.
    assert promotions("20250303T020000Z", {"weekly": ["20250301T020000Z"], "monthly": ["20250301T020000Z"]}) \
        == ["weekly"]
    assert promotions("20250304T020000Z", {"weekly": ["20250303T020000Z"], "monthly": ["20250301T020000Z"]}) == []
    assert promotions("20250401T020000Z", {"weekly": ["20250331T020000Z"], "monthly": ["20250301T020000Z"]}) \
        == ["monthly"]
    assert promotions("20250101T020000Z", {}) == ["weekly", "monthly"]
    # Its own id does not count (a re-run after a half-finished promotion).
    assert promotions("20250101T020000Z", {"weekly": ["20250101T020000Z"]}) == ["weekly", "monthly"]
    with pytest.raises(BackupError):
        promotions("bad", {})


def daily_ids(days: int, start: str = "2025-03-01 02:00") -> list[str]:
    return [new_id(when(start) + dt.timedelta(days=d)) for d in range(days)]


def test_retention_keeps_the_newest_good_backups_per_class():
    ids = daily_ids(10)
    entries = {"daily": dict.fromkeys(ids, True), "weekly": dict.fromkeys(ids[::7], True),
               "monthly": dict.fromkeys(ids[:1], True)}
    plan = retention_plan(entries, {"daily": 7, "weekly": 1, "monthly": 6}, when("2025-03-10 03:00"), 24)
    assert plan == sorted([("daily", i) for i in ids[:3]] + [("weekly", ids[0])])


def test_retention_never_counts_failed_backups_and_removes_them_after_the_grace_period():
    ids = daily_ids(5)
    entries = {"daily": {**dict.fromkeys(ids, True), ids[1]: False, ids[4]: False}}
    plan = retention_plan(entries, {"daily": 2, "weekly": 4, "monthly": 6}, when("2025-03-05 12:00"), 24)
    # good: ids 0, 2, 3 -> keep 3 and 2, drop 0; failed: id 1 is old, id 4 (today) may still be running
    assert plan == [("daily", ids[0]), ("daily", ids[1])]


def test_retention_ignores_foreign_names_and_keep_zero_removes_everything_good():
    entries = {"daily": {"notes": True, ".20250301T020000Z.partial": False, "20250301T020000Z": True}}
    assert retention_plan(entries, {"daily": 0}, when("2025-03-02 00:00"), 24) == [("daily", "20250301T020000Z")]


def test_entity_checksum_is_order_independent_and_sensitive_to_every_field():
    rows = [({"id": "a", "bot_id": "x"}, pack_vector([0.5, -1.0], 2)),
            ({"id": "b", "bot_id": "x"}, pack_vector([0.25, 2.0], 2))]
    one, two = EntityChecksum(), EntityChecksum()
    for scalars, vector in rows:
        one.add(scalars, vector)
    for scalars, vector in reversed(rows):
        two.add(scalars, vector)
    assert (one.count, one.value) == (two.count, two.value) == (2, one.value)
    changed = EntityChecksum()
    changed.add({"id": "a", "bot_id": "x"}, pack_vector([0.5, -1.0], 2))
    changed.add({"id": "b", "bot_id": "x"}, pack_vector([0.25, 2.0000002], 2))
    assert changed.value != one.value
    assert EntityChecksum().value == "0" * 16


def test_vectors_round_trip_as_float32():
    values = [0.1, -3.5, 1e-8]
    packed = pack_vector(values, 3)
    assert len(packed) == 12
    assert unpack_vector(packed, 3) == list(struct.unpack("<3f", packed))
    with pytest.raises(BackupError, match="dimension is 4"):
        pack_vector(values, 4)


def test_verify_files_finds_missing_altered_and_unexpected_files(tmp_path):
    (tmp_path / "a.dump").write_bytes(b"abc")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.f32").write_bytes(b"1234")
    manifest = {"files": file_entries(tmp_path)}
    assert set(manifest["files"]) == {"a.dump", "sub/b.f32"}
    assert verify_files(tmp_path, manifest) == []
    (tmp_path / "a.dump").write_bytes(b"abd")
    (tmp_path / "sub" / "b.f32").unlink()
    (tmp_path / "extra").write_text("x")
    (tmp_path / MANIFEST).write_text("{}")
    assert verify_files(tmp_path, manifest) == [
        "a.dump: sha256 differs from the manifest", "sub/b.f32: missing", "extra: not in the manifest"]


def test_compare_tenants_reports_every_difference():
    expected = {"t1": {"rows": 10, "checksum": "5"}, "t2": {"rows": 1, "checksum": "9"}}
    actual = {"t1": {"rows": 10, "checksum": "6"}, "t3": {"rows": 0, "checksum": "0"}}
    assert compare_tenants(expected, actual, ("rows", "checksum")) == [
        "t1: checksum is 6, the backup says 5",
        "t2: in the backup, missing after the restore",
        "t3: present after the restore, not in the backup"]
    assert compare_tenants(expected, expected, ("rows", "checksum")) == []


def test_metrics_text_is_valid_exposition():
    text = metrics_text("postgres", "rag1", 1700000000.5, 1700000100.0, 1, 2048, 3.25)
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert 'ragops_backup_last_success_timestamp_seconds{tier="postgres",backup_host="rag1"} 1700000000.500' in samples
    assert 'ragops_backup_last_run_success{tier="postgres",backup_host="rag1"} 1' in samples
    assert len(samples) == 5 and text.endswith("\n")
    never = metrics_text("milvus", "rag1", None, 1.0, 0, 0, 0.0)
    assert 'ragops_backup_last_success_timestamp_seconds{tier="milvus",backup_host="rag1"} 0.000' in never


def make_backup(root: Path, cls: str, backup_id: str, tier: str = "postgres", ok: bool = True) -> Path:
    tier_dir = root / cls / backup_id / tier
    tier_dir.mkdir(parents=True)
    (tier_dir / "data").write_text(backup_id)
    if ok:
        manifest = {"status": "ok", "id": backup_id, "tier": tier, "finished_at": parse_id(backup_id).isoformat(),
                    "files": file_entries(tier_dir), "tenants": {}}
        (tier_dir / MANIFEST).write_text(json.dumps(manifest))
    return tier_dir


def test_apply_retention_on_a_tree(tmp_path):
    ids = daily_ids(9)
    for backup_id in ids:
        make_backup(tmp_path, "daily", backup_id, ok=backup_id != ids[2])
    make_backup(tmp_path, "weekly", ids[0])
    (tmp_path / "daily" / "README").write_text("not a backup")
    removed = apply_retention(tmp_path, {"daily": 5, "weekly": 4, "monthly": 6}, 24, now=when("2025-03-09 12:00"))
    assert removed == ["daily/" + i for i in (ids[0], ids[1], ids[2], ids[3])]
    assert sorted(p.name for p in (tmp_path / "daily").iterdir()) == sorted(ids[4:] + ["README"])
    assert (tmp_path / "weekly" / ids[0]).is_dir()


def test_scan_last_success_and_find_backup(tmp_path):
    make_backup(tmp_path, "daily", "20250301T020000Z")
    make_backup(tmp_path, "daily", "20250302T020000Z", tier="milvus")
    make_backup(tmp_path, "daily", "20250303T020000Z", ok=False)
    assert last_success(tmp_path, "postgres")["id"] == "20250301T020000Z"
    assert good_ids(tmp_path, "milvus")["daily"] == ["20250302T020000Z"]
    tier_dir, manifest = find_backup(tmp_path, "latest", "postgres")
    assert manifest["id"] == "20250301T020000Z" and tier_dir.name == "postgres"
    with pytest.raises(BackupError, match="no finished postgres part"):
        find_backup(tmp_path, "20250303T020000Z", "postgres")


def test_link_tree_hard_links_the_files(tmp_path):
    source = make_backup(tmp_path, "daily", "20250301T020000Z")
    target = tmp_path / "weekly" / "20250301T020000Z" / "postgres"
    target.parent.mkdir(parents=True)
    link_tree(source, target)
    assert (target / "data").stat().st_ino == (source / "data").stat().st_ino
    assert read_manifest(target)["id"] == "20250301T020000Z"


def test_checksum_sql_is_the_partition_info_module_rule():
    module = (ROOT / "plugins" / "modules" / "postgres_partition_info.py").read_text()
    assert "module_utils.partition_catalog import (\n    CHECKSUM_SQL," in module
    assert pg_helper.CHECKSUM_SQL is partition_catalog.CHECKSUM_SQL


def test_human_size():
    assert human_size(512) == "512 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(3 * 1024 ** 3) == "3.0 GiB"
