"""Search latency and throughput through Nginx, next to a direct pymilvus search, from an API host.

Runs ON the API host (Nginx on https://127.0.0.1; Milvus at --milvus), with the
API's virtualenv, which has pymilvus, and ragops_testkit/lab.py copied next to it
(on PYTHONPATH); tests/bench/bench_search.sh does both in the phase-1 and the
phase-2 scenarios:

    docker exec -i -e PYTHONPATH=/opt/ragops/bench ragops-molecule /opt/ragops/api/bin/python - \
        < tests/bench/bench_search.py

For each size it fills one bot's partitions through the API up to that many
vectors, then sends the same number of searches, from the same number of
threads, (a) through Nginx to the API (HTTPS, API key, PostgreSQL join) and
(b) straight to Milvus with pymilvus, and prints p50/p99 and req/s side by side.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time

from pymilvus import MilvusClient

from ragops_testkit.lab import LAB_API_KEY, call, milvus_partition_name, vector


def load(args, rng: random.Random, have: int, want: int) -> None:
    batch = 500
    for start in range(have, want, batch):
        documents = [{"id": f"bench-{i}", "text": f"benchmark document {i}", "metadata": {"i": i},
                      "embedding": vector(rng, args.dim)}
                     for i in range(start, min(start + batch, want))]
        call("PUT", f"{args.api}/v1/bots/{args.bot}/documents", {"documents": documents}, key=args.key, check=True)


def run_load(worker, requests: int, threads: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(requests))

    def loop() -> None:
        rng = random.Random()
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            started = time.perf_counter()
            worker(rng)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)

    started = time.perf_counter()
    pool = [threading.Thread(target=loop) for _t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return latencies, time.perf_counter() - started


def summary(latencies: list[float], wall: float) -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return f"{p50:8.1f} {p99:8.1f} {len(ordered) / wall:8.0f}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--key", default=LAB_API_KEY)
    parser.add_argument("--api", default="https://127.0.0.1")
    parser.add_argument("--milvus", default="http://127.0.0.1:19530")
    parser.add_argument("--bot", default="7c9e6679-7425-40de-944b-e07fc1f90ae7")
    parser.add_argument("--collection", default="chatty")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    client = MilvusClient(uri=args.milvus, timeout=60)
    partition = milvus_partition_name(args.bot)
    rng = random.Random(1)
    have = 0
    print(f"{'vectors':>8} {'path':<28} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for size in (int(s) for s in args.sizes.split(",")):
        started = time.perf_counter()
        load(args, rng, have, size)
        have = size
        loaded = time.perf_counter() - started
        client.flush(args.collection)

        def through_nginx(query_rng: random.Random) -> None:
            body = {"embedding": vector(query_rng, args.dim), "top_k": 5}
            call("POST", f"{args.api}/v1/bots/{args.bot}/search", body, key=args.key, check=True)

        def direct(query_rng: random.Random) -> None:
            client.search(args.collection, data=[vector(query_rng, args.dim)], limit=5, partition_names=[partition],
                          search_params={"params": {"ef": 64}}, output_fields=["id"])

        run_load(through_nginx, 50, 2)  # warm-up
        api_lat, api_wall = run_load(through_nginx, args.requests, args.threads)
        direct_lat, direct_wall = run_load(direct, args.requests, args.threads)
        print(f"{size:>8} {'API through Nginx (HTTPS)':<28} {summary(api_lat, api_wall)}")
        print(f"{size:>8} {'pymilvus direct':<28} {summary(direct_lat, direct_wall)}")
        ratio = statistics.median(api_lat) / statistics.median(direct_lat)
        print(f"{size:>8} API/direct p50 = {ratio:.1f}x   (loaded {size} vectors in {loaded:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
