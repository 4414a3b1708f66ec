# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup tree on the storage: manifests, the backups it holds, hard-linked copies and retention.

    <root>/{daily,weekly,monthly}/<id>/<tier>/   the tier's files + manifest.json, written last
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from pathlib import Path

from ragops_tools.base import CLASSES, MANIFEST, TIERS, BackupError
from ragops_tools.ids import parse_id, retention_plan


def read_manifest(tier_dir: Path) -> dict | None:
    try:
        with open(tier_dir / MANIFEST, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, ValueError):
        return None
    return manifest if manifest.get("status") == "ok" else None


def write_json_atomic(path: Path, data: dict, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=".%s." % path.name)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def scan(root: Path) -> list[dict]:
    """Every backup directory: [{class, id, path, tiers: {tier: manifest or None}}], oldest first."""
    found = []
    for cls in CLASSES:
        base = root / cls
        if not base.is_dir():
            continue
        for entry in sorted(base.iterdir()):
            if not entry.is_dir() or parse_id(entry.name) is None:
                continue
            tiers = {}
            for tier in TIERS:
                if (entry / tier).is_dir():
                    tiers[tier] = read_manifest(entry / tier)
            found.append({"class": cls, "id": entry.name, "path": entry, "tiers": tiers})
    return sorted(found, key=lambda b: (b["id"], CLASSES.index(b["class"])))


def good_ids(root: Path, tier: str | None = None) -> dict:
    """{class: [ids]} of backups with a finished tier (``tier`` or any)."""
    result = {cls: [] for cls in CLASSES}
    for backup in scan(root):
        tiers = [t for t, m in backup["tiers"].items() if m and (tier is None or t == tier)]
        if tiers:
            result[backup["class"]].append(backup["id"])
    return result


def last_success(root: Path, tier: str) -> dict | None:
    """The manifest of the newest finished backup of a tier."""
    best = None
    for backup in scan(root):
        manifest = backup["tiers"].get(tier)
        if manifest and (best is None or manifest["finished_at"] > best["finished_at"]):
            best = dict(manifest, path=str(backup["path"] / tier), **{"class": backup["class"]})
    return best


def find_backup(root: Path, backup_id: str, tier: str) -> tuple[Path, dict]:
    """The tier directory and manifest of a backup id, or of the newest finished one with ``latest``."""
    if backup_id in ("", "latest"):
        best = last_success(root, tier)
        if best is None:
            raise BackupError("no finished %s backup under %s" % (tier, root))
        return Path(best["path"]), read_manifest(Path(best["path"]))
    for cls in CLASSES:
        tier_dir = root / cls / backup_id / tier
        manifest = read_manifest(tier_dir)
        if manifest:
            return tier_dir, manifest
    raise BackupError("backup %s has no finished %s part under %s/{%s}" % (backup_id, tier, root, ",".join(CLASSES)))


def remove_tree(path: Path) -> None:
    """rm -rf that tolerates another host removing the same tree at the same time (shared storage)."""
    def ignore_missing(func, target, exc_info):
        if not isinstance(exc_info[1], FileNotFoundError):
            raise exc_info[1]
    shutil.rmtree(path, onerror=ignore_missing)


def link_tree(source: Path, target: Path) -> None:
    """Hard-link copy of a finished tier directory (same filesystem), manifest last."""
    tmp = target.with_name(".%s.partial" % target.name)
    remove_tree(tmp)
    shutil.copytree(source, tmp, copy_function=os.link, ignore=shutil.ignore_patterns(MANIFEST))
    os.link(source / MANIFEST, tmp / MANIFEST)
    if target.exists():
        remove_tree(target)
    os.replace(tmp, target)


def apply_retention(root: Path, keep: dict, failed_keep_hours: float, now: dt.datetime | None = None,
                    dry_run: bool = False) -> list[str]:
    entries = {cls: {} for cls in CLASSES}
    for backup in scan(root):
        entries[backup["class"]][backup["id"]] = any(backup["tiers"].values())
    removed = []
    for cls, backup_id in retention_plan(entries, keep, now or dt.datetime.now(dt.timezone.utc), failed_keep_hours):
        if not dry_run:
            remove_tree(root / cls / backup_id)
        removed.append("%s/%s" % (cls, backup_id))
    return removed
