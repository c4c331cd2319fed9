"""The meter's bills hook: a cluster bought through the server reconciles with the sandbox's own bill for its
cluster id and its nodes; networks are left out; bills are read at most hourly; a denying account gives None."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from ack_compute.cloud.billing import Billing
from ack_compute.cloud.node_pools import NodePoolService
from ack_compute.sandbox import SandboxCloud
from ack_compute.sandbox.bss.models.metering import load_prices
from ack_compute.sandbox.catalog import load_catalog
from ack_compute.server.runtime import Runtime
from ack_compute.tools.bills import Bills
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.identity import Caller, acting_as
from ack_compute.tools.plans import ClusterPlan
from tests.helpers.waiting import settle

PLAN = ClusterPlan(edition="pro", instance_types=["ecs.g7.xlarge"], node_count=2, zone="cn-hangzhou-h", hours=3)
ALICE = Caller(subject="alice", admin=False)


@pytest.fixture
def runtime(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> Runtime:
    world.bill_lag_seconds = 0
    return runtime_on(world)


def bought(runtime: Runtime) -> None:
    with acting_as(ALICE):
        est = estimate_cost(PLAN, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
        started = runtime.clusters.ensure("bills-hook", plan=PLAN, quote_token=est.quote_token)
        assert started.operation_id and settle(runtime, started.operation_id).done


def test_a_bought_cluster_reconciles_with_the_bill_of_its_cluster_id_and_nodes(
    runtime: Runtime, world: SandboxCloud
) -> None:
    bought(runtime)
    with acting_as(ALICE):
        rows = runtime.ownership.visible()
    time.sleep(0.5)
    world.reset_counts()
    before = time.time()
    billed = runtime.bills(rows)
    after = time.time()
    assert billed is not None
    (cluster_row,) = [r for r in rows if r.kind == "cluster"]
    assert set(billed) == {cluster_row.resource_id}, "networks and the rest are not reconciled"

    # The sandbox's own accounting: the Pro fee and each node's price, by sandbox hours (600x) since each began.
    (cluster,) = world.clusters()
    catalog = load_catalog()
    scale = world.time_scale

    def hours(start: float, at: float) -> float:
        return max(0.0, at - start) * scale / 3600

    def expected(at: float) -> float:
        fee = load_prices().ack_pro_fee_per_hour * hours(cluster.created.timestamp(), at)
        pools = {p.nodepool_id: p for p in cluster.nodepools}
        nodes = 0.0
        for node in cluster.nodes:
            pool = pools[node.nodepool_id]
            hourly = catalog.instance_types[node.instance_type].hourly_price
            disk = catalog.disk(pool.system_disk_category, pool.system_disk_performance_level)
            hourly += disk.hourly_price_per_gib * pool.system_disk_size
            nodes += hourly * hours(node.created.timestamp(), at)
        return fee + nodes

    lines = 1 + len(cluster.nodes)  # each line is rounded to the cent
    low, high = expected(before) - 0.01 * lines, expected(after) + 0.01 * lines
    assert len(cluster.nodes) == 2 and cluster.cluster_spec == "ack.pro.small"
    assert Decimal(str(low)) <= billed[cluster_row.resource_id] <= Decimal(str(high)), (low, billed, high)

    # Read at most hourly: asking again within the hour sends no bill query.
    assert world.counts().get("DescribeInstanceBill", 0) >= 1
    world.reset_counts()
    assert runtime.bills(rows) == billed
    assert world.counts().get("DescribeInstanceBill", 0) == 0


def test_a_denying_account_gives_none_and_nothing_fails(runtime: Runtime, world: SandboxCloud) -> None:
    bought(runtime)
    with acting_as(ALICE):
        rows = runtime.ownership.visible()
    world.deny_bills()
    try:
        hook = Bills(Billing(runtime.clients), NodePoolService(runtime.clients), ttl_seconds=0)
        assert hook(rows) is None
        assert hook([r for r in rows if r.kind == "vpc"]) == {}, "nothing billable: no bill query needed"
    finally:
        world.deny_bills(False)
    assert hook(rows) is not None, "allowed again: read again (the refusal is kept only as long as the ttl)"


def test_a_pool_bought_on_a_reused_cluster_reconciles_with_its_own_nodes_only(
    runtime: Runtime, world: SandboxCloud
) -> None:
    from ack_compute.tools.plans import NodePoolPlan

    vpc_id = world.plant_vpc("team-vpc", cidr_block="192.168.0.0/16")
    vswitch_id = world.plant_vswitch(vpc_id, zone_id="cn-hangzhou-i", cidr_block="192.168.8.0/24")
    cluster_id = world.plant_cluster("team-bills", nodes=1, vswitch_id=vswitch_id)
    plan = NodePoolPlan(cluster="team-bills", instance_types=["ecs.g7.xlarge"], node_count=2)
    with acting_as(ALICE):
        est = estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
        started = runtime.node_pools.ensure("team-bills", "cpu", plan=plan, quote_token=est.quote_token)
        assert started.operation_id and settle(runtime, started.operation_id).state == "succeeded"
        rows = runtime.ownership.visible()
    (pool_row,) = [r for r in rows if r.kind == "node_pool"]
    pool_nodes = {n.instance_id for n in world.cluster(cluster_id).nodes if n.nodepool_id == pool_row.cloud_id}
    assert len(pool_nodes) == 2
    time.sleep(0.3)

    direct = Billing(runtime.clients)
    started_at = time.time()

    def pool_bill() -> Decimal:
        from datetime import UTC, datetime

        amounts = direct.billed(datetime.fromtimestamp(started_at - 3600, UTC), datetime.now(UTC), pool_nodes)
        return sum((a.amount for a in amounts.values()), Decimal(0))

    before = pool_bill()
    billed = runtime.bills(rows)
    after = pool_bill()
    assert billed is not None and set(billed) == {pool_row.resource_id}, "the reused cluster is not ours to bill"
    assert Decimal(0) < before <= billed[pool_row.resource_id] <= after, (before, billed, after)
