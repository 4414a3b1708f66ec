"""Backup and restore timings on the lab host: TENANTS bots x DOCS documents with vectors.

    .venv/bin/python tests/bench/bench_backup.py [--tenants 10] [--docs 10000] [--dim 128] [--keep]

Runs inside the lab container (RAGOPS_LAB_HOST, default ragops-lab) with the tools virtualenv: creates the bots'
partitions and loads their rows (COPY) and vectors (insert) directly, then

1. measures search latency through Nginx for a few seconds (baseline);
2. runs one backup (python -m ragops_tools backup) while two threads keep searching, and reports its time, its size and
   how many searches succeeded during it, with their latency;
3. drops the bots' PostgreSQL and Milvus partitions (real loss), restores them from the backup
   (python -m ragops_tools restore --tenants ...) and reports the time and the verification.

The bench bots, their partitions and the bench backup are removed at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HOST = os.environ.get("RAGOPS_LAB_HOST", "ragops-lab")
TOOLS = "/opt/ragops/tools/bin/python"

PAYLOAD = r'''
import datetime as dt, io, json, random, ssl, statistics, subprocess, sys, threading, time, urllib.request, uuid
import psycopg
from pymilvus import MilvusClient

P = json.loads(sys.argv[1])
CONFIG = "/etc/ragops/backup.json"
PROGRAM = [sys.executable, "-m", "ragops_tools"]  # ragops_tools_command
bots = [str(uuid.uuid5(uuid.NAMESPACE_URL, "ragops-bench-backup-%d" % n)) for n in range(P["tenants"])]
hexes = [b.replace("-", "") for b in bots]
rng = random.Random(7)
milvus = MilvusClient(uri="http://127.0.0.1:19530")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def pg(sql, params=None):
    # The tools venv runs as root: connect as the application role over TCP with the API's password.
    with psycopg.connect(P["dsn"], autocommit=True) as conn:
        return conn.execute(sql, params).fetchall() if sql.lstrip().upper().startswith("SELECT") \
            else conn.execute(sql, params)


def cleanup():
    for b, h in zip(bots, hexes):
        pg("DROP TABLE IF EXISTS documents_%s" % h)
        if milvus.has_partition("chatty", "bot_" + h):
            milvus.release_partitions("chatty", ["bot_" + h])
            milvus.drop_partition("chatty", "bot_" + h)


def load():
    t0 = time.monotonic()
    for n, (b, h) in enumerate(zip(bots, hexes)):
        pg("CREATE TABLE IF NOT EXISTS documents_%s PARTITION OF documents FOR VALUES IN ('%s')" % (h, b))
        milvus.create_partition("chatty", "bot_" + h)
        with psycopg.connect(P["dsn"]) as conn, conn.cursor() as cur:
            with cur.copy("COPY documents (bot_id, id, text, metadata) FROM STDIN") as copy:
                for i in range(P["docs"]):
                    copy.write_row((b, "doc-%d" % i, "bench document %d of bot %d " % (i, n) + "lorem ipsum " * 20,
                                    json.dumps({"i": i, "bot": n})))
        for start in range(0, P["docs"], 2000):
            batch = [{"id": "doc-%d" % i, "bot_id": b, "embedding": [rng.uniform(-1, 1) for _ in range(P["dim"])]}
                     for i in range(start, min(start + 2000, P["docs"]))]
            milvus.insert("chatty", batch, partition_name="bot_" + h)
        log("loaded bot %d/%d" % (n + 1, len(bots)))
    milvus.flush("chatty")
    return time.monotonic() - t0


CTX = ssl._create_unverified_context()


def search_once(bot):
    body = json.dumps({"embedding": [rng.uniform(-1, 1) for _ in range(P["dim"])], "top_k": 10}).encode()
    req = urllib.request.Request("https://127.0.0.1/v1/bots/%s/search" % bot, data=body, method="POST",
                                 headers={"X-API-Key": P["key"], "Content-Type": "application/json"})
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=10, context=CTX) as r:
            ok = r.status == 200 and len(json.loads(r.read())["results"]) == 10
    except Exception:
        ok = False
    return ok, (time.monotonic() - t0) * 1000


class Searcher:
    def __init__(self, threads=2):
        self.stop = threading.Event()
        self.results = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self):
        r = random.Random()
        while not self.stop.is_set():
            ok, ms = search_once(r.choice(bots))
            with self.lock:
                self.results.append((ok, ms))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()

    def summary(self, seconds):
        lat = sorted(ms for ok, ms in self.results if ok)
        failed = sum(1 for ok, _ in self.results if not ok)
        q = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else None
        return dict(searches=len(self.results), ok=len(lat), failed=failed, per_second=round(len(lat) / seconds, 1),
                    p50_ms=q(0.5), p95_ms=q(0.95), p99_ms=q(0.99), max_ms=round(lat[-1], 1) if lat else None)


def program(*args):
    t0 = time.monotonic()
    proc = subprocess.run([*PROGRAM, "--config", CONFIG, *args], capture_output=True, text=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out, time.monotonic() - t0


report = dict(tenants=P["tenants"], docs_per_tenant=P["docs"], dim=P["dim"])
cleanup()
report["load_seconds"] = round(load(), 1)
for b in bots:  # the API checks a bot once, then caches it
    search_once(b)

with Searcher() as s:
    time.sleep(P["baseline"])
report["search_baseline"] = s.summary(P["baseline"])

backup_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
with Searcher() as s:
    out, seconds = program("backup", "--id", backup_id, "--no-retention")
report["search_during_backup"] = s.summary(seconds)
assert not out["failed"], out
report["backup_seconds"] = round(seconds, 1)
report["backup_tiers"] = dict((t, dict(bytes=f["bytes"], size=f["size"], seconds=f["seconds"]))
                              for t, f in out["tiers"].items())
report["backup_bytes"] = sum(f["bytes"] for f in out["tiers"].values())

cleanup()  # real loss of the bench bots in both tiers
out, seconds = program("restore", "--id", backup_id, "--tenants", ",".join(bots))
assert not out["failed"], out
report["restore_seconds"] = round(seconds, 1)
report["restore_tiers"] = dict((t, dict(seconds=f["seconds"], verified=f["verified"], total=f["total"]))
                               for t, f in out["tiers"].items())
report["backup_id"] = backup_id
if not P["keep"]:
    cleanup()
    subprocess.run(["rm", "-rf"] + ["%s/%s/%s" % (P["root"], c, backup_id) for c in ("daily", "weekly", "monthly")])
print(json.dumps(report))
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--docs", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=128, help="the lab inventory's ragops_dim")
    parser.add_argument("--baseline", type=float, default=10.0, help="seconds of searches before the backup")
    parser.add_argument("--keep", action="store_true", help="leave the bench bots and backup in place")
    parser.add_argument("--api-key", default=os.environ.get("RAGOPS_API_KEY", "lab-api-key-0001"))
    parser.add_argument("--dsn", default=os.environ.get(
        "RAGOPS_BENCH_DSN", "host=127.0.0.1 dbname=ragops user=ragops password=lab-postgres-only"))
    parser.add_argument("--root", default="/mnt/storage/rag-data/backups")
    args = parser.parse_args()
    params = dict(tenants=args.tenants, docs=args.docs, dim=args.dim, baseline=args.baseline, keep=args.keep,
                  key=args.api_key, dsn=args.dsn, root=args.root)
    proc = subprocess.run(["docker", "exec", "-i", HOST, TOOLS, "-", json.dumps(params)], input=PAYLOAD,
                          capture_output=False, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        return proc.returncode
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
