"""The spend meter's error against the sandbox's own bill.

Run: python bench/bench_meter.py [--hours 4] [--time-scale 600]
Buys the benchmarks' Pro cluster (3 nodes, disks) through the server's own code, lets it run `--hours` sandbox hours
once its operation is done (at 600x a sandbox hour is six real seconds), and at each hour compares:
- accrued: what the meter says, computed by tools/inventory.py (the quoted hourly x the hours the ledger row has
  existed), read on the sandbox clock;
- billed: what the sandbox bills for the cluster id and its nodes (DescribeInstanceBill through tools/bills.py, lag 0);
- baseline: the same hours at the sandbox's own price table from the moment the cloud made each thing (cluster fee
  from cluster creation, each node from its creation): the best any estimate from ledger times could do.
Prints absolute and relative errors; asserts nothing. ACS pods are not in the sandbox's bill (see
sandbox/bss/models/metering.py), so no ACS deployment is run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from benchenv import PRO_CLUSTER_PLAN, load_average, offline, sandbox_runtime

offline()

from ack_compute.cloud.billing import Billing  # noqa: E402
from ack_compute.cloud.node_pools import NodePoolService  # noqa: E402
from ack_compute.sandbox import SandboxCloud  # noqa: E402
from ack_compute.sandbox.bss.models.metering import load_prices  # noqa: E402
from ack_compute.sandbox.catalog import load_catalog  # noqa: E402
from ack_compute.tools.bills import Bills  # noqa: E402
from ack_compute.tools.estimate_cost import estimate_cost  # noqa: E402
from ack_compute.tools.identity import Caller, acting_as  # noqa: E402
from ack_compute.tools.inventory import Inventories  # noqa: E402
from ack_compute.tools.plans import ClusterPlan  # noqa: E402

ADMIN = Caller(subject="bench", admin=True)


def sandbox_truth(cloud: SandboxCloud, cluster_id: str, at: float, scale: float) -> float:
    """The sandbox's price table x sandbox hours since the cloud made each billable thing, up to `at` (real)."""
    catalog = load_catalog()
    cluster = cloud.cluster(cluster_id)
    multiplier = catalog.regions[cluster.region_id].price_multiplier

    def hours(start: float, end: float | None) -> float:
        return max(0.0, min(end or at, at) - start) * scale / 3600

    total = load_prices().ack_pro_fee_per_hour * hours(cluster.created.timestamp(), None)
    pools = {p.nodepool_id: p for p in cluster.nodepools}
    for node in cluster.nodes:
        pool = pools[node.nodepool_id]
        hourly = catalog.instance_types[node.instance_type].hourly_price
        disk = catalog.disk(pool.system_disk_category, pool.system_disk_performance_level)
        hourly += disk.hourly_price_per_gib * pool.system_disk_size if disk else 0
        for data in pool.data_disks:
            priced = catalog.disk(data.category, data.performance_level)
            hourly += priced.hourly_price_per_gib * data.size if priced else 0
        total += (
            hourly * multiplier * hours(node.created.timestamp(), node.deleted.timestamp() if node.deleted else None)
        )
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=int, default=4, help="sandbox hours to run the cluster once it is ready")
    parser.add_argument("--time-scale", type=float, default=600.0, help="600: a sandbox hour is 6 real seconds")
    args = parser.parse_args()
    scale = args.time_scale
    plan = ClusterPlan.model_validate({k: v for k, v in PRO_CLUSTER_PLAN.items() if k != "kind"} | {"hours": 24})
    with SandboxCloud(time_scale=scale) as cloud, tempfile.TemporaryDirectory() as state:
        cloud.bill_lag_seconds = 0
        runtime = sandbox_runtime(cloud, Path(state))
        bills = Bills(Billing(runtime.clients), NodePoolService(runtime.clients), ttl_seconds=0)
        with acting_as(ADMIN):
            est = estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
            outcome = runtime.clusters.ensure("bench-meter", plan=plan, quote_token=est.quote_token)
            while not runtime.operations.wait(outcome.operation_id or "", 1.0).done:
                pass
            rows = runtime.ownership.visible()
        ready = time.time()
        (row,) = [r for r in rows if r.kind == "cluster"]
        t0 = row.created_at.timestamp()
        # tools/inventory.py's own arithmetic, read on the sandbox clock: its clock runs `scale` times fast from t0.
        inventories = Inventories(
            cs=runtime.cs,
            vpcs=runtime.clusters.vpcs,
            targets=runtime.targets,
            ownership=runtime.ownership,
            clock=lambda: t0 + (time.time() - t0) * scale,
        )
        print(
            f"plan: Pro, {plan.node_count} nodes {', '.join(plan.instance_types)}; quote {est.hourly_total} "
            f"{est.currency}/h; time scale {scale:g}; load {load_average()}"
        )
        print("quote items (/h): " + "; ".join(f"{i.item} {i.hourly}" for i in est.line_items))
        print(f"ledger row -> operation done: {(ready - t0) * scale / 3600:.2f} sandbox h")
        print(
            f"{'age h':>6} {'accrued':>9} {'billed':>9} {'err':>8} {'rel':>7} | {'baseline':>9} {'err':>8} {'rel':>7}"
        )
        for hour in range(1, args.hours + 1):
            time.sleep(max(0.0, ready + hour * 3600 / scale - time.time()))
            with acting_as(ADMIN):
                listed = inventories.list()
            at = time.time()
            billed = (bills(rows) or {}).get(row.resource_id, Decimal(0))
            accrued = next(r.accrued for r in listed.resources if r.kind == "cluster") or Decimal(0)
            truth = Decimal(str(round(sandbox_truth(cloud, str(row.cloud_id), at, scale), 2)))
            err, base_err = accrued - billed, truth - billed
            rel = float(err / billed) if billed else float("nan")
            base_rel = float(base_err / billed) if billed else float("nan")
            age = (at - t0) * scale / 3600
            print(
                f"{age:>6.2f} {accrued:>9} {billed:>9} {err:>8} {rel:>7.1%} | {truth:>9} {base_err:>8} {base_rel:>7.1%}"
            )


if __name__ == "__main__":
    main()
