# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``restore`` command: check every tier first (intact backup, no live data unless forced), then restore
and compare the counts and checksums with the manifest.
"""

from __future__ import annotations

import subprocess
import time

from ragops_tools.base import MANIFEST, BackupError, Refused
from ragops_tools.checksums import compare_tenants, verify_files
from ragops_tools.manifest import find_backup, remove_tree
from ragops_tools.milvus import milvus_live_counts
from ragops_tools.milvus_backup import restore_milvus
from ragops_tools.postgres import helper_call, restore_postgres_basebackup, staging_dir
from ragops_tools.system import link_or_copy


def cmd_restore(config: dict, args) -> dict:
    tiers = args.tier or config["tiers"]
    tenants = None
    if args.tenants:
        tenants = [t.strip().lower() for t in args.tenants.split(",") if t.strip()]
    report = dict(tiers={}, problems=[])
    located = {}
    for tier in tiers:
        tier_dir, manifest = find_backup(config["root"], args.id, tier)
        problems = verify_files(tier_dir, manifest)
        if problems:
            raise BackupError("backup %s (%s) is damaged, nothing was restored: %s"
                              % (manifest["id"], tier, "; ".join(problems[:10])))
        if tenants is not None:
            unknown = [t for t in tenants if t not in manifest.get("tenants", {})]
            if unknown:
                raise BackupError("tenants not in backup %s (%s): %s" % (manifest["id"], tier, ", ".join(unknown)))
        located[tier] = (tier_dir, manifest)
    # Refuse before changing anything: every tier is checked for live data first.
    if not args.force:
        for tier, (_tier_dir, manifest) in located.items():
            if tier == "postgres":
                live = helper_call(config, "live_rows", dict(tenants=tenants)) \
                    if subprocess.run(["systemctl", "is-active", "--quiet", config["postgres"]["service"]],
                                      check=False).returncode == 0 else {}
                busy = sorted(t for t, rows in live.items() if rows)
                if busy:
                    raise Refused("PostgreSQL holds live rows for %d tenant(s) (%s); nothing was restored; set force"
                                  " to overwrite them" % (len(busy), ", ".join(busy[:5])))
            else:
                live = milvus_live_counts(config, manifest, tenants)
                busy = sorted(u for u, n in live.items() if n)
                if busy:
                    raise Refused("Milvus holds live entities in %d partition(s) (%s); nothing was restored; set"
                                  " force to overwrite them" % (len(busy), ", ".join(busy[:5])))
    if args.dry_run:
        report = dict(tiers=dict((t, dict(id=m["id"], path=str(d), dry_run=True, tenants=len(m.get("tenants", {}))))
                                 for t, (d, m) in located.items()), problems=[])
        report["lines"] = restore_lines(report)
        return report
    for tier, (tier_dir, manifest) in located.items():
        started = time.monotonic()
        expected = manifest.get("tenants", {})
        if tenants is not None:
            expected = dict((t, f) for t, f in expected.items() if t in tenants)
        if tier == "postgres":
            if manifest["method"] == "basebackup":
                result = restore_postgres_basebackup(config, tier_dir, manifest, args.force, args.target_time)
            else:
                staging = staging_dir(config, "restore-%s" % manifest["id"])
                try:
                    for name in list(manifest["files"]) + [MANIFEST]:
                        (staging / name).parent.mkdir(parents=True, exist_ok=True)
                        link_or_copy(tier_dir / name, staging / name)
                    result = helper_call(config, "restore", dict(tier_dir=str(staging), force=args.force,
                                                                 tenants=tenants))
                finally:
                    remove_tree(staging)
            fields = ("rows", "checksum")
        else:
            result = restore_milvus(config, tier_dir, manifest, args.force, tenants)
            fields = ("entities", "checksum")
        problems = [] if args.target_time else compare_tenants(expected, result["tenants"], fields)
        entry = dict(id=manifest["id"], path=str(tier_dir), seconds=round(time.monotonic() - started, 3),
                     tenants=len(result["tenants"]), executed=result["executed"], verified=not problems,
                     total=sum(int(f.get(fields[0], 0)) for f in result["tenants"].values()))
        if problems and not manifest.get("exact", True):
            entry["warnings"] = problems
        elif problems:
            report["problems"] += ["%s: %s" % (tier, p) for p in problems]
        report["tiers"][tier] = entry
    if report["problems"]:
        raise BackupError("restore finished but does not match the manifest: %s" % "; ".join(report["problems"][:20]))
    report["lines"] = restore_lines(report)
    return report


def restore_lines(report: dict) -> list:
    lines = []
    for tier, facts in sorted(report["tiers"].items()):
        if facts.get("dry_run"):
            lines.append("%-8s would restore backup %s (%d tenants) from %s"
                         % (tier, facts["id"], facts["tenants"], facts["path"]))
            continue
        what = "rows" if tier == "postgres" else "entities"
        lines.append("%-8s restored backup %s: %d tenants, %d %s in %.1f s; counts and checksums %s"
                     % (tier, facts["id"], facts["tenants"], facts["total"], what, facts["seconds"],
                        "match the manifest" if facts["verified"] else "NOT verified: " + "; ".join(
                            facts.get("warnings", [])[:5])))
    return lines
