"""cancel_operation at the tools level against the sandbox: a create before and after the cloud has the cluster, a
running job, someone else's operation, and one that already ended."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from ack_compute.cloud.kube_workloads import KubeWorkloads
from ack_compute.sandbox import Fault, SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.tools.cancel import Canceller
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.identity import Caller, acting_as
from ack_compute.tools.job_spec import JobRequest
from ack_compute.tools.ledger import Ledger
from ack_compute.tools.operations import Operations, view
from ack_compute.tools.plans import ClusterPlan
from tests.helpers.waiting import eventually, finished

PLAN = ClusterPlan(edition="pro", instance_types=["ecs.g7.xlarge"], node_count=1, zone="cn-hangzhou-h", hours=1)


@pytest.fixture
def runtime(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> Runtime:
    return runtime_on(world)


def canceller(runtime: Runtime) -> Canceller:
    return Canceller(runtime.operations, runtime.ownership, runtime.targets, runtime.cleaner)


def quote(runtime: Runtime) -> str:
    est = estimate_cost(PLAN, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
    assert est.quote_token
    return est.quote_token


def test_a_create_cancelled_at_once_makes_nothing(runtime: Runtime, world: SandboxCloud) -> None:
    started = runtime.clusters.ensure("acf-cancel-now", plan=PLAN, quote_token=quote(runtime))
    assert started.operation_id
    out = canceller(runtime).cancel(started.operation_id)
    assert out.status == "cancelled" and out.cleaned_up == out.left == [] and out.cleanup_operation_id is None, out
    assert out.next_step == "Nothing is left to do."
    assert not {"CreateCluster", "CreateVpc"} & set(world.counts())
    again = runtime.clusters.ensure("acf-cancel-now")
    assert again.status == "quote_required", "the name is free again"


def test_a_create_cancelled_before_the_cluster_exists_cleans_up_its_network(
    runtime: Runtime, world: SandboxCloud
) -> None:
    world.inject("CreateVpc", Fault.delay(1.0))
    started = runtime.clusters.ensure("acf-cancel-early", plan=PLAN, quote_token=quote(runtime))
    assert started.operation_id
    eventually(lambda: "CreateVpc" in world.counts(), timeout=10)  # cancel while its VPC is made
    out = canceller(runtime).cancel(started.operation_id)
    assert out.status == "cancelled" and out.left == [], out
    assert "CreateCluster" not in world.counts() and world.clusters() == []
    seen = view(runtime.operations.get(started.operation_id))
    assert (seen.state, seen.outcome) == ("done", "cancelled") and "was stopped" in (seen.error or ""), seen
    assert out.cleanup_operation_id and [c.split()[0] for c in out.cleaned_up] == ["vpc"], out
    assert finished(runtime, out.cleanup_operation_id).state == "succeeded"
    assert all(v.deleted is not None for v in world.vpcs()) and all(s.deleted is not None for s in world.vswitches())


def test_a_create_cancelled_after_the_cloud_has_the_cluster_leaves_it_with_the_cleanup_call(
    runtime: Runtime, world: SandboxCloud
) -> None:
    world.time_scale = 30  # the control plane takes about 12 s: cancel while the cluster is initial
    started = runtime.clusters.ensure("acf-cancel-late", plan=PLAN, quote_token=quote(runtime))
    assert started.operation_id
    eventually(world.clusters, timeout=20)
    (cluster,) = world.clusters()
    out = canceller(runtime).cancel(started.operation_id)
    assert out.status == "cancelled" and out.cleanup_operation_id is None, out
    assert out.left[0] == f"cluster acf-cancel-late ({cluster.cluster_id}) exists in the cloud and bills until deleted"
    assert out.next_step == (
        "To remove what is left, show the person and call "
        f'cleanup(target="operation", operation_id="{started.operation_id}", dry_run=false).'
    )
    assert world.counts().get("DeleteCluster", 0) == 0
    status = runtime.operations.get(started.operation_id)
    assert status.cancelled and status.state == "failed"


def test_a_running_job_is_deleted_and_reads_cancelled(runtime: Runtime, world: SandboxCloud) -> None:
    cluster = world.plant_cluster("acf-cancel-job", nodes=1)
    started = runtime.jobs.start(JobRequest(cluster=cluster, script="echo started\nsleep 30\necho never\n"))
    assert started.operation_id
    eventually(lambda: runtime.operations.get(started.operation_id).stage == "Running", timeout=20)
    began = time.monotonic()
    out = canceller(runtime).cancel(started.operation_id)
    assert time.monotonic() - began < 15, "the watch stops at the Job's deletion, not at its deadline"
    assert out.status == "cancelled" and out.log == "started\n", out
    # The script's ConfigMap is owned by the Job, so the garbage collector may remove it before we ask.
    assert out.cleaned_up[0] == f"Job default/{started.job_name} (and its pods)", out
    access = runtime.targets.access(runtime.targets.resolve(cluster))
    try:
        assert KubeWorkloads(access).read_job("default", started.job_name or "") is None
    finally:
        access.close()
    seen = view(runtime.operations.get(started.operation_id))
    assert (seen.state, seen.outcome) == ("done", "cancelled"), seen
    (row,) = [r for r in runtime.ownership.all() if r.kind == "job"]
    assert row.state == "deleted"


def test_only_the_owner_or_an_admin_cancels(runtime: Runtime, world: SandboxCloud) -> None:
    cluster = world.plant_cluster("acf-cancel-owner", nodes=1)
    with acting_as(Caller(subject="alice", admin=False)):
        started = runtime.jobs.start(JobRequest(cluster=cluster, script="sleep 20\n"))
    assert started.operation_id
    with acting_as(Caller(subject="bob", admin=False)), pytest.raises(AckComputeError, match="No operation"):
        canceller(runtime).cancel(started.operation_id)
    assert runtime.operations.get(started.operation_id).state == "running"
    with acting_as(Caller(subject="ops", admin=True)):
        assert canceller(runtime).cancel(started.operation_id).status == "cancelled"
        again = canceller(runtime).cancel(started.operation_id)
    assert again.status == "already_done" and "already ended (cancelled)" in again.message


def test_a_cancel_asked_while_no_server_runs_it_is_never_resumed(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    with ledger.transaction() as db:  # left running by a process that is gone
        db.execute(
            "INSERT INTO operations (operation_id, kind, state, params_json, owner_pid, created_at, updated_at)"
            " VALUES ('op-0123456789abcdef', 'cleanup', 'running', '{}', 999999999, 0, 0)"
        )
    assert Operations(ledger).request_cancel("op-0123456789abcdef").cancel_requested
    ran: list[str] = []
    assert Operations(ledger).resume_all("cleanup", lambda ctx: ran.append(ctx.operation_id) or {}) == []
    status = Operations(ledger).get("op-0123456789abcdef")
    assert ran == [] and status.cancelled and status.error == "Cancelled by the operator before it could resume."
    assert view(status).outcome == "cancelled"
