# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``backup`` command: this host's tiers into ``<root>/daily/<id>/``, promotions, metrics and retention."""

from __future__ import annotations

import datetime as dt
import os
import pwd

from ragops_tools.base import FORMAT, ID_FORMAT, MANIFEST, BackupError
from ragops_tools.checksums import file_entries
from ragops_tools.ids import new_id, parse_id, promotions
from ragops_tools.manifest import apply_retention, good_ids, link_tree, read_manifest, remove_tree, write_json_atomic
from ragops_tools.metrics import human_size, write_metrics
from ragops_tools.milvus_backup import backup_milvus
from ragops_tools.postgres import backup_postgres, wal_cleanup


def cmd_backup(config: dict, args) -> dict:
    root = config["root"]
    backup_id = args.id or new_id(dt.datetime.now(dt.timezone.utc), round_to_minute=args.scheduled)
    if parse_id(backup_id) is None:
        raise BackupError("invalid backup id %r (rule: %s, UTC)" % (backup_id, ID_FORMAT))
    tiers = args.tier or config["tiers"]
    backup_dir = root / "daily" / backup_id
    backup_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(backup_dir, 0o750)  # noqa: S103 - root:root, like the storage layout
    report = dict(id=backup_id, path=str(backup_dir), tiers={}, errors=[])
    for tier in tiers:
        started = dt.datetime.now(dt.timezone.utc)
        tier_dir = backup_dir / tier
        if read_manifest(tier_dir):
            raise BackupError("%s already holds a finished %s backup" % (backup_dir, tier))
        remove_tree(tier_dir)
        try:
            facts = backup_postgres(config, tier_dir) if tier == "postgres" else backup_milvus(config, tier_dir)
            finished = dt.datetime.now(dt.timezone.utc)
            manifest = dict(format=FORMAT, id=backup_id, tier=tier, status="ok", host=config.get("host"),
                            started_at=started.isoformat(), finished_at=finished.isoformat(),
                            duration_seconds=round((finished - started).total_seconds(), 3),
                            files=file_entries(tier_dir), **facts)
            write_json_atomic(tier_dir / MANIFEST, manifest, 0o640 if tier == "postgres" else 0o600)
            if tier == "postgres":
                os.chown(tier_dir / MANIFEST, 0, pwd.getpwnam(config["postgres"]["os_user"]).pw_gid)
            size = sum(f["bytes"] for f in manifest["files"].values())
            existing = good_ids(root, tier)
            promoted = []
            for cls in promotions(backup_id, existing):
                (root / cls / backup_id).mkdir(parents=True, exist_ok=True)
                os.chmod(root / cls / backup_id, 0o750)  # noqa: S103 - as above
                link_tree(tier_dir, root / cls / backup_id / tier)
                promoted.append(cls)
            report["tiers"][tier] = dict(path=str(tier_dir), bytes=size, size=human_size(size),
                                         files=len(manifest["files"]), seconds=manifest["duration_seconds"],
                                         tenants=len(manifest.get("tenants", {})), also_in=promoted)
            write_metrics(config, tier, 1, manifest["duration_seconds"])
        except Exception as exc:
            write_metrics(config, tier, 0, (dt.datetime.now(dt.timezone.utc) - started).total_seconds())
            report["errors"].append("%s: %s" % (tier, exc))
    if not args.no_retention:
        report["removed"] = apply_retention(root, config["keep"], config["failed_keep_hours"])
        if "postgres" in tiers:
            report["wal_cleanup"] = wal_cleanup(config)
    if report["errors"]:
        raise BackupError("backup %s failed: %s" % (backup_id, "; ".join(report["errors"])))
    report["lines"] = backup_lines(report)
    return report


def backup_lines(report: dict) -> list:
    lines = ["backup %s in %s" % (report["id"], report["path"])]
    for tier, facts in sorted(report["tiers"].items()):
        lines.append("  %-8s %10s  %3d files  %3d tenants  %7.1f s  %s%s"
                     % (tier, facts["size"], facts["files"], facts["tenants"], facts["seconds"], facts["path"],
                        ("  (also " + ", ".join(facts["also_in"]) + ")") if facts["also_in"] else ""))
    lines.append("retention removed: %s" % (", ".join(report.get("removed") or []) or "nothing"))
    return lines
