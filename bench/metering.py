"""Benchmarks of the pure metering and billing code at fleet scale (no cluster needed).

    .venv/bin/python bench/metering.py [--hubs 500] [--nodes 100] [--pods-per-node 40]

Prints one line per figure: time to split a shared cluster's nodes among hubs, to count a large
hub's active users, and to bill a fleet; and the peak memory of billing it.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import random
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from communityhub.api import annotations as ann
from communityhub.money import billing, cost, usage


def timed(fn: Callable[[], Any], runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hubs", type=int, default=500)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--pods-per-node", type=int, default=40)
    parser.add_argument("--users", type=int, default=10000)
    args = parser.parse_args()
    rng = random.Random(1)
    prices = cost.catalog()
    nodes = [cost.Node(f"n{i}", "gcp", "us-central1", "n2-highmem-4", 3.92, 29000 * 2**20) for i in range(args.nodes)]
    pods = [cost.Pod(f"n{i}", f"hubs/h{rng.randrange(args.hubs)}", 0.05, 64 * 2**20)
            for i in range(args.nodes) for _ in range(args.pods_per_node)]
    seconds = timed(lambda: cost.rates(nodes, pods, prices))
    print(f"cost.rates: {args.nodes} nodes, {len(pods)} pods, {args.hubs} hubs: {seconds * 1000:.1f} ms")
    # The same cluster with every pod a user's server (the split by user rides the same pass over the nodes).
    user_pods = [dataclasses.replace(p, user=f"user{k}@university.edu") for k, p in enumerate(pods)]
    seconds = timed(lambda: cost.part_rates(nodes, user_pods, prices, users={}))
    print(f"cost.part_rates by user: {len(user_pods)} users' servers: {seconds * 1000:.1f} ms")
    by_user: dict[str, dict[str, float]] = {}
    parts, _ = cost.part_rates(nodes, user_pods, prices, users=by_user)
    groups = {o: {u: ["group-a", "group-b"] for u in us} for o, us in by_user.items()}
    start = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    ledger = cost.accrue(None, cost.totals(parts), start, parts, by_user, groups)
    ledger = cost.accrue(ledger, cost.totals(parts), start + dt.timedelta(hours=1), parts, by_user)
    size = len(json.dumps(ledger, sort_keys=True))
    owner = next(iter(by_user))
    seconds = timed(lambda: billing.user_costs(ledger, owner, "2026-11", by="group"))
    print(f"ledger with {len(user_pods)} users: {size / 1000:.0f} kB ({size / len(user_pods):.0f} bytes a user); "
          f"billing.user_costs by group of one hub: {seconds * 1000:.2f} ms")

    now = dt.datetime.now(dt.UTC)
    users = [{"kind": "user", "name": f"u{i}", "servers": {"": {"started": None, "last_activity": (
        now - dt.timedelta(days=rng.randrange(60))).isoformat()}}} for i in range(args.users)]
    seconds = timed(lambda: usage.active_users(users, now))
    print(f"usage.active_users: {args.users} users: {seconds * 1000:.1f} ms")

    hubs = [{"metadata": {"name": f"h{i}", "namespace": "hubs", "annotations": {
        ann.DELIVERED_AT: "2026-10-03T10:00:00Z", ann.BILLING_MONTHLY_FEE: "1500.00", ann.BILLING_SETUP_FEE: "0.00",
        ann.BILLING_PASSTHROUGH: "true", ann.BILLING_PLAN: "research-shared", ann.COST_MONTH: "2026-11",
        ann.COST_MONTH_TO_DATE: "12.34", ann.COST_PREVIOUS_MONTH: "40.00"}},
        "spec": {"community": {"displayName": f"C{i}"}, "billing": {}}} for i in range(args.hubs)]
    seconds = timed(lambda: billing.invoices(hubs, "2026-10"))
    tracemalloc.start()
    billing.invoices(hubs, "2026-10")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"billing.invoices: {args.hubs} hubs: {seconds * 1000:.1f} ms, peak {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
