"""Reuse probing: 100 acf- candidates of which 30 never answer, against the seed's design in the same run.

Seed design: 10 worker threads, 3 s timeout per candidate, all candidates probed before choosing.
Ours: all candidates at once (bounded), first suitable wins, one timeout bounds the whole decision.
Run: python bench/bench_reuse_probe.py     (prints figures; asserts nothing)
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchenv import offline, sandbox_runtime

offline()

from ack_compute.sandbox import SandboxCloud  # noqa: E402
from ack_compute.tools.ensure_cluster import ClusterService  # noqa: E402
from ack_compute.tools.ownership import NAME_PREFIX  # noqa: E402


def seed_style(service: ClusterService, candidates: list) -> tuple[float, str | None]:  # type: ignore[type-arg]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda c: service.probe(c, need_ready_nodes=True), candidates))
    chosen = next((r.cluster.cluster_id for r in results if r.ok), None)
    return time.perf_counter() - started, chosen


def ours(service: ClusterService, candidates: list) -> tuple[float, str | None]:  # type: ignore[type-arg]
    started = time.perf_counter()
    winner, _ = service.first_reusable(candidates)
    return time.perf_counter() - started, winner.cluster.cluster_id if winner else None


def scenario(label: str, good: int, dead: int, useless: int) -> None:
    with SandboxCloud(time_scale=600) as cloud, tempfile.TemporaryDirectory() as state:
        # Dead ones first: the worst order for a pool that works through the list in order.
        for i in range(dead):
            cloud.plant_cluster(f"acf-dead-{i:03d}", unresponsive=True, nodes=1)
        for i in range(useless):
            cloud.plant_cluster(f"acf-nonodes-{i:03d}", nodes_ready=False, nodes=1)
        for i in range(good):
            cloud.plant_cluster(f"acf-good-{i:03d}", nodes=1)
        runtime = sandbox_runtime(cloud, Path(state), probe_timeout_seconds=3.0, probe_concurrency=32)
        service = runtime.clusters
        candidates = [c for c in runtime.cs.list_clusters() if c.name.startswith(NAME_PREFIX)]
        t_seed, seed_choice = seed_style(service, candidates)
        t_ours, our_choice = ours(service, candidates)
        print(
            f"{label:52s} seed-style {t_seed:6.2f} s ({'found' if seed_choice else 'none'})   "
            f"ours {t_ours:6.2f} s ({'found' if our_choice else 'none'})"
        )


def main() -> None:
    print(f"machine: {os.cpu_count()} cores; 3 s probe timeout; target: decide in < 3.5 s")
    scenario("100 candidates: 30 never answer, 70 suitable", good=70, dead=30, useless=0)
    scenario("100 candidates: 30 never answer, 69 no Ready nodes, 1 suitable", good=1, dead=30, useless=69)
    scenario("100 candidates: 30 never answer, none suitable", good=0, dead=30, useless=70)


if __name__ == "__main__":
    main()
