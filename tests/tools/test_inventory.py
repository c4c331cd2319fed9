"""list_resources at the tools level: the ledger checked against the sandbox cloud, priced by the accepted quotes."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.identity import Caller, acting_as
from ack_compute.tools.inventory import Inventories
from ack_compute.tools.plans import ClusterPlan
from tests.helpers.waiting import eventually, settle

PLAN = ClusterPlan(edition="pro", instance_types=["ecs.g7.xlarge"], node_count=1, zone="cn-hangzhou-h", hours=3)
ALICE = Caller(subject="alice", admin=False)


@pytest.fixture
def runtime(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> Runtime:
    return runtime_on(world)


def inventories(runtime: Runtime, hours_later: float = 0) -> Inventories:
    return Inventories(
        cs=runtime.cs,
        vpcs=runtime.clusters.vpcs,
        targets=runtime.targets,
        ownership=runtime.ownership,
        clock=lambda: time.time() + hours_later * 3600,
    )


def test_a_created_cluster_is_listed_with_its_quoted_price_and_accrued(runtime: Runtime, world: SandboxCloud) -> None:
    with acting_as(ALICE):
        est = estimate_cost(PLAN, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
        started = runtime.clusters.ensure("acf-inventory", plan=PLAN, quote_token=est.quote_token)
        assert started.operation_id
        settle(runtime, started.operation_id)
        listed = inventories(runtime, hours_later=2).list()
    (cluster,) = world.clusters()
    rows = {r.kind: r for r in listed.resources}
    assert set(rows) == {"cluster", "vpc", "vswitch"}, listed
    row = rows["cluster"]
    assert (row.id, row.state, row.origin, row.owner) == (cluster.cluster_id, "running", "created", "alice")
    assert row.hourly == Decimal(str(est.hourly_total)) and row.currency == est.currency
    hourly = Decimal(str(est.hourly_total))
    assert hourly * 2 - Decimal("0.01") <= row.accrued <= hourly * 2 + Decimal("0.02"), row  # two hours, quoted
    assert rows["vpc"].hourly is None and rows["vpc"].state != "gone"
    (total,) = listed.totals
    assert (total.currency, total.hourly, total.accrued) == (
        est.currency,
        Decimal(str(est.hourly_total)),
        row.accrued,
    )

    with acting_as(Caller(subject="bob", admin=False)):
        assert inventories(runtime).list().resources == [], "another caller sees none of alice's resources"
    with acting_as(Caller(subject="ops", admin=True)):
        assert {r.id for r in inventories(runtime).list().resources} == {r.id for r in listed.resources}

    # Deleted behind the server's back: the cloud decides, so it is no longer listed (only with include_gone).
    runtime.cs.delete_cluster(cluster.cluster_id)  # as if from the console: the ledger still says ready
    eventually(lambda: world.cluster(cluster.cluster_id).state == "deleted")
    with acting_as(ALICE):
        assert "cluster" not in {r.kind for r in inventories(runtime).list().resources}
        (gone,) = [
            r for r in inventories(runtime, hours_later=5).list(include_gone=True).resources if r.kind == "cluster"
        ]
    assert gone.state == "gone" and gone.accrued is not None and gone.accrued < row.accrued
