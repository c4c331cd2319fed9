"""list_resources at the tools level: the ledger checked against the sandbox cloud, priced by the accepted quotes."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.identity import Caller, acting_as
from ack_compute.tools.inventory import Bills, Inventories
from ack_compute.tools.leases import iso
from ack_compute.tools.ownership import OwnedResource
from ack_compute.tools.plans import ClusterPlan
from tests.helpers.waiting import eventually, settle

PLAN = ClusterPlan(edition="pro", instance_types=["ecs.g7.xlarge"], node_count=1, zone="cn-hangzhou-h", hours=3)
ALICE = Caller(subject="alice", admin=False)


@pytest.fixture
def runtime(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> Runtime:
    return runtime_on(world)


def inventories(runtime: Runtime, hours_later: float = 0, bills: Bills | None = None) -> Inventories:
    return Inventories(
        cs=runtime.cs,
        vpcs=runtime.clusters.vpcs,
        targets=runtime.targets,
        ownership=runtime.ownership,
        clock=lambda: time.time() + hours_later * 3600,
        bills=bills,
        budgets=runtime.quotes.budget,
    )


def whole_hours_bills(runtime: Runtime, hours_later: float) -> Bills:
    """An account that bills clusters by every started hour at the quoted price, and nothing else (yet)."""

    def bills(rows: list[OwnedResource]) -> dict[int, Decimal]:
        out = {}
        for row in rows:
            record = runtime.quotes.record(runtime.ownership.paid_by(row.resource_id) or "")
            if row.kind == "cluster" and record is not None:
                started = math.ceil((time.time() + hours_later * 3600 - row.created_at.timestamp()) / 3600)
                out[row.resource_id] = record.hourly * started
        return out

    return bills


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
    assert rows["vpc"].hourly is None and rows["vpc"].state != "gone" and rows["vpc"].meter is None
    assert 2 <= row.hours <= 2.01 and row.meter == "estimated" and row.billed is None
    lease = runtime.ownership.ledger.query("SELECT ends_at FROM leases WHERE owner = 'alice'")[0]["ends_at"]
    assert row.lease_ends_at == iso(lease) and lease - time.time() > 2.9 * 3600, "the quoted 3 h from redemption"
    assert rows["vpc"].lease_ends_at is None, "the network rides on the cluster's lease"
    (total,) = listed.totals
    assert (total.currency, total.hourly, total.accrued) == (
        est.currency,
        Decimal(str(est.hourly_total)),
        row.accrued,
    )
    assert 0 <= total.today <= total.accrued
    (mine,) = listed.callers
    assert (mine.caller, mine.currency, mine.daily_budget) == ("alice", est.currency, None)
    # committed is shown in cents: about 1 h to go at the hourly price, rounded
    assert mine.today <= mine.month and hourly * Decimal("0.99") <= mine.committed <= hourly + Decimal("0.01")

    # Where the account gives bills, they stand next to the estimate.
    with acting_as(ALICE):
        billed = inventories(runtime, hours_later=2, bills=whole_hours_bills(runtime, 2)).list()
        none = inventories(runtime, hours_later=2, bills=lambda rows: None).list()
    (cluster_billed,) = [r for r in billed.resources if r.kind == "cluster"]
    assert (cluster_billed.meter, cluster_billed.billed) == ("billed", (hourly * 3).quantize(Decimal("0.01")))
    assert cluster_billed.accrued == row.accrued and billed.totals[0].billed == cluster_billed.billed
    assert [r.meter for r in none.resources if r.kind == "cluster"] == ["estimated"] and none.totals[0].billed is None

    with acting_as(Caller(subject="bob", admin=False)):
        nothing = inventories(runtime).list()
    assert nothing.resources == [] and nothing.callers == [], "another caller sees none of alice's resources"
    with acting_as(Caller(subject="ops", admin=True)):
        everyone = inventories(runtime).list()
    assert {r.id for r in everyone.resources} == {r.id for r in listed.resources}
    assert [c.caller for c in everyone.callers] == ["alice"], "an admin sees one line per caller"

    # Deleted behind the server's back: the cloud decides, so it is no longer listed (only with include_gone).
    runtime.cs.delete_cluster(cluster.cluster_id)  # as if from the console: the ledger still says ready
    eventually(lambda: world.cluster(cluster.cluster_id).state == "deleted")
    with acting_as(ALICE):
        assert "cluster" not in {r.kind for r in inventories(runtime).list().resources}
        (gone,) = [
            r for r in inventories(runtime, hours_later=5).list(include_gone=True).resources if r.kind == "cluster"
        ]
    assert gone.state == "gone" and gone.accrued is not None and gone.accrued < row.accrued
