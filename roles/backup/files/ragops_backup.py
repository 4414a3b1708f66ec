# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ragops-backup: backups, retention, restores and the backup metrics of ragops.stack.

Installed by the ragops.stack.backup role and run with the tools virtualenv
(psycopg 3 and pymilvus). One program for every host: each host backs up the
tiers it holds (``tiers`` in the configuration), into the same backup
directory on the shared storage:

    <root>/{daily,weekly,monthly}/<id>/postgres/   pg_dump -Fc per database (or pg_basebackup) + manifest.json
    <root>/{daily,weekly,monthly}/<id>/milvus/     every partition's entities + manifest.json

A tier's ``manifest.json`` is written last: a tier directory without it is
an unfinished or failed backup. Weekly and monthly copies are hard links of
the daily files (no extra space).

The pure functions at the top (ids, retention, checksums, manifests, metrics)
are unit-tested from tests/unit/test_backup*.py; the rest talks to the servers.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import gzip
import hashlib
import json
import logging
import os
import pwd
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The servers' client libraries (the tools virtualenv has both); the pure functions need neither.
try:
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row
except ImportError:  # pragma: no cover - unit tests without psycopg
    psycopg = sql = dict_row = None
try:
    from pymilvus import DataType, MilvusClient
except ImportError:  # pragma: no cover
    DataType = MilvusClient = None

FORMAT = 1
CLASSES = ("daily", "weekly", "monthly")
TIERS = ("postgres", "milvus")
ID_FORMAT = "%Y%m%dT%H%M%SZ"
MANIFEST = "manifest.json"
METRIC_PREFIX = "ragops_backup"
# Same rule as ragops.stack.postgres_partition_info (checksum: true), so that a
# manifest and the module's report can be compared: the sum of the first 64
# bits of each row's md5, independent of the physical order of the rows.
CHECKSUM_SQL = ("SELECT count(*) AS rows,"
                " COALESCE(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint::numeric), 0)::text AS checksum"
                " FROM {} AS t")
EXIT_REFUSED = 3
EXIT_MISMATCH = 4


class BackupError(Exception):
    """A failure with a message meant for the operator."""


class Refused(BackupError):
    """Restoring would overwrite live data and force was not given."""


# -- ids, classes and retention (pure) -----------------------------------------


def new_id(now: dt.datetime, round_to_minute: bool = False) -> str:
    """The id of a backup started at ``now`` (UTC). Scheduled runs round to the minute, so that the hosts of
    one topology, started by the same timer, write their tiers into the same backup directory."""
    now = now.astimezone(dt.timezone.utc)
    if round_to_minute:
        now = now.replace(second=0, microsecond=0)
    return now.strftime(ID_FORMAT)


def parse_id(name: str) -> dt.datetime | None:
    """The start time encoded in a backup id, None for a name that is not one."""
    try:
        return dt.datetime.strptime(name, ID_FORMAT).replace(tzinfo=dt.timezone.utc)
    except (TypeError, ValueError):
        return None


def promotions(backup_id: str, existing: dict) -> list[str]:
    """Classes besides daily a new backup also goes to: weekly when no backup of the same ISO week is there yet,
    monthly when none of the same month is. ``existing`` maps a class to the ids it holds (good ones)."""
    when = parse_id(backup_id)
    if when is None:
        raise BackupError("invalid backup id %r (rule: %s)" % (backup_id, ID_FORMAT))
    result = []
    weekly = [parse_id(i) for i in existing.get("weekly", ()) if i != backup_id]
    if not any(w and w.isocalendar()[:2] == when.isocalendar()[:2] for w in weekly):
        result.append("weekly")
    monthly = [parse_id(i) for i in existing.get("monthly", ()) if i != backup_id]
    if not any(m and (m.year, m.month) == (when.year, when.month) for m in monthly):
        result.append("monthly")
    return result


def retention_plan(entries: dict, keep: dict, now: dt.datetime, failed_keep_hours: float) -> list[tuple[str, str]]:
    """What to delete: [(class, id)].

    ``entries`` maps a class to {id: good}, where good means at least one tier of the backup finished. Per class
    the newest ``keep[class]`` good backups stay and older good ones go; a backup without any finished tier goes
    once it is older than ``failed_keep_hours`` (younger, it may still be running). Names that are not backup
    ids are never touched.
    """
    doomed = []
    for cls in CLASSES:
        found = entries.get(cls, {})
        good = sorted((i for i, ok in found.items() if ok and parse_id(i)), reverse=True)
        doomed += [(cls, i) for i in good[max(int(keep.get(cls, 0)), 0):]]
        limit = now - dt.timedelta(hours=failed_keep_hours)
        doomed += [(cls, i) for i, ok in sorted(found.items())
                   if not ok and parse_id(i) and parse_id(i) < limit]
    return sorted(doomed)


# -- checksums, manifests and metrics (pure) -----------------------------------


class EntityChecksum:
    """Count and order-independent checksum of Milvus entities: the sum, modulo 2**64, of the first 64 bits of
    each entity's sha256 over its scalar fields (canonical JSON) and its vector (float32, little endian)."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0

    def add(self, scalars: dict, vector: bytes) -> None:
        encoded = json.dumps(scalars, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        digest = hashlib.sha256(encoded + b"\0" + vector).digest()
        self.total = (self.total + int.from_bytes(digest[:8], "big")) % (1 << 64)
        self.count += 1

    @property
    def value(self) -> str:
        return "%016x" % self.total


def pack_vector(values, dim: int) -> bytes:
    if len(values) != dim:
        raise BackupError("a vector has %d values, the collection's dimension is %d" % (len(values), dim))
    return struct.pack("<%df" % dim, *values)


def unpack_vector(data: bytes, dim: int) -> list:
    return list(struct.unpack("<%df" % dim, data))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entries(tier_dir: Path) -> dict:
    """{relative path: {sha256, bytes}} of every file of a tier directory except the manifest."""
    files = {}
    for path in sorted(p for p in tier_dir.rglob("*") if p.is_file() and p.name != MANIFEST):
        files[path.relative_to(tier_dir).as_posix()] = dict(sha256=sha256_file(path), bytes=path.stat().st_size)
    return files


def verify_files(tier_dir: Path, manifest: dict) -> list[str]:
    """Problems of the files of a tier against its manifest (missing, resized, altered, unexpected)."""
    problems = []
    listed = manifest.get("files", {})
    for name, facts in sorted(listed.items()):
        path = tier_dir / name
        if not path.is_file():
            problems.append("%s: missing" % name)
        elif path.stat().st_size != facts["bytes"]:
            problems.append("%s: %d bytes, manifest says %d" % (name, path.stat().st_size, facts["bytes"]))
        elif sha256_file(path) != facts["sha256"]:
            problems.append("%s: sha256 differs from the manifest" % name)
    for path in sorted(p for p in tier_dir.rglob("*") if p.is_file() and p.name != MANIFEST):
        if path.relative_to(tier_dir).as_posix() not in listed:
            problems.append("%s: not in the manifest" % path.relative_to(tier_dir).as_posix())
    return problems


def compare_tenants(expected: dict, actual: dict, fields: tuple) -> list[str]:
    """Per tenant, every field of ``fields`` must match; a tenant missing on either side is a problem."""
    problems = []
    for tenant in sorted(set(expected) | set(actual)):
        if tenant not in actual:
            problems.append("%s: in the backup, missing after the restore" % tenant)
            continue
        if tenant not in expected:
            problems.append("%s: present after the restore, not in the backup" % tenant)
            continue
        for field in fields:
            if str(expected[tenant].get(field)) != str(actual[tenant].get(field)):
                problems.append("%s: %s is %s, the backup says %s"
                                % (tenant, field, actual[tenant].get(field), expected[tenant].get(field)))
    return problems


def metrics_text(tier: str, host: str, last_success: float | None, last_run: float, status: int,
                 size: int, duration: float) -> str:
    """Node exporter textfile of one tier."""
    labels = '{tier="%s",backup_host="%s"}' % (tier, host)
    lines = [
        "# HELP %s_last_success_timestamp_seconds End time of the newest complete backup of the tier." % METRIC_PREFIX,
        "# TYPE %s_last_success_timestamp_seconds gauge" % METRIC_PREFIX,
        "%s_last_success_timestamp_seconds%s %.3f" % (METRIC_PREFIX, labels, last_success or 0),
        "# HELP %s_last_run_timestamp_seconds End time of the last backup attempt of the tier." % METRIC_PREFIX,
        "# TYPE %s_last_run_timestamp_seconds gauge" % METRIC_PREFIX,
        "%s_last_run_timestamp_seconds%s %.3f" % (METRIC_PREFIX, labels, last_run),
        "# HELP %s_last_run_success Whether the last backup attempt of the tier succeeded (1) or failed (0)."
        % METRIC_PREFIX,
        "# TYPE %s_last_run_success gauge" % METRIC_PREFIX,
        "%s_last_run_success%s %d" % (METRIC_PREFIX, labels, status),
        "# HELP %s_last_size_bytes Size of the newest complete backup of the tier." % METRIC_PREFIX,
        "# TYPE %s_last_size_bytes gauge" % METRIC_PREFIX,
        "%s_last_size_bytes%s %d" % (METRIC_PREFIX, labels, size),
        "# HELP %s_last_duration_seconds Duration of the last backup attempt of the tier." % METRIC_PREFIX,
        "# TYPE %s_last_duration_seconds gauge" % METRIC_PREFIX,
        "%s_last_duration_seconds%s %.3f" % (METRIC_PREFIX, labels, duration),
    ]
    return "\n".join(lines) + "\n"


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return ("%d %s" % (size, unit)) if unit == "B" else ("%.1f %s" % (size, unit))
        size /= 1024.0
    return str(size)


# -- the backup tree -------------------------------------------------------------


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


# -- helpers around processes ------------------------------------------------------


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise BackupError("%s failed (exit %d): %s" % (" ".join(command[:3]), proc.returncode,
                                                       (proc.stderr or proc.stdout).strip()[-2000:]))
    return proc


def as_user(user: str, command: list) -> list:
    if pwd.getpwuid(os.geteuid()).pw_name == user:
        return command
    return ["runuser", "-u", user, "--"] + command


@contextlib.contextmanager
def host_lock(path: str):
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BackupError("another ragops-backup run holds %s; try again when it ends" % path) from None
        yield


def chown_tree(path: Path, uid: int, gid: int, dir_mode: int, file_mode: int) -> None:
    for base, _dirs, files in os.walk(path):
        os.chown(base, uid, gid)
        os.chmod(base, dir_mode)
        for name in files:
            os.chown(os.path.join(base, name), uid, gid)
            os.chmod(os.path.join(base, name), file_mode)


# -- PostgreSQL (the helpers run as the postgres OS user) --------------------------


def pg_connect(settings: dict, dbname: str):
    return psycopg.connect(host=settings["socket"], port=settings["port"], dbname=dbname,
                           row_factory=dict_row, autocommit=True, application_name="ragops-backup")


def pg_tenant_facts(cursor, settings: dict, tenants: list | None = None) -> dict:
    """{tenant: {partition, rows, checksum}} of the documents table in the current transaction."""
    cursor.execute(
        "SELECT c.relname::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent"
        " JOIN pg_namespace n ON n.oid = p.relnamespace WHERE n.nspname = %s AND p.relname = %s ORDER BY 1",
        (settings["schema"], settings["table"]))
    facts = {}
    for row in cursor.fetchall():
        bound = row["bound"] or ""
        if "'" not in bound:
            continue
        tenant = bound.split("'")[1]
        if tenants is not None and tenant not in tenants:
            continue
        query = sql.SQL(CHECKSUM_SQL).format(sql.SQL("{}.{}").format(sql.Identifier(settings["schema"]),
                                                                     sql.Identifier(row["name"])))
        cursor.execute(query)
        result = cursor.fetchone()
        facts[tenant] = dict(partition=row["name"], rows=int(result["rows"]), checksum=result["checksum"])
    return facts


def pg_table_exists(cursor, settings: dict) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL AS present",
                   ("%s.%s" % (settings["schema"], settings["table"]),))
    return bool(cursor.fetchone()["present"])


def pg_helper_backup(settings: dict, out: Path) -> dict:
    """Dump (or base-back-up) the cluster into ``out``; per tenant counts and checksums. Runs as postgres."""
    bindir = settings["bindir"]
    conn = pg_connect(settings, "postgres")
    result = dict(server_version="%d.%d" % divmod(conn.info.server_version, 10000), databases=[], tenants={})
    if settings["method"] == "basebackup":
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_walfile_name(pg_current_wal_lsn()) AS wal")
            result["start_wal"] = cursor.fetchone()["wal"]
        run([bindir + "/pg_basebackup", "-h", settings["socket"], "-p", str(settings["port"]), "-D",
             str(out / "base"), "-Ft", "-z", "-X", "stream", "-c", "fast", "--no-password"])
        result["databases"] = list(settings["databases"])
        result["exact"] = False
        db = settings["app_db"]
        if db:
            with pg_connect(settings, db) as app, app.cursor() as cursor:
                if pg_table_exists(cursor, settings):
                    result["tenants"] = pg_tenant_facts(cursor, settings)
        conn.close()
        return result
    conn.close()
    if settings["globals"]:
        run([bindir + "/pg_dumpall", "-h", settings["socket"], "-p", str(settings["port"]), "--globals-only",
             "--no-password", "-f", str(out / "globals.sql")])
    for db in settings["databases"]:
        # One exported snapshot per database: pg_dump and the checksums see exactly the same rows,
        # while the API keeps writing.
        app = pg_connect(settings, db)
        app.autocommit = False
        with app.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot() AS snapshot")
            snapshot = cursor.fetchone()["snapshot"]
            run([bindir + "/pg_dump", "-h", settings["socket"], "-p", str(settings["port"]), "-Fc",
                 "--no-password", "--snapshot", snapshot, "-d", db, "-f", str(out / ("%s.dump" % db))])
            if db == settings["app_db"] and pg_table_exists(cursor, settings):
                result["tenants"] = pg_tenant_facts(cursor, settings)
        app.rollback()
        app.close()
        result["databases"].append(db)
    result["exact"] = True
    return result


def pg_live_rows(settings: dict, db: str, tenants: list | None) -> dict:
    """{tenant: rows} of the live database (empty when the database or table does not exist)."""
    conn = pg_connect(settings, "postgres")
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
        exists = cursor.fetchone() is not None
    conn.close()
    if not exists:
        return {}
    with pg_connect(settings, db) as app, app.cursor() as cursor:
        if not pg_table_exists(cursor, settings):
            return {}
        facts = pg_tenant_facts(cursor, settings, tenants)
    return dict((t, f["rows"]) for t, f in facts.items())


def pg_helper_restore(settings: dict, tier_dir: Path, manifest: dict, force: bool, tenants: list | None) -> dict:
    """Restore the dump of the application database (all of it, or some tenants' partitions). Runs as postgres."""
    db = settings["app_db"]
    dump = tier_dir / ("%s.dump" % db)
    live = pg_live_rows(settings, db, tenants)
    busy = sorted(t for t, rows in live.items() if rows)
    if busy and not force:
        raise Refused("PostgreSQL database %s holds live rows for %d tenant(s) (%s); set force to overwrite them"
                      % (db, len(busy), ", ".join(busy[:5]) + (", ..." if len(busy) > 5 else "")))
    bindir, common = settings["bindir"], ["-h", settings["socket"], "-p", str(settings["port"]), "--no-password"]
    executed = []
    if tenants is None:
        if settings.get("restore_globals") and (tier_dir / "globals.sql").is_file():
            # Existing roles make CREATE ROLE fail: psql goes on, the rest is applied.
            subprocess.run([bindir + "/psql", *common, "-X", "-q", "-d", "postgres", "-f",
                            str(tier_dir / "globals.sql")],
                           capture_output=True, text=True, check=False)
            executed.append("psql -f globals.sql")
        conn = pg_connect(settings, "postgres")
        with conn.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
        conn.close()
        executed.append("DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
        run([bindir + "/pg_restore", *common, "-C", "-d", "postgres", "--exit-on-error", str(dump)])
        executed.append("pg_restore -C %s" % dump.name)
    else:
        wanted = manifest.get("tenants", {})
        with pg_connect(settings, db) as app, app.cursor() as cursor:
            cursor.execute("SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = to_regclass(%s)",
                           ("%s.%s" % (settings["schema"], settings["table"]),))
            row = cursor.fetchone()
            if row is None:
                raise BackupError("table %s.%s does not exist in %s: restore the whole database instead"
                                  % (settings["schema"], settings["table"], db))
            for tenant in tenants:
                name = wanted[tenant]["partition"]
                ident = sql.SQL("{}.{}").format(sql.Identifier(settings["schema"]), sql.Identifier(name))
                cursor.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES IN ({})").format(
                    ident, sql.SQL("{}.{}").format(sql.Identifier(settings["schema"]),
                                                   sql.Identifier(settings["table"])),
                    sql.Literal(tenant)))
                cursor.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(ident, sql.Identifier(row["owner"])))
                cursor.execute(sql.SQL("TRUNCATE {}").format(ident))
                executed.append("TRUNCATE %s" % name)
                run([bindir + "/pg_restore", *common, "--data-only", "-n", settings["schema"], "-t", name, "-d", db,
                     "--exit-on-error", str(dump)])
                executed.append("pg_restore --data-only -t %s" % name)
    with pg_connect(settings, db) as app, app.cursor() as cursor:
        cursor.execute(sql.SQL("ANALYZE {}.{}").format(sql.Identifier(settings["schema"]),
                                                       sql.Identifier(settings["table"])))
        actual = pg_tenant_facts(cursor, settings, tenants)
    return dict(tenants=actual, executed=executed)


def pg_helper_live(settings: dict) -> dict:
    with pg_connect(settings, settings["app_db"]) as app, app.cursor() as cursor:
        if not pg_table_exists(cursor, settings):
            return {}
        return pg_tenant_facts(cursor, settings)


def helper_call(config: dict, action: str, extra: dict) -> dict:
    """Run this program as the postgres OS user for one PostgreSQL action; JSON in and out."""
    settings = dict(config["postgres"], **extra)
    command = as_user(config["postgres"]["os_user"], [sys.executable, os.path.abspath(__file__), "_pg", action])
    proc = subprocess.run(command,
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


def pg_helper_main(action: str) -> int:
    settings = json.loads(sys.stdin.read())
    try:
        if action == "backup":
            result = pg_helper_backup(settings, Path(settings["out"]))
        elif action == "restore":
            tier_dir = Path(settings["tier_dir"])
            result = pg_helper_restore(settings, tier_dir, json.loads((tier_dir / MANIFEST).read_text()),
                                       settings["force"], settings["tenants"])
        elif action == "live":
            result = pg_helper_live(settings)
        elif action == "live_rows":
            result = pg_live_rows(settings, settings["app_db"], settings["tenants"])
        else:
            raise BackupError("unknown helper action %s" % action)
    except Refused as exc:
        print(json.dumps(dict(refused=True, error=str(exc))))
        return 0
    except Exception as exc:  # reported to the root process, which fails with it
        print(json.dumps(dict(error="%s: %s" % (exc.__class__.__name__, exc))))
        return 0
    print(json.dumps(dict(result=result)))
    return 0


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


def link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


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


# -- Milvus -----------------------------------------------------------------------


def milvus_client(config: dict):
    mv = config["milvus"]
    kwargs = dict(uri=mv["uri"], db_name=mv.get("db_name") or "default", timeout=mv.get("timeout", 120))
    if mv.get("token"):
        kwargs["token"] = mv["token"]
    return MilvusClient(**kwargs)


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


def tenant_of_partition(name: str) -> str | None:
    rest = name[4:] if name.startswith("bot_") else ""
    if len(rest) != 32 or any(c not in "0123456789abcdef" for c in rest):
        return None
    return "%s-%s-%s-%s-%s" % (rest[:8], rest[8:12], rest[12:16], rest[16:20], rest[20:])


def milvus_units(client, coll: dict, only_tenants: list | None = None) -> list[dict]:
    """What is exported and restored one at a time: each partition (partition tenancy), else the collection."""
    if coll["tenancy"] == "partition_key":
        return [dict(unit="_collection", partitions=None, tenant=None)]
    units = []
    for name in client.list_partitions(coll["name"]):
        tenant = tenant_of_partition(name)
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
    state = str(client.get_load_state(name).get("state"))
    if not state.endswith("Loaded"):
        client.load_collection(name, timeout=timeout)


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


# -- commands -------------------------------------------------------------------------


def load_config(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    config["root"] = Path(config["root"])
    return config


def write_metrics(config: dict, tier: str, status: int, duration: float) -> None:
    directory = config.get("textfile_dir")
    if not directory or not os.path.isdir(directory):
        return
    best = last_success(config["root"], tier)
    size = sum(f["bytes"] for f in best["files"].values()) if best else 0
    last = dt.datetime.fromisoformat(best["finished_at"]).timestamp() if best else None
    target = Path(directory) / ("ragops_backup_%s.prom" % tier)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".ragops_backup_")
    with os.fdopen(fd, "w") as handle:
        handle.write(metrics_text(tier, config.get("host", socket.gethostname()), last, time.time(), status,
                                  size, duration))
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


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


if __name__ == "__main__":
    sys.exit(main())
