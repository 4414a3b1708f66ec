"""Search through Nginx next to Milvus' own search, the same query on every path, measured by load generators.

Runs ON the phase-1 host (tests/bench/bench_search.sh copies it there with ragops_testkit and runs it with the
API's virtualenv, which has pymilvus). The rate limiters must be off (the shell script converges so, and back).

The bot is emptied first. For each size: fill it up to that many vectors through the API, flush, wait until the
index covers every row and the collection is loaded, and until Milvus is idle (its work after a load costs CPU for
minutes), then send the same query (same vector, top_k 5, this bot only) by:
  (a) the API through Nginx: HTTPS with keep-alive, API key, PostgreSQL join (all API instances)
  (b) one API instance directly (plain HTTP)
  (c) Milvus' RESTful search (POST /v1/vector/search on the gRPC port; 2.3's REST has no partition argument,
      so the bot filter alone restricts it)
  (d) pymilvus MilvusClient.search with the API's own arguments (the bot's partition, which isolates it with
      partition tenancy, so no filter; ef), from 8 threads
Peak: wrk (2 threads, 8 connections, 10 s) for (a)-(c), a closed loop of 8 threads for (d). Fixed rate: hey at
300 req/s for 30 s (10 workers x 30 req/s) for (a)-(c), a paced loop for (d). CPU per request: CPU seconds of each
systemd unit group's processes during the fixed-rate run divided by the requests sent.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from pymilvus import MilvusClient

from ragops_testkit.lab import LAB_API_KEY, call, milvus_partition_name, vector

TENANT_FIELD = "bot_id"
UNITS = {"nginx": ["nginx"], "api": None, "milvus": ["milvus"], "postgres": ["postgresql@15-main"]}


def api_units() -> list[str]:
    listed = subprocess.run(["systemctl", "list-units", "--plain", "--no-legend", "ragops-api@*"],
                            capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in listed.splitlines() if line.strip()]


def unit_pids(unit: str) -> list[int]:
    """The processes of a unit, from its cgroup (the unified hierarchy, or systemd's own under cgroup v1)."""
    group = subprocess.run(["systemctl", "show", "-p", "ControlGroup", "--value", unit],
                           capture_output=True, text=True, check=True).stdout.strip()
    for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/systemd"):
        procs = Path(base + group) / "cgroup.procs"
        if group and procs.exists():
            return [int(pid) for pid in procs.read_text().split()]
    return []


def cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system, with reaped children) of each unit group's processes now."""
    tick = os.sysconf("SC_CLK_TCK")
    groups = dict(UNITS, api=api_units())
    totals = {}
    for group, units in groups.items():
        ticks = 0
        for pid in (pid for unit in units for pid in unit_pids(unit)):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        totals[group] = ticks / tick
    return totals


def upstream_closes(ports: str = "8001-8099") -> int:
    """Connections to the API instances' ports now in TIME-WAIT: each is one that Nginx (or a client) opened and
    closed in the last minute. With upstream keep-alive working, a run through Nginx adds hardly any."""
    low, high = ports.split("-")
    listed = subprocess.run(["ss", "-Htn", "state", "time-wait", f"( dport >= :{low} and dport <= :{high} )"],
                            capture_output=True, text=True, check=True).stdout
    return len(listed.splitlines())


def check_answers(url: str, body: str, headers: dict[str, str], top_k: int) -> None:
    """One request per path before measuring: it must answer top_k hits (Milvus' REST says errors in a 200)."""
    found = call("POST", url, json.loads(body), key=headers.get("X-API-Key"), check=True).json()
    hits = found.get("results", found.get("data"))
    if not isinstance(hits, list) or len(hits) != top_k:
        raise SystemExit(f"{url} answered {str(found)[:500]}, not {top_k} hits")


def empty_bot(client: MilvusClient, collection: str, partition: str, bot: str, env_file: str) -> int:
    """Start from an empty bot, whatever an earlier run left: its Milvus partition dropped and made again, its
    PostgreSQL rows deleted (with the API's own DSN). The rows there were."""
    if client.has_partition(collection, partition):
        client.release_partitions(collection, [partition])
        client.drop_partition(collection, partition)
    client.create_partition(collection, partition)
    client.load_collection(collection)
    settings = dict(line.split("=", 1) for line in Path(env_file).read_text().splitlines() if "=" in line
                    and not line.startswith("#"))
    with psycopg.connect(settings["RAGOPS_PG_DSN"], autocommit=True) as conn:
        return conn.execute("DELETE FROM documents WHERE bot_id = %s", (bot,)).rowcount


def load(args, rng: random.Random, have: int, want: int) -> None:
    batch = max(1, min(500, 4_000_000 // (args.dim * 8)))
    for start in range(have, want, batch):
        documents = [{"id": f"bench-{i}", "text": f"benchmark document {i}", "metadata": {"i": i},
                      "embedding": vector(rng, args.dim)}
                     for i in range(start, min(start + batch, want))]
        call("PUT", f"{args.api}/v1/bots/{args.bot}/documents", {"documents": documents}, key=args.key, check=True,
             timeout=300)


def wait_indexed(client: MilvusClient, collection: str, rows: int, timeout: float = 1800) -> float:
    """Flush, then wait until the vector index covers every row and the collection is loaded; seconds waited."""
    started = time.monotonic()
    client.flush(collection)
    while True:
        index = client.describe_index(collection, client.list_indexes(collection)[0])
        state = str(client.get_load_state(collection).get("state"))
        if int(index.get("indexed_rows", 0)) >= rows and int(index.get("pending_index_rows", 0)) == 0 \
                and state.endswith("Loaded"):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise SystemExit(f"index not built after {timeout} s: {index}")
        time.sleep(2)


def wait_quiet(group: str = "milvus", window: float = 5.0, busy: float = 0.1, timeout: float = 900) -> float:
    """Wait until a unit group uses under ``busy`` of a core over ``window`` seconds (Milvus compacts and hands
    segments over for a while after a load); seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = cpu_seconds()[group]
        time.sleep(window)
        if cpu_seconds()[group] - before < busy * window:
            return time.monotonic() - started
    raise SystemExit(f"{group} still busy after {timeout} s")


def wrk(url: str, body: str, headers: dict[str, str], seconds: int) -> dict:
    script = "wrk.method = 'POST'\nwrk.body = [[%s]]\n%s" % (body, "".join(
        f"wrk.headers['{k}'] = '{v}'\n" for k, v in headers.items()))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    out = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", handle.name, url],
                         capture_output=True, text=True, check=True).stdout
    Path(handle.name).unlink()

    def millis(label: str) -> float:
        value, unit = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(g) for g in socket.groups()) if socket else 0)
    return dict(rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), p50=millis("50%"),
                p99=millis("99%"), requests=total, errors=errors)


def hey(url: str, body: str, headers: dict[str, str], seconds: int, rate: int) -> dict:
    workers = 10
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        handle.write(body)
    command = ["hey", "-z", f"{seconds}s", "-c", str(workers), "-q", str(rate // workers), "-m", "POST",
               "-T", "application/json", "-D", handle.name]
    for key, value in headers.items():
        if key != "Content-Type":
            command += ["-H", f"{key}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    Path(handle.name).unlink()
    codes = dict((int(c), int(n)) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out))
    failed = sum(int(n) for n in re.findall(r"\[(\d+)\]\s+.*", out.split("Error distribution:")[1])) \
        if "Error distribution:" in out else 0
    answered = sum(codes.values())
    return dict(rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
                p50=float(re.search(r"50%+ in ([\d.]+) secs", out).group(1)) * 1000,
                p99=float(re.search(r"99%+ in ([\d.]+) secs", out).group(1)) * 1000,
                requests=answered + failed, errors=failed + answered - codes.get(200, 0))


def pymilvus_load(search, seconds: int, rate: int | None) -> dict:
    """Closed loop of 8 threads (rate None), else a paced loop at ``rate`` req/s; latencies of 200s only."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    threads = 8 if rate is None else 10
    interval = None if rate is None else threads / rate

    def loop() -> None:
        next_at = time.perf_counter()
        while time.perf_counter() < deadline:
            if interval:
                next_at += interval
                time.sleep(max(0.0, next_at - time.perf_counter()))
            started = time.perf_counter()
            try:
                search()
            except Exception:  # counted, like a non-200 answer
                with lock:
                    errors[0] += 1
                continue
            with lock:
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    pool = [threading.Thread(target=loop) for _t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    ordered = sorted(latencies)
    return dict(rps=len(ordered) / (time.perf_counter() - started), p50=ordered[len(ordered) // 2] * 1000,
                p99=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
                requests=len(ordered) + errors[0], errors=errors[0])


def measured(run) -> tuple[dict, dict]:
    before = cpu_seconds()
    result = run()
    after = cpu_seconds()
    served = max(1, result["requests"])
    return result, {group: (after[group] - before[group]) * 1000 / served for group in before}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--key", default=LAB_API_KEY)
    parser.add_argument("--api", default="https://127.0.0.1")
    parser.add_argument("--instance", default="http://127.0.0.1:8001")
    parser.add_argument("--milvus", default="http://127.0.0.1:19530")
    parser.add_argument("--bot", default="7c9e6679-7425-40de-944b-e07fc1f90ae7")
    parser.add_argument("--collection", default="chatty")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--peak-seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=300)
    parser.add_argument("--rate-seconds", type=int, default=30)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--ef", type=int, default=64)
    parser.add_argument("--api-env", default="/etc/ragops/api.env")
    args = parser.parse_args()
    client = MilvusClient(uri=args.milvus, timeout=120)
    partition = milvus_partition_name(args.bot)
    query = vector(random.Random(7), args.dim)
    bot_filter = f'{TENANT_FIELD} == "{args.bot}"'
    api_body = json.dumps({"embedding": query, "top_k": args.top_k})
    rest_body = json.dumps({"collectionName": args.collection, "vector": query, "limit": args.top_k,
                            "filter": bot_filter, "outputFields": ["id"]})
    api_headers = {"Content-Type": "application/json", "X-API-Key": args.key}
    search_url = f"/v1/bots/{args.bot}/search"
    paths = [
        ("(a) API through Nginx", f"{args.api}{search_url}", api_body, api_headers),
        ("(b) one API instance", f"{args.instance}{search_url}", api_body, api_headers),
        ("(c) Milvus RESTful search", f"{args.milvus}/v1/vector/search", rest_body,
         {"Content-Type": "application/json"}),
    ]

    def direct() -> None:
        client.search(args.collection, data=[query], limit=args.top_k, partition_names=[partition],
                      anns_field="embedding",
                      search_params={"params": {"ef": max(args.ef, args.top_k)}}, output_fields=["id"])

    removed = empty_bot(client, args.collection, partition, args.bot, args.api_env)
    print(f"the bot starts empty ({removed:,} rows of an earlier run removed)")
    have = 0
    for size in (int(s) for s in args.sizes.split(",")):
        rng = random.Random(size)
        started = time.monotonic()
        load(args, rng, have, size)
        have = size
        loaded = time.monotonic() - started
        waited = wait_indexed(client, args.collection, size)
        quiet = wait_quiet()
        for _label, url, body, headers in paths:  # check and warm every path
            check_answers(url, body, headers, args.top_k)
            wrk(url, body, headers, 2)
        print(f"\n{size:,} vectors, dimension {args.dim}, one bot; top_k {args.top_k}; loaded through the API in "
              f"{loaded:.0f} s, index complete {waited:.0f} s later, Milvus idle {quiet:.0f} s after; rate limiters"
              " off for this benchmark")
        print(f"{'path':<28} {'peak req/s':>10} {'p50 ms':>7} {'p99 ms':>7} | {'@' + str(args.rate) + '/s p99':>11}"
              f" {'errors':>6} | CPU ms per request: nginx api milvus postgres")
        for label, url, body, headers in paths + [("(d) pymilvus direct", None, None, None)]:
            if url:
                closed_before = upstream_closes()
                peak, _cpu = measured(lambda u=url, b=body, h=headers: wrk(u, b, h, args.peak_seconds))
                closes = upstream_closes() - closed_before
                fixed, cpu = measured(lambda u=url, b=body, h=headers: hey(u, b, h, args.rate_seconds, args.rate))
            else:
                peak, _cpu = measured(lambda: pymilvus_load(direct, args.peak_seconds, None))
                fixed, cpu = measured(lambda: pymilvus_load(direct, args.rate_seconds, args.rate))
            print(f"{label:<28} {peak['rps']:>10.0f} {peak['p50']:>7.1f} {peak['p99']:>7.1f} | {fixed['p99']:>11.1f}"
                  f" {fixed['errors'] + peak['errors']:>6} | " + " ".join(f"{cpu[g]:.2f}" for g in UNITS))
            if url and url.startswith(args.api):
                print(f"{'':<28} Nginx upstream keep-alive: {closes} connections to the instances closed during the"
                      f" {peak['requests']:,} requests of the peak run")
    client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
