# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PostgreSQL actions, run as the postgres OS user (``python -m ragops_tools _pg ACTION``).

The root process (``ragops_tools.postgres``) sends the settings as JSON on stdin; the answer is one JSON line
on stdout: ``{"result": ...}``, ``{"refused": true, "error": ...}`` or ``{"error": ...}``. The partitions and
their tenants come from the catalog queries of ``partition_catalog``, the rows' checksum rule too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ragops_tools.base import MANIFEST, BackupError, Refused
from ragops_tools.partition_catalog import CHECKSUM_SQL, find_parent, parent_partitions
from ragops_tools.system import run

# psycopg 3 is in the tools virtualenv; the pure parts of the package need it not.
try:
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row
except ImportError:  # pragma: no cover - unit tests without psycopg
    psycopg = sql = dict_row = None


def pg_connect(settings: dict, dbname: str):
    return psycopg.connect(host=settings["socket"], port=settings["port"], dbname=dbname,
                           row_factory=dict_row, autocommit=True, application_name="ragops-backup")


def pg_tenant_facts(cursor, settings: dict, tenants: list | None = None) -> dict:
    """{tenant: {partition, rows, checksum}} of the documents table in the current transaction."""
    parent = find_parent(cursor, settings["schema"], settings["table"])
    facts = {}
    for row in parent_partitions(cursor, parent["oid"]) if parent else []:
        if not row["values"]:
            continue
        tenant = row["values"][0]
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
