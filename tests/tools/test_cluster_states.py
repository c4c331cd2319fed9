"""Every one of ACK's 15 cluster states (and one it may add later) at every place the product reads a state:
ensure_cluster by name, reuse_any, the wait for a cluster to run, resolving a workload's target, and cleanup.
The sandbox puts clusters into each state the way ACK gets them there (tools/cluster_states.py says what each
state means to the product). A name stays taken by every cluster that is not deleted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.tools.cleanup import CleanupRequest
from ack_compute.tools.cluster_states import STATES, Disposition, describe
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.plans import ClusterPlan
from tests.helpers.waiting import eventually, finished

PLAN = ClusterPlan(instance_types=["ecs.g7.xlarge"], node_count=1, zone="cn-hangzhou-h", hours=1)
FUTURE = "hibernating"  # a state ACK does not have today
ALL = [*STATES, FUTURE]
NOT_USABLE_NOR_WAITING = [
    s for s in ALL if describe(s).disposition not in (Disposition.USABLE, Disposition.WAIT, Disposition.GONE)
]


@pytest.fixture
def runtime(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> Runtime:
    return runtime_on(world)


def quote(runtime: Runtime) -> str:
    est = estimate_cost(PLAN, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
    assert est.quote_token
    return est.quote_token


def put(world: SandboxCloud, name: str, state: str) -> str:
    """A cluster of someone else's in `state`, staying there: maintenance phases do not end and a deletion takes
    its real 3 minutes (the clock slows down to real time for it)."""
    if state in ("initial", "failed", "deleted"):
        return world.plant_cluster(name, state=state, nodes=1)  # type: ignore[arg-type]
    cluster_id = world.plant_cluster(name, nodes=1)
    if state == "deleting":
        world.time_scale = 1
    world.set_cluster_state(cluster_id, state, back_to_running_after=None)
    return cluster_id


def test_the_table_has_the_15_states_the_sdk_documents() -> None:
    from alibabacloud_cs20151215.models import _describe_cluster_detail_response_body as doc

    text = Path(doc.__file__).read_text(encoding="utf-8")
    documented = text.split("# The cluster status. Valid values:")[1].split("self.state = state")[0]
    names = {line.split("`")[1] for line in documented.splitlines() if "`" in line}
    assert names == set(STATES) and len(names) == 15


def test_the_sandbox_reaches_every_state(world: SandboxCloud) -> None:
    for state in ALL:
        name = f"acf-{state.replace('_', '-')}"
        cluster_id = world.plant_cluster(name, state=state, nodes=1) if state in STATES else world.plant_cluster(name)
        if state == FUTURE:
            world.set_cluster_state(cluster_id, FUTURE)
        assert world.cluster(cluster_id).state == state


def test_a_maintenance_phase_ends_running_by_itself(world: SandboxCloud) -> None:
    cluster_id = world.plant_cluster("acf-upg", state="upgrading", nodes=1)
    assert world.cluster(cluster_id).state == "upgrading"
    eventually(lambda: world.cluster(cluster_id).state == "running", timeout=10)
    assert world.cluster(cluster_id).state == "running"


@pytest.mark.parametrize("state", NOT_USABLE_NOR_WAITING)
def test_a_same_named_cluster_in_any_state_but_deleted_is_never_duplicated(
    runtime: Runtime, world: SandboxCloud, state: str
) -> None:
    name = "acf-taken"
    put(world, name, state)
    token = quote(runtime)
    with pytest.raises(AckComputeError) as raised:
        runtime.clusters.ensure(name, plan=PLAN, quote_token=token)
    message = raised.value.message
    assert describe(state).meaning in message and "no second cluster of that name is created" in message
    assert raised.value.next_step == describe(state).what_to_do
    assert "CreateCluster" not in world.counts() and "CreateVpc" not in world.counts()
    assert [c.name for c in world.clusters()].count(name) == 1
    assert runtime.ownership.all() == [], "no claim, no quote redeemed"


def test_an_inactive_cluster_says_what_to_do_in_plain_words(runtime: Runtime, world: SandboxCloud) -> None:
    cluster_id = world.plant_cluster("acf-owing", nodes=1)
    world.set_cluster_state(cluster_id, "inactive")
    with pytest.raises(AckComputeError) as raised:
        runtime.clusters.ensure("acf-owing", plan=PLAN, quote_token=quote(runtime))
    assert raised.value.message == (
        f"Cluster acf-owing ({cluster_id}) is inactive: ACK suspended it (an overdue payment, a suspended KMS key, "
        "or no node or pod for 30 days), and its API server cannot be used, so no second cluster of that name is "
        "created."
    )
    assert "pay the overdue bill" in raised.value.next_step


@pytest.mark.parametrize("state", ["updating", "upgrading", "scaling", "removing", "draining"])
def test_a_cluster_being_changed_is_waited_for_then_reused(runtime: Runtime, world: SandboxCloud, state: str) -> None:
    cluster_id = world.plant_cluster("acf-busy", nodes=1)
    world.set_cluster_state(cluster_id, state, back_to_running_after=None)
    outcome = runtime.clusters.ensure("acf-busy", plan=PLAN, quote_token=quote(runtime))
    assert outcome.status == "waiting" and outcome.cluster_id == cluster_id and outcome.cluster_state == state
    assert describe(state).meaning in outcome.message
    world.set_cluster_state(cluster_id, "running")  # ACK ends the phase
    status = finished(runtime, outcome.operation_id or "")
    assert status.state == "succeeded", status.error
    assert (status.result or {})["cluster_id"] == cluster_id
    assert "CreateCluster" not in world.counts()


@pytest.mark.parametrize("state", ["inactive", "unavailable", "deleting", FUTURE])
def test_the_wait_stops_when_the_cluster_turns_unusable(runtime: Runtime, world: SandboxCloud, state: str) -> None:
    cluster_id = world.plant_cluster("acf-turns", nodes=1)
    world.set_cluster_state(cluster_id, "upgrading", back_to_running_after=None)
    outcome = runtime.clusters.ensure("acf-turns")
    assert outcome.status == "waiting"
    if state == "deleting":
        world.time_scale = 1
    world.set_cluster_state(cluster_id, state)
    status = finished(runtime, outcome.operation_id or "")
    assert status.state == "failed"
    assert describe(state).meaning in (status.error or "")


def test_a_deleted_cluster_frees_its_name(runtime: Runtime, world: SandboxCloud) -> None:
    world.plant_cluster("acf-gone", state="deleted", nodes=1)
    outcome = runtime.clusters.ensure("acf-gone")
    assert outcome.status == "quote_required"


def test_reuse_any_takes_only_a_running_cluster(runtime: Runtime, world: SandboxCloud) -> None:
    for state in ALL:
        if state not in ("running", "initial", "deleting"):  # an initial one runs within a second at this clock
            put(world, f"acf-x-{state.replace('_', '-')}", state)
    outcome = runtime.clusters.ensure("acf-mine", reuse_any=True)
    assert outcome.status == "quote_required", outcome.message
    running = world.plant_cluster("acf-fine", nodes=1)
    assert runtime.clusters.ensure("acf-mine", reuse_any=True).cluster_id == running


@pytest.mark.parametrize("state", [s for s in ALL if s != "running"])
def test_a_workload_target_must_be_running(runtime: Runtime, world: SandboxCloud, state: str) -> None:
    cluster_id = put(world, "acf-target", state)
    for ref in (cluster_id, "acf-target"):
        with pytest.raises(AckComputeError) as raised:
            runtime.targets.resolve(ref)
        if state == "deleted" and ref == "acf-target":  # the list no longer shows a deleted cluster
            assert raised.value.message.startswith("No cluster with id or name 'acf-target'")
            continue
        assert describe(state).meaning in raised.value.message and "nothing was created" in raised.value.message


def test_cleanup_of_our_cluster_in_each_state(runtime: Runtime, world: SandboxCloud) -> None:
    """Deleted when ACK can take it, left for later while ACK changes it or when its state is unknown, awaited while
    being deleted, reported (once per cleanup run, not retried forever) when its deletion fails."""
    outcome = runtime.clusters.ensure("acf-ours", plan=PLAN, quote_token=quote(runtime))
    assert finished(runtime, outcome.operation_id or "").state == "succeeded"
    (cluster,) = world.clusters()

    def planned() -> tuple[str, str]:
        report = runtime.cleaner.plan(CleanupRequest(target="operation", operation_id=outcome.operation_id))
        (item,) = [i for i in report.items if i.kind == "cluster"]
        return item.action, item.reason

    for state in ALL:
        if state in ("initial", "failed", "deleting", "deleted", "delete_failed"):
            continue
        world.set_cluster_state(cluster.cluster_id, state, back_to_running_after=None)
        action, reason = planned()
        expected = {"delete": "delete", "defer": "blocked"}[describe(state).cleanup.value]
        assert action == expected, (state, reason)
        if expected == "blocked":
            assert describe(state).meaning in reason and "run cleanup again" in reason
    world.set_cluster_state(cluster.cluster_id, "running")
    world.fail_next_cluster_deletion("ErrorDeleteCluster", "failed to release the cluster's SLB")
    first = runtime.cleaner.start(CleanupRequest(dry_run=False))
    report = finished(runtime, first.operation_id or "").result or {}
    (item,) = [i for i in report["items"] if i["kind"] == "cluster"]
    assert item["action"] == "blocked" and "ErrorDeleteCluster" in item["outcome"]
    assert world.counts()["DeleteCluster"] == 1, "one attempt per cleanup run"
    assert world.cluster(cluster.cluster_id).state == "delete_failed"
    assert planned()[0] == "delete", "the next cleanup run tries again"
    second = runtime.cleaner.start(CleanupRequest(dry_run=False))
    assert finished(runtime, second.operation_id or "").state == "succeeded"
    assert world.cluster(cluster.cluster_id).state == "deleted"
