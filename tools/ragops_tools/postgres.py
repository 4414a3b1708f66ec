# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PostgreSQL tier, from the root process: the helper calls, the staging directory, base backups."""

from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ragops_tools.base import BackupError, Refused
from ragops_tools.ids import new_id
from ragops_tools.manifest import remove_tree, scan
from ragops_tools.system import as_user, chown_tree, run


def helper_call(config: dict, action: str, extra: dict) -> dict:
    """Run this package as the postgres OS user for one PostgreSQL action; JSON in and out.

    From ``/``: ``-m`` puts the working directory first on the path, and the postgres account has no business in
    root's.
    """
    settings = dict(config["postgres"], **extra)
    command = as_user(config["postgres"]["os_user"], [sys.executable, "-m", "ragops_tools", "_pg", action])
    proc = subprocess.run(command, cwd="/",
                          input=json.dumps(settings), capture_output=True, text=True, check=False)
    try:
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BackupError("PostgreSQL helper (%s) failed: %s"
                          % (action, (proc.stderr or proc.stdout).strip()[-2000:])) from None
    if answer.get("refused"):
        raise Refused(answer["error"])
    if answer.get("error"):
        raise BackupError(answer["error"])
    return answer["result"]


def staging_dir(config: dict, name: str) -> Path:
    """A directory the postgres account can write, on the storage next to its cluster (the backup tree is root's
    alone): PostgreSQL's files are written there as postgres, then moved into the backup by root."""
    pg = config["postgres"]
    user = pwd.getpwnam(pg["os_user"])
    path = Path(pg["staging_dir"]) / name
    remove_tree(path)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    os.chown(path.parent, user.pw_uid, user.pw_gid)
    path.mkdir(mode=0o700)
    os.chown(path, user.pw_uid, user.pw_gid)
    return path


def backup_postgres(config: dict, tier_dir: Path) -> dict:
    pg = config["postgres"]
    user = pwd.getpwnam(pg["os_user"])
    staging = staging_dir(config, "backup-%s" % tier_dir.parent.name)
    try:
        result = helper_call(config, "backup", dict(out=str(staging)))
        # Readable by the postgres account for a restore, by nobody else.
        chown_tree(staging, 0, user.pw_gid, 0o750, 0o640)
        try:
            os.replace(staging, tier_dir)
        except OSError:
            shutil.copytree(staging, tier_dir)
    finally:
        remove_tree(staging)
    return dict(method=pg["method"], **result)


def restore_postgres_basebackup(config: dict, tier_dir: Path, manifest: dict, force: bool,
                                target_time: str) -> dict:
    pg = config["postgres"]
    executed = []
    live = {}
    if subprocess.run(["systemctl", "is-active", "--quiet", pg["service"]], check=False).returncode == 0:
        live = helper_call(config, "live_rows", dict(tenants=None))
    if any(live.values()) and not force:
        raise Refused("PostgreSQL holds live rows for %d tenant(s); set force to replace the whole cluster"
                      % sum(1 for v in live.values() if v))
    run(["systemctl", "stop", pg["service"]])
    executed.append("systemctl stop %s" % pg["service"])
    data = Path(pg["data_dir"])
    if data.exists():
        aside = data.with_name("%s.pre-restore-%s" % (data.name, new_id(dt.datetime.now(dt.timezone.utc))))
        os.replace(data, aside)
        executed.append("mv %s %s" % (data, aside))
    data.mkdir(mode=0o700)
    run(["tar", "-xzf", str(tier_dir / "base" / "base.tar.gz"), "-C", str(data)])
    if (tier_dir / "base" / "pg_wal.tar.gz").is_file():
        run(["tar", "-xzf", str(tier_dir / "base" / "pg_wal.tar.gz"), "-C", str(data / "pg_wal")])
    user = pwd.getpwnam(pg["os_user"])
    for base, _dirs, files in os.walk(data):
        os.chown(base, user.pw_uid, user.pw_gid)
        for name in files:
            os.chown(os.path.join(base, name), user.pw_uid, user.pw_gid)
    recovery_conf = Path(pg["conf_dir"]) / "conf.d" / "ragops-recovery.conf"
    if target_time:
        if not pg.get("wal_archive"):
            raise BackupError("a recovery target time needs the WAL archive (backup_postgres_wal_archive)")
        recovery_conf.write_text("# Written by ragops-backup for one point-in-time recovery; removed after it.\n"
                                 "restore_command = 'cp %s/%%f %%p'\nrecovery_target_time = '%s'\n"
                                 "recovery_target_action = 'promote'\n" % (pg["wal_dir"], target_time))
        (data / "recovery.signal").touch()
        os.chown(data / "recovery.signal", user.pw_uid, user.pw_gid)
        executed.append("recovery to %s" % target_time)
    run(["systemctl", "start", pg["service"]])
    executed.append("systemctl start %s" % pg["service"])
    deadline = time.monotonic() + 600
    while True:
        probe = subprocess.run(as_user(pg["os_user"], [pg["bindir"] + "/psql", "-h", pg["socket"], "-p",
                                                       str(pg["port"]), "-XAtc", "SELECT pg_is_in_recovery()"]),
                               capture_output=True, text=True, check=False)
        if probe.returncode == 0 and probe.stdout.strip() == "f":
            break
        if time.monotonic() > deadline:
            raise BackupError("PostgreSQL did not finish recovery within 600 s: %s" % probe.stderr.strip())
        time.sleep(2)
    if recovery_conf.exists():
        recovery_conf.unlink()
    return dict(executed=executed, tenants=helper_call(config, "live", {}))


def wal_cleanup(config: dict) -> str | None:
    """Remove archived WAL older than the oldest kept base backup (pg_archivecleanup)."""
    pg = config["postgres"]
    if not pg.get("wal_archive") or not os.path.isdir(pg["wal_dir"]):
        return None
    starts = [m["start_wal"] for b in scan(config["root"]) for t, m in b["tiers"].items()
              if t == "postgres" and m and m.get("start_wal")]
    if not starts:
        return None
    oldest = min(starts)
    run(as_user(pg["os_user"], [pg["bindir"] + "/pg_archivecleanup", pg["wal_dir"], oldest]))
    return oldest
