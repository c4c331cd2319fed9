"""Reaper latency after a lease ends: from its end (plus grace) to the end operation starting, and to the cluster
gone in the sandbox, for clusters nobody cleans up. Baseline in the same run: a person's explicit cleanup of the same
kind of cluster, from the call to the operation starting and to the cluster gone.

Run: python bench/bench_lease_reaper.py [--time-scale 100] [--leases 3] [--check-seconds 1] [--hours 0.003]
At scale 100 a cluster takes ~5 s to create and ~2 s to delete; the leases (real seconds) end on running clusters.
The reaper is the one `serve` runs (Runtime.reaper(), its background thread), with grace 0.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from benchenv import load_average, offline, sandbox_runtime

offline()

from ack_compute.sandbox import SandboxCloud  # noqa: E402
from ack_compute.server.runtime import Runtime  # noqa: E402
from ack_compute.tools.cleanup import CleanupRequest  # noqa: E402
from ack_compute.tools.estimate_cost import estimate_cost  # noqa: E402
from ack_compute.tools.leases import Leases  # noqa: E402
from ack_compute.tools.plans import ClusterPlan  # noqa: E402


class GoneWatch:
    """When each cluster first shows `deleted` in the sandbox, sampled every 50 ms in real time."""

    def __init__(self, cloud: SandboxCloud) -> None:
        self.cloud = cloud
        self.gone: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            for c in self.cloud.clusters():
                if c.state == "deleted" and c.cluster_id not in self.gone:
                    self.gone[c.cluster_id] = time.time()

    def wait_for(self, ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not set(ids) <= self.gone.keys() and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


def create(runtime: Runtime, name: str, plan: ClusterPlan) -> str:
    est = estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
    out = runtime.clusters.ensure(name, plan=plan, quote_token=est.quote_token)
    status = runtime.operations.wait(out.operation_id or "", 0)
    while not status.done:
        status = runtime.operations.wait(status.operation_id, 5)
    assert status.state == "succeeded", status.error
    return str((status.result or {})["cluster_id"])


def created_at(runtime: Runtime, operation_id: str | None) -> float:
    rows = runtime.ledger.query("SELECT created_at FROM operations WHERE operation_id = :op", {"op": operation_id})
    return float(rows[0]["created_at"]) if rows else float("nan")


def summary(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"median {statistics.median(values):.2f} s, max {max(values):.2f} s (n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--time-scale", type=float, default=100.0)
    parser.add_argument("--leases", type=int, default=3)
    parser.add_argument("--check-seconds", type=float, default=1.0)
    parser.add_argument("--hours", type=float, default=0.003)
    args = parser.parse_args()
    plan = ClusterPlan(instance_types=["ecs.g7.xlarge"], node_count=1, zone="cn-hangzhou-h", hours=args.hours)
    with SandboxCloud(time_scale=args.time_scale) as cloud, tempfile.TemporaryDirectory() as state:
        runtime = sandbox_runtime(cloud, Path(state), lease_grace_seconds=0, lease_check_seconds=args.check_seconds)
        watch = GoneWatch(cloud)

        # Baseline: a person cleans up a cluster of the same kind explicitly.
        base_start, base_gone = [], []
        for n in range(args.leases):
            cluster_id = create(runtime, f"acf-bench-person-{n}", plan.model_copy(update={"hours": 5}))
            asked = time.time()
            report = runtime.cleaner.start(CleanupRequest(target="cluster", cluster=cluster_id, dry_run=False))
            base_start.append(created_at(runtime, report.operation_id) - asked)
            watch.wait_for([cluster_id], 120)
            base_gone.append(watch.gone.get(cluster_id, float("nan")) - asked)

        # Leases nobody ends: the reaper, running as in `serve`, ends them.
        reaper = runtime.reaper()
        reaper.start()
        ids = [create(runtime, f"acf-bench-lease-{n}", plan) for n in range(args.leases)]
        watch.wait_for(ids, args.hours * 3600 + 180)
        reaper.stop()
        watch.stop()
        leases = Leases(runtime.ledger)
        rows = {r.cloud_id: r.resource_id for r in runtime.ownership.all() if r.kind == "cluster"}
        reap_start, reap_gone = [], []
        for cluster_id in ids:
            lease = leases.get(rows[cluster_id])
            assert lease is not None
            due = lease.ends_at + runtime.settings.lease_grace_seconds
            reap_start.append(created_at(runtime, lease.end_operation_id) - due)
            reap_gone.append(watch.gone.get(cluster_id, float("nan")) - due)

    print(
        f"lease reaper, time scale {args.time_scale:g}, check every {args.check_seconds:g} s, grace 0, "
        f"{args.leases} clusters each (load {load_average()}):"
    )
    print(f"  reaper: end (+grace) -> cleanup operation started: {summary(reap_start)}")
    print(f"  reaper: end (+grace) -> cluster gone in the sandbox: {summary(reap_gone)}")
    print(f"  person: cleanup call -> cleanup operation started:   {summary(base_start)}")
    print(f"  person: cleanup call -> cluster gone in the sandbox:  {summary(base_gone)}")
    extra = statistics.median(reap_gone) - statistics.median(base_gone) if reap_gone and base_gone else float("nan")
    print(f"  the reaper adds {extra:.2f} s (median) to a person's cleanup; at most one check interval is expected")


if __name__ == "__main__":
    main()
