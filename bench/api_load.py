"""Bounded load test of the product API (`reviewlake serve`) on 127.0.0.1.

Starts the server as its own process on a lake, then N concurrent virtual users (asyncio + httpx, one
keep-alive connection each) loop over a weighted mix of endpoints for D seconds with random ids drawn from the
lake: product cards, similar products, user recommendations, tag search and product questions. Prints per
endpoint: requests, failures, p50/p95/p99 latency and throughput, and the server's resident memory (VmRSS,
VmHWM) after the run. With --swap, a new version of gold.product_summaries is committed (Spark, as a pipeline
run would) in the middle of the run: the report says when it was served and whether any request failed.

    python bench/api_load.py --lake /tmp/demolake --users 50 --seconds 60 [--swap]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np

from queries.sql import open_table

# endpoint -> weight: cards dominate, as on a shop's product pages.
MIX = {"card": 50, "similar": 15, "recommendations": 15, "search": 10, "ask": 10}
ASK_QUESTIONS = ("is the {tag} good?", "what do people say about the {tag}?", "how many reviews does it have?")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def draw_ids(lake: Path, seed: int) -> dict[str, list]:
    rng = random.Random(seed)
    products = open_table(lake, "gold.product_summaries").to_pandas(columns=["product_id"])["product_id"].tolist()
    users = open_table(lake, "gold.user_recommendations").to_pandas(columns=["user_id"])["user_id"].unique().tolist()
    tags = open_table(lake, "gold.tag_vocabulary").to_pandas(columns=["tag"])["tag"].unique().tolist()
    return {"products": rng.sample(products, min(2000, len(products))),
            "users": rng.sample(users, min(2000, len(users))), "tags": tags}


def request_for(kind: str, ids: dict[str, list], rng: random.Random) -> tuple[str, dict]:
    product = rng.choice(ids["products"])
    if kind == "card":
        return f"/products/{product}", {}
    if kind == "similar":
        return f"/products/{product}/similar", {"k": 10}
    if kind == "recommendations":
        return f"/users/{rng.choice(ids['users'])}/recommendations", {"k": 10}
    if kind == "search":
        return "/search", {"q": rng.choice(ids["tags"]), "k": 10}
    return f"/products/{product}/ask", {"q": rng.choice(ASK_QUESTIONS).format(tag=rng.choice(ids["tags"]))}


async def user(url: str, ids: dict, seed: int, until: float, results: dict, failures: dict, versions: list,
               mix: dict[str, int]) -> None:
    rng = random.Random(seed)
    kinds, weights = list(mix), list(mix.values())
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while time.perf_counter() < until:
            kind = rng.choices(kinds, weights)[0]
            path, params = request_for(kind, ids, rng)
            started = time.perf_counter()
            try:
                response = await client.get(path, params=params)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok, response = False, None
            elapsed = time.perf_counter() - started
            if ok:
                results[kind].append(elapsed)
                if kind == "card":
                    versions.append((time.perf_counter(), response.json()["versions"].get("gold.product_summaries")))
            else:
                failures[kind].append(response.status_code if response is not None else "connection")


def commit_new_summaries_version(lake: Path) -> float:
    """Rewrite one product's summary through Spark and Delta, as a pipeline run would; returns when it committed."""
    from reviewlake.config import load_config
    from reviewlake.lake import Lake
    from reviewlake.spark import get_spark

    spark = get_spark(load_config().with_lake(lake), "api-load-swap")
    table = Lake(spark, lake)
    changed = table.read("gold.product_summaries").limit(1).toPandas().assign(summary="Rewritten by the load test.")
    table.merge("gold.product_summaries",
                spark.createDataFrame(changed, schema=table.read("gold.product_summaries").schema))
    return time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--swap", action="store_true", help="commit a new gold.product_summaries version mid-run")
    parser.add_argument("--mix", default=",".join(f"{k}={v}" for k, v in MIX.items()),
                        help="endpoint weights, e.g. card=50,similar=15,recommendations=15 (default: all five)")
    args = parser.parse_args()
    try:
        mix = {kind: int(weight) for kind, weight in (part.split("=") for part in args.mix.split(","))}
    except ValueError:
        parser.error(f"--mix must look like card=50,similar=15, not {args.mix!r}")
    if not set(mix) <= set(MIX):
        parser.error(f"--mix knows {', '.join(MIX)}")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "reviewlake.cli", "serve", "--lake", str(args.lake),
                               "--port", str(port), "--refresh", "1"], start_new_session=True)
    try:
        clock = time.perf_counter()
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                sys.exit(f"the server exited with {server.returncode}")
            time.sleep(0.2)
        started_in = time.perf_counter() - clock
        ids = draw_ids(args.lake, args.seed)
        memory_before = memory_kib(server.pid)
        # One warm-up pass: the encoder, tag search and answerer load on their first request, not in the figures.
        with httpx.Client(base_url=url, timeout=120) as client:
            for kind in mix:
                path, params = request_for(kind, ids, random.Random(args.seed))
                client.get(path, params=params)
        results, failures, versions = defaultdict(list), defaultdict(list), []
        swap: dict = {}
        if args.swap:
            def swap_later() -> None:
                time.sleep(args.seconds / 3)
                swap["committed"] = commit_new_summaries_version(args.lake)

            threading.Thread(target=swap_later, daemon=True).start()
        began = time.perf_counter()
        until = began + args.seconds

        async def run_all() -> None:
            await asyncio.gather(*(user(url, ids, args.seed + i, until, results, failures, versions, mix)
                                   for i in range(args.users)))

        asyncio.run(run_all())
        elapsed = time.perf_counter() - began
        memory_after = memory_kib(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)

    print(f"machine: {os.cpu_count()} cores; server started in {started_in:.1f} s; {args.users} users for "
          f"{args.seconds:.0f} s, load generator in the same machine (asyncio + httpx)")
    print(f"command: python bench/api_load.py {' '.join(sys.argv[1:])}")
    print()
    print("| endpoint | requests | failed | p50 ms | p95 ms | p99 ms | requests/s |")
    print("|---|---|---|---|---|---|---|")
    total = 0
    for kind in mix:
        times = np.array(results[kind]) * 1000
        total += len(times)
        cells = [f"{np.percentile(times, q):.1f}" for q in (50, 95, 99)] if len(times) else ["-"] * 3
        print(f"| {kind} | {len(times):,} | {len(failures[kind])} | " + " | ".join(cells) +
              f" | {len(times) / elapsed:.1f} |")
    print(f"| all | {total:,} | {sum(len(f) for f in failures.values())} | | | | {total / elapsed:.1f} |")
    print()
    print(f"server memory (KiB): before load {memory_before}, after {memory_after}")
    if args.swap:
        served = [t for t, v in versions if v is not None and v != versions[0][1]]
        if "committed" not in swap:
            print("swap: the new version was not committed within the run")
        elif not served:
            print("swap: committed but not served before the run ended")
        else:
            print(f"swap: committed {swap['committed'] - began:.1f} s into the run, first served "
                  f"{served[0] - swap['committed']:.1f} s later; failed requests during the whole run: "
                  f"{sum(len(f) for f in failures.values())}")


if __name__ == "__main__":
    main()
