# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ragops-backup: backups, retention, restores and the backup metrics of ragops.stack.

The command line of ragops_tools (``python -m ragops_tools --config FILE COMMAND``): backup, restore, verify,
retention, list, live and copy-milvus, and milvus-flush / milvus-ready for the Milvus unit (no configuration file),
each answering one JSON line on stdout; exit 0, 1 on an error, 3 for a
refused restore (live data, no --force), 4 for a restore that does not match its manifest. ``_pg ACTION`` is the
PostgreSQL helper that the package runs as the postgres OS user.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path

from ragops_tools.backup import cmd_backup
from ragops_tools.base import EXIT_MISMATCH, EXIT_REFUSED, TIERS, BackupError, Refused
from ragops_tools.checksums import verify_files
from ragops_tools.manifest import apply_retention, find_backup, last_success, scan
from ragops_tools.milvus import milvus_live
from ragops_tools.milvus_copy import copy_milvus
from ragops_tools.milvus_service import MilvusException, flush, wait_ready
from ragops_tools.pg_helper import pg_helper_main
from ragops_tools.postgres import helper_call
from ragops_tools.restore import cmd_restore
from ragops_tools.system import host_lock


def load_config(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    config["root"] = Path(config["root"])
    return config


def cmd_list(config: dict, _args) -> dict:
    backups = []
    for backup in scan(config["root"]):
        tiers = {}
        for tier, manifest in backup["tiers"].items():
            tiers[tier] = dict(status="ok", finished_at=manifest["finished_at"], method=manifest.get("method"),
                               bytes=sum(f["bytes"] for f in manifest["files"].values()),
                               tenants=len(manifest.get("tenants", {}))) if manifest else dict(status="incomplete")
        backups.append({"class": backup["class"], "id": backup["id"], "path": str(backup["path"]), "tiers": tiers})
    now = dt.datetime.now(dt.timezone.utc)
    last = {}
    for tier in config["tiers"]:
        best = last_success(config["root"], tier)
        if best:
            age = (now - dt.datetime.fromisoformat(best["finished_at"])).total_seconds()
            last[tier] = dict(id=best["id"], finished_at=best["finished_at"], age_seconds=round(age),
                              bytes=sum(f["bytes"] for f in best["files"].values()))
        else:
            last[tier] = None
    return dict(backups=backups, last_success=last)


def cmd_retention(config: dict, args) -> dict:
    return dict(removed=apply_retention(config["root"], config["keep"], config["failed_keep_hours"],
                                        dry_run=args.dry_run))


def cmd_verify(config: dict, args) -> dict:
    result = {}
    for tier in args.tier or config["tiers"]:
        tier_dir, manifest = find_backup(config["root"], args.id, tier)
        problems = verify_files(tier_dir, manifest)
        result[tier] = dict(id=manifest["id"], path=str(tier_dir), problems=problems)
        if problems:
            raise BackupError("backup %s (%s) is damaged: %s" % (manifest["id"], tier, "; ".join(problems[:10])))
    return result


def cmd_copy_milvus(config: dict, args) -> dict:
    return copy_milvus(config, args.source_uri, args.tenants, args.source_db)


def cmd_live(config: dict, args) -> dict:
    result = {}
    for tier in args.tier or config["tiers"]:
        result[tier] = helper_call(config, "live", {}) if tier == "postgres" else milvus_live(config)
    return result


def service_command(args) -> int:
    """milvus-flush and milvus-ready: no configuration file, the unit passes what they need."""
    try:
        if args.command == "milvus-flush":
            result = flush(args.uri, args.timeout)
        else:
            result = wait_ready(args.uri, args.health_url, args.timeout)
    except (TimeoutError, MilvusException) as exc:
        print(json.dumps(dict(failed=True, msg=str(exc))))
        return 1
    print(json.dumps(dict(failed=False, **result)))
    return 0


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["_pg"]:
        return pg_helper_main(argv[1])
    parser = argparse.ArgumentParser(prog="ragops-backup", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="/etc/ragops/backup.json")
    sub = parser.add_subparsers(dest="command", required=True)
    backup = sub.add_parser("backup", help="back up this host's tiers now")
    backup.add_argument("--id", default="")
    backup.add_argument("--scheduled", action="store_true", help="round the id to the minute (timer runs)")
    backup.add_argument("--no-retention", action="store_true")
    restore = sub.add_parser("restore", help="restore a backup into this host's tiers")
    restore.add_argument("--id", default="latest")
    restore.add_argument("--force", action="store_true", help="overwrite live rows and entities")
    restore.add_argument("--tenants", default="", help="comma-separated bot UUIDs (default: all)")
    restore.add_argument("--target-time", default="", help="PITR target (basebackup + WAL archive)")
    restore.add_argument("--dry-run", action="store_true", help="check the backup and the live data only")
    verify = sub.add_parser("verify", help="check a backup's files against its manifest")
    verify.add_argument("--id", default="latest")
    retention = sub.add_parser("retention", help="apply the retention rule")
    retention.add_argument("--dry-run", action="store_true")
    sub.add_parser("list", help="backups and the last good one per tier")
    sub.add_parser("live", help="per-tenant counts and checksums of the live data")
    milvus_flush = sub.add_parser("milvus-flush", help="flush every loaded collection (before a planned stop)")
    milvus_ready = sub.add_parser("milvus-ready", help="wait until it serves (after a start)")
    milvus_ready.add_argument("--health-url", required=True)
    for command, seconds in ((milvus_flush, 30), (milvus_ready, 600)):
        command.add_argument("--uri", required=True)
        command.add_argument("--timeout", type=float, default=seconds)
    copy = sub.add_parser("copy-milvus", help="stream the collection from another Milvus into this host's")
    copy.add_argument("--source-uri", required=True)
    copy.add_argument("--source-db", default="default")
    copy.add_argument("--tenants", type=lambda text: [t for t in text.split(",") if t] or None, default=None,
                      help="comma-separated bot UUIDs (default: all)")
    for command in (backup, restore, verify, sub.choices["live"]):
        command.add_argument("--tier", action="append", choices=TIERS)
    args = parser.parse_args(argv)
    # pymilvus warns on every iterator against a 2.3 server (no server-side MVCC timestamp); stderr stays for errors.
    logging.getLogger("pymilvus").setLevel(logging.ERROR)
    if args.command.startswith("milvus-"):
        return service_command(args)
    config = load_config(args.config)
    commands = dict(backup=cmd_backup, restore=cmd_restore, verify=cmd_verify, retention=cmd_retention,
                    list=cmd_list, live=cmd_live, **{"copy-milvus": cmd_copy_milvus})
    try:
        if args.command in ("backup", "restore", "retention", "copy-milvus"):
            with host_lock(config.get("lock_file", "/run/ragops-backup.lock")):
                result = commands[args.command](config, args)
        else:
            result = commands[args.command](config, args)
    except Refused as exc:
        print(json.dumps(dict(failed=True, refused=True, msg=str(exc))))
        return EXIT_REFUSED
    except BackupError as exc:
        print(json.dumps(dict(failed=True, msg=str(exc))))
        return EXIT_MISMATCH if "does not match" in str(exc) else 1
    print(json.dumps(dict(failed=False, **result), default=str))
    return 0
