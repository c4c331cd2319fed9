"""ensure_node_pool against the sandbox through the real CS SDK and the real kubernetes client: a GPU pool added to a
cluster someone else made, paid by quote; a job lands on its node; it grows by a quote for the added nodes only,
shrinks naming the nodes that go; list_resources prices it; cleanup removes it, keeps the cluster and never touches
a pool this server did not make."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from ack_compute.cloud.node_pools import NodePoolConfig, NodePoolService
from ack_compute.sandbox import Fault, SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.tools.cancel import Canceller
from ack_compute.tools.cleanup import CleanupRequest
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.identity import Caller, acting_as
from ack_compute.tools.inventory import Inventories
from ack_compute.tools.job_spec import JobOutcome, JobRequest
from ack_compute.tools.node_pool_spec import NodePoolOutcome
from ack_compute.tools.plans import NodePoolPlan
from tests.helpers.waiting import settle

GPU_TYPE = "ecs.gn7i-c8g1.2xlarge"


@pytest.fixture
def runtime(fast_cloud: SandboxCloud, runtime_on: Callable[..., Runtime]) -> Runtime:
    # The longest kubeconfig ACK issues: the sandbox's clock runs 2000 times faster here.
    return runtime_on(fast_cloud, kubeconfig_minutes=4320)


def team_cluster(cloud: SandboxCloud, name: str) -> str:
    """A cluster someone else made, one node in its default pool, in a zone that sells the GPU type."""
    vpc_id = cloud.plant_vpc(f"{name}-vpc", cidr_block="192.168.0.0/16")
    vswitch_id = cloud.plant_vswitch(vpc_id, zone_id="cn-hangzhou-i", cidr_block="192.168.8.0/24")
    return cloud.plant_cluster(name, nodes=1, vswitch_id=vswitch_id)


def quote(runtime: Runtime, **plan: Any) -> str:
    estimate = estimate_cost(
        NodePoolPlan.model_validate(plan), default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes
    )
    assert estimate.quote_id, estimate.budget
    return estimate.quote_id


def finish(runtime: Runtime, started: NodePoolOutcome, timeout: float = 60) -> NodePoolOutcome:
    assert started.operation_id, started
    status = settle(runtime, started.operation_id, timeout)
    assert status.state == "succeeded", (status.stage, status.error)
    return NodePoolOutcome.model_validate(status.result)


def run(runtime: Runtime, **fields: Any) -> JobOutcome:
    started = runtime.jobs.start(JobRequest.model_validate(fields))
    assert started.operation_id, started
    status = settle(runtime, started.operation_id)
    assert status.state == "succeeded", (status.stage, status.error)
    return JobOutcome.model_validate(status.result)


def inventory(runtime: Runtime) -> Inventories:
    return Inventories(
        cs=runtime.cs,
        vpcs=runtime.clusters.vpcs,
        targets=runtime.targets,
        ownership=runtime.ownership,
        pools=runtime.node_pools,
    )


def pool_nodes(runtime: Runtime, cluster_id: str, name: str) -> set[str]:
    access = runtime.targets.access(runtime.targets.resolve(cluster_id))
    try:
        return {n.name for n in access.nodes() if n.labels.get("ack-compute/pool") == name}
    finally:
        access.close()


def test_a_gpu_pool_on_a_team_cluster_is_bought_used_resized_listed_and_cleaned_up(
    runtime: Runtime, fast_cloud: SandboxCloud
) -> None:
    cluster_id = team_cluster(fast_cloud, "team-shared")
    # Someone else's pool on the same cluster: this server must never touch it.
    theirs = NodePoolService(runtime.clients)
    their_pool, _ = theirs.create(
        cluster_id,
        NodePoolConfig(
            name="theirs",
            instance_types=["ecs.g7.xlarge"],
            desired_size=1,
            vswitch_ids=runtime.cs.describe_cluster(cluster_id).vswitch_ids,
            tags={"team": "data"},
            key_pair="team-keys",
        ),
    )

    # Without a quote: what to quote, naming the cluster; nothing is made.
    asked = runtime.node_pools.ensure("team-shared", "gpu", node_count=1)
    assert asked.status == "quote_required" and asked.plan_to_quote is not None
    assert asked.plan_to_quote.cluster == "team-shared" and asked.plan_to_quote.node_count == 1
    assert [p.name for p in theirs.list(cluster_id)] == ["default-nodepool", "theirs"]

    ref = quote(runtime, cluster="team-shared", instance_types=[GPU_TYPE], node_count=1, hours=2)
    started = runtime.node_pools.ensure("team-shared", "gpu", plan=runtime_plan(runtime, ref), quote_token=ref)
    assert started.status == "creating" and started.hourly and started.currency == "CNY"
    made = finish(runtime, started)
    assert (made.status, made.pool_state, made.nodes, made.ready_nodes, made.origin) == (
        "created",
        "active",
        1,
        1,
        "created",
    )
    assert made.hourly == started.hourly
    pool = theirs.get(cluster_id, made.nodepool_id or "")
    assert pool.labels["ack-compute/pool"] == "gpu" and pool.tags["ack-compute-mcp/managed-by"] == "ack-compute-mcp"
    assert [(t.key, t.value, t.effect) for t in pool.taints] == [("ack-compute/pool", "gpu", "NoSchedule")]
    gpu_nodes = pool_nodes(runtime, cluster_id, "gpu")
    assert len(gpu_nodes) == 1

    # A job sent there lands on the pool's node; one sent to a pool that does not exist is refused plainly.
    out = run(runtime, cluster=cluster_id, script="echo on-gpu\n", node_pool="gpu")
    assert out.status == "succeeded" and "on-gpu" in out.log and out.node in gpu_nodes
    with pytest.raises(AckComputeError, match="has no node pool named nope") as refused:
        runtime.jobs.start(JobRequest(cluster=cluster_id, script="true", node_pool="nope"))
    assert "ensure_node_pool" in refused.value.text and "gpu" in refused.value.message

    # Growth without a quote: the plan for the added node only, no change in the cloud.
    fast_cloud.reset_counts()
    grow = runtime.node_pools.ensure("team-shared", "gpu", node_count=2)
    assert grow.status == "quote_required" and grow.plan_to_quote is not None
    assert grow.plan_to_quote.node_count == 1 and grow.plan_to_quote.instance_types == [GPU_TYPE]
    assert not {a for a in fast_cloud.counts() if a.startswith(("Modify", "Create", "Remove", "Delete"))}
    added = quote(runtime, **grow.plan_to_quote.model_dump(exclude={"region"}))
    grown = finish(
        runtime,
        runtime.node_pools.ensure(
            "team-shared", "gpu", node_count=2, plan=runtime_plan(runtime, added), quote_token=added
        ),
    )
    assert (grown.status, grown.nodes, grown.ready_nodes) == ("resized", 2, 2)
    assert grown.hourly == made.hourly * 2  # type: ignore[operator]

    # Shrinking is free and says which node goes; that node leaves the cluster.
    shrink = runtime.node_pools.ensure("team-shared", "gpu", node_count=1)
    assert shrink.status == "resizing" and len(shrink.removed) == 1 and shrink.nodes == 1
    going = shrink.removed[0].node
    assert going in shrink.message and "no cost" in shrink.message
    shrunk = finish(runtime, shrink)
    assert (shrunk.status, shrunk.nodes) == ("resized", 1) and going not in pool_nodes(runtime, cluster_id, "gpu")

    # Someone else's pool is shown, never resized.
    seen = runtime.node_pools.ensure("team-shared", "theirs")
    assert seen.status == "exists" and seen.origin == "not_ours" and seen.hourly is None
    with pytest.raises(AckComputeError, match="not created by this server"):
        runtime.node_pools.ensure("team-shared", "theirs", node_count=3)

    # list_resources: the pool with its nodes, hourly and accrued; the cluster as reused.
    listed = inventory(runtime).list()
    pools = [r for r in listed.resources if r.kind == "node_pool"]
    assert len(pools) == 1 and pools[0].nodes == 1 and pools[0].state.startswith("active")
    assert pools[0].hourly == made.hourly and pools[0].accrued is not None
    assert [(r.kind, r.origin) for r in listed.resources if r.kind == "cluster"] == [("cluster", "reused")]
    assert listed.totals[0].hourly == pools[0].hourly

    # cleanup: the job, then the pool go; the cluster and their pool stay.
    plan = runtime.cleaner.plan(CleanupRequest())
    # (the finished job's own line comes first: Kubernetes objects before what they ran on)
    assert [(i.kind, i.action) for i in plan.items if i.kind != "job"] == [("node_pool", "delete"), ("cluster", "keep")]
    pool_item = next(i for i in plan.items if i.kind == "node_pool")
    assert pool_item.hourly == made.hourly and pool_item.cloud_id == made.nodepool_id
    report = runtime.cleaner.start(CleanupRequest(dry_run=False))
    status = runtime.operations.get(report.operation_id or "")
    deadline = time.monotonic() + 60
    while not status.done and time.monotonic() < deadline:
        status = runtime.operations.wait(status.operation_id, 2)
    assert status.state == "succeeded" and status.result and status.result["status"] == "done", status.error
    assert [p.name for p in theirs.list(cluster_id)] == ["default-nodepool", "theirs"]
    assert theirs.get(cluster_id, their_pool).state == "active"
    assert runtime.cs.describe_cluster(cluster_id).state == "running"
    assert not [r for r in inventory(runtime).list().resources if r.kind == "node_pool"]


def runtime_plan(runtime: Runtime, quote_id: str) -> NodePoolPlan:
    """The plan a quote id pays for, as the MCP layer reads it from the ledger."""
    kind, plan = runtime.quotes.plan_of(quote_id)
    assert kind == "node_pool"
    return NodePoolPlan.model_validate(plan)


def test_an_ack_serverless_cluster_is_refused_plainly(runtime: Runtime, fast_cloud: SandboxCloud) -> None:
    fast_cloud.plant_cluster("team-serverless", profile="Serverless", nodes=0)
    fast_cloud.reset_counts()
    with pytest.raises(AckComputeError) as refused:
        runtime.node_pools.ensure("team-serverless", "gpu", node_count=1)
    assert "ACK Serverless: it has no node pools" in refused.value.message
    assert "acs plan" in refused.value.text and "eci plan" in refused.value.text
    assert not {a for a in fast_cloud.counts() if "NodePool" in a}


def test_a_quote_for_another_cluster_or_another_size_buys_nothing(runtime: Runtime, fast_cloud: SandboxCloud) -> None:
    team_cluster(fast_cloud, "team-two")
    ref = quote(runtime, cluster="team-elsewhere", instance_types=["ecs.g7.xlarge"], node_count=1)
    with pytest.raises(AckComputeError, match="the quote is for a pool on cluster team-elsewhere"):
        runtime.node_pools.ensure("team-two", "cpu", plan=runtime_plan(runtime, ref), quote_token=ref)
    ref = quote(runtime, cluster="team-two", instance_types=["ecs.g7.xlarge"], node_count=1)
    with pytest.raises(AckComputeError, match="node_count 3 differs from the quoted plan's 1 nodes"):
        runtime.node_pools.ensure("team-two", "cpu", node_count=3, plan=runtime_plan(runtime, ref), quote_token=ref)
    assert runtime.quotes.consumed(ref) is None  # still unused
    # Growth buys the pool's own kind of node: a quote for other nodes pays for nothing.
    finish(runtime, runtime.node_pools.ensure("team-two", "cpu", plan=runtime_plan(runtime, ref), quote_token=ref))
    other = quote(runtime, cluster="team-two", instance_types=["ecs.c7.xlarge"], node_count=1)
    with pytest.raises(AckComputeError, match="growing pool cpu from 1 to 2 nodes buys 1 more of its own nodes"):
        runtime.node_pools.ensure("team-two", "cpu", node_count=2, plan=runtime_plan(runtime, other), quote_token=other)
    assert runtime.quotes.consumed(other) is None


def test_a_failed_scale_says_why_and_the_pool_keeps_its_nodes(runtime: Runtime, fast_cloud: SandboxCloud) -> None:
    team_cluster(fast_cloud, "team-three")
    ref = quote(runtime, cluster="team-three", instance_types=["ecs.g7.xlarge"], node_count=1)
    made = finish(
        runtime, runtime.node_pools.ensure("team-three", "cpu", plan=runtime_plan(runtime, ref), quote_token=ref)
    )
    grow = runtime.node_pools.ensure("team-three", "cpu", node_count=2)
    assert grow.plan_to_quote is not None
    added = quote(runtime, **grow.plan_to_quote.model_dump(exclude={"region"}))
    fast_cloud.fail_next_nodepool_scale()
    started = runtime.node_pools.ensure(
        "team-three", "cpu", node_count=2, plan=runtime_plan(runtime, added), quote_token=added
    )
    status = runtime.operations.get(started.operation_id or "")
    deadline = time.monotonic() + 60
    while not status.done and time.monotonic() < deadline:
        status = runtime.operations.wait(status.operation_id, 2)
    assert status.state == "failed" and "ScaleNodePoolFailed" in (status.error or ""), status.error
    assert "stayed at 1 of 2 nodes" in (status.error or "")
    # The pool is as it was and this server's again to resize; the failed purchase no longer counts as running.
    again = runtime.node_pools.ensure("team-three", "cpu")
    assert (again.status, again.nodes, again.hourly) == ("unchanged", 1, made.hourly)
    assert not [i for i in runtime.quotes.running().items if "+" in i]


def test_cancelling_a_pool_creation_says_the_pool_is_left_and_how_to_remove_it(
    runtime: Runtime, fast_cloud: SandboxCloud
) -> None:
    team_cluster(fast_cloud, "team-four")
    ref = quote(runtime, cluster="team-four", instance_types=["ecs.g7.xlarge"], node_count=1)
    fast_cloud.reset_counts()
    fast_cloud.inject("CreateClusterNodePool", Fault.delay(2.0))  # the call is in flight when the cancel comes
    started = runtime.node_pools.ensure("team-four", "cpu", plan=runtime_plan(runtime, ref), quote_token=ref)
    deadline = time.monotonic() + 10
    while not fast_cloud.counts().get("CreateClusterNodePool") and time.monotonic() < deadline:
        time.sleep(0.05)
    cancelled = Canceller(runtime.operations, runtime.ownership, runtime.targets, runtime.cleaner).cancel(
        started.operation_id or ""
    )
    assert cancelled.status == "cancelled", cancelled
    (left,) = cancelled.left
    assert left.startswith("node pool cpu (np") and "bills until deleted" in left
    assert f'operation_id="{started.operation_id}"' in left and cancelled.next_step.startswith("To remove what is left")
    report = runtime.cleaner.start(CleanupRequest(target="operation", operation_id=started.operation_id, dry_run=False))
    status = runtime.operations.get(report.operation_id or "")
    while not status.done:
        status = runtime.operations.wait(status.operation_id, 2)
    assert status.result and [(i["kind"], i["outcome"]) for i in status.result["items"]] == [("node_pool", "deleted")]


def test_another_callers_pool_is_theirs_and_holds_their_cluster(runtime: Runtime, fast_cloud: SandboxCloud) -> None:
    """Over HTTP each caller has their own: bob can neither resize alice's pool nor delete the cluster it sits on."""
    alice, bob = Caller(subject="alice", admin=False), Caller(subject="bob", admin=False)
    team_cluster(fast_cloud, "team-five")
    with acting_as(alice):
        ref = quote(runtime, cluster="team-five", instance_types=["ecs.g7.xlarge"], node_count=1)
        finish(runtime, runtime.node_pools.ensure("team-five", "cpu", plan=runtime_plan(runtime, ref), quote_token=ref))
    with acting_as(bob):
        seen = runtime.node_pools.ensure("team-five", "cpu")
        assert (seen.status, seen.origin, seen.hourly) == ("exists", "not_ours", None)
        with pytest.raises(AckComputeError, match="not created by this server for you"):
            runtime.node_pools.ensure("team-five", "cpu", node_count=0)
        assert runtime.cleaner.plan(CleanupRequest()).status == "nothing_to_do"
        # Nobody is asked to pay for growing it, and no work of bob's lands on alice's nodes.
        bobs = quote(runtime, cluster="team-five", instance_types=["ecs.g7.xlarge"], node_count=1)
        with pytest.raises(AckComputeError, match="not created by this server for you"):
            runtime.node_pools.offer("team-five", "cpu", 2, runtime_plan(runtime, bobs), bobs)
        with pytest.raises(AckComputeError, match="belongs to another caller; only its owner or an admin"):
            runtime.jobs.start(JobRequest(cluster="team-five", script="true", node_pool="cpu"))
        assert runtime.quotes.consumed(bobs) is None
    with acting_as(alice):
        assert runtime.node_pools.placement_for(runtime.targets.resolve("team-five"), "cpu")["nodeSelector"]


def test_types_no_zone_of_the_cluster_sells_are_refused_before_the_question(
    runtime: Runtime, fast_cloud: SandboxCloud
) -> None:
    vpc_id = fast_cloud.plant_vpc("team-six-vpc", cidr_block="192.168.0.0/16")
    vswitch_id = fast_cloud.plant_vswitch(vpc_id, zone_id="cn-hangzhou-h", cidr_block="192.168.8.0/24")
    fast_cloud.plant_cluster("team-six", nodes=1, vswitch_id=vswitch_id)
    ref = quote(runtime, cluster="team-six", instance_types=[GPU_TYPE], node_count=1)
    fast_cloud.reset_counts()
    with pytest.raises(AckComputeError, match=f"none of {GPU_TYPE} is sold in the zones of cluster team-six's"):
        runtime.node_pools.offer("team-six", "gpu", None, runtime_plan(runtime, ref), ref)
    with pytest.raises(AckComputeError, match=r"vSwitches \(cn-hangzhou-h\)"):
        runtime.node_pools.ensure("team-six", "gpu", plan=runtime_plan(runtime, ref), quote_token=ref)
    assert "CreateClusterNodePool" not in fast_cloud.counts() and runtime.quotes.consumed(ref) is None
