"""cleanup against the sandbox: what this server created goes, newest first; nothing else is touched."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kubernetes import client

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.tools.cleanup import STORED, CleanupParams, CleanupReport, CleanupRequest
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.identity import Caller, acting_as
from ack_compute.tools.job_spec import JobRequest
from ack_compute.tools.ownership import MANAGED_BY, OPERATION_TAG, Claim
from ack_compute.tools.plans import ClusterPlan
from tests.helpers.waiting import settle

PLAN = ClusterPlan(instance_types=["ecs.g7.xlarge"], node_count=1, zone="cn-hangzhou-h", hours=1)


@pytest.fixture
def runtime(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> Runtime:
    return runtime_on(world)


def finish(runtime: Runtime, operation_id: str, timeout: float = 120) -> dict:
    status = settle(runtime, operation_id, timeout)
    assert status.state == "succeeded", (status.stage, status.error)
    return status.result or {}


def create_cluster(runtime: Runtime, name: str = "acf-ours") -> str:
    est = estimate_cost(PLAN, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
    outcome = runtime.clusters.ensure(name, plan=PLAN, quote_token=est.quote_token)
    return finish(runtime, outcome.operation_id or "")["cluster_id"]


def clean(runtime: Runtime, **fields: object) -> CleanupReport:
    report = runtime.cleaner.start(CleanupRequest(dry_run=False, **fields))  # type: ignore[arg-type]
    if report.operation_id:
        return CleanupReport.model_validate(finish(runtime, report.operation_id))
    return report


def live(world: SandboxCloud) -> dict[str, set[str]]:
    return {
        "clusters": {c.cluster_id for c in world.clusters() if c.state not in ("deleted",)},
        "vpcs": {v.vpc_id for v in world.vpcs() if v.deleted is None},
        "vswitches": {s.vswitch_id for s in world.vswitches() if s.deleted is None},
    }


def test_dry_run_plans_then_cleanup_removes_only_ours(runtime: Runtime, world: SandboxCloud) -> None:
    foreign = world.plant_cluster("acf-someone-else", nodes=1)  # acf- named, but not ours
    foreign_vpc = world.plant_vpc("acf-vpc-lookalike")
    reused = world.plant_cluster("shared-team", nodes=1)
    assert runtime.clusters.ensure("shared-team").status == "reused"
    ours = create_cluster(runtime)
    job = runtime.jobs.start(JobRequest(cluster=ours, script="sleep 30"))
    core = client.BatchV1Api(runtime.targets.access(runtime.targets.resolve(ours)).api_client())
    core.create_namespaced_job(
        "default",
        {
            "metadata": {"name": "acf-job-not-ours"},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
                    }
                }
            },
        },
    )
    before = live(world)

    plan = runtime.cleaner.plan(CleanupRequest())
    assert plan.dry_run and plan.status == "planned"
    order = [(i.kind, i.action) for i in plan.items]
    assert order[0] == ("job", "delete")
    assert [k for k, a in order if a == "delete"] == ["job", "cluster", "vswitch", "vpc"]
    kept = {i.cloud_id: i.reason for i in plan.items if i.action == "keep"}
    assert reused in kept and "reused" in kept[reused]
    assert plan.hourly_stops > 0 and plan.currency == "CNY"
    assert live(world) == before, "a dry run changes nothing"

    done = clean(runtime)
    assert done.status == "done", done.items
    after = live(world)
    assert ours not in after["clusters"]
    assert {foreign, reused} <= after["clusters"] and foreign_vpc in after["vpcs"]
    ours_network = {
        r.cloud_id for r in runtime.ownership.all() if r.kind in ("vpc", "vswitch") and r.origin == "created"
    }
    assert ours_network and not ours_network & (after["vpcs"] | after["vswitches"])
    assert before["vpcs"] - ours_network <= after["vpcs"], "every VPC that is not ours survives"
    assert {r.state for r in runtime.ownership.all() if r.origin == "created"} == {"deleted"}
    assert job.job_name
    again = runtime.cleaner.plan(CleanupRequest())
    assert all(i.action == "keep" for i in again.items), "only the reused cluster is left, and it is kept"


def test_a_selector_cleans_up_only_what_it_names_and_a_typo_deletes_nothing(
    runtime: Runtime, world: SandboxCloud
) -> None:
    """`cluster=x` with no target used to fall to target=all and delete every cluster this server made; a name one
    letter off answered "nothing live", which an agent reads as all clean while the rest bills on."""
    kept, dropped = create_cluster(runtime, "acf-keep"), create_cluster(runtime, "acf-drop")

    typo = clean(runtime, cluster="acf-dorp")
    assert (typo.status, typo.items) == ("nothing_to_do", [])
    assert typo.message.startswith(
        "Nothing this server created for you matches cluster acf-dorp; nothing was deleted. Live now: "
    )
    assert f"cluster acf-drop ({dropped})" in typo.message and f"cluster acf-keep ({kept})" in typo.message
    assert {kept, dropped} <= live(world)["clusters"]

    done = clean(runtime, cluster="acf-drop")
    assert done.status == "done" and [i.cloud_id for i in done.items if i.kind == "cluster"] == [dropped]
    assert dropped not in live(world)["clusters"] and kept in live(world)["clusters"]

    again = clean(runtime, cluster="acf-drop")
    assert again.status == "nothing_to_do"
    assert again.message == (
        "Nothing live matches cluster acf-drop: what it names was deleted already. "
        f"Live now: cluster acf-keep ({kept})."
    )
    with pytest.raises(AckComputeError) as mixed:
        CleanupRequest(operation_id="op-0123456789abcdef", cluster="acf-keep")
    assert mixed.value.text.startswith("cleanup got operation_id and cluster: nothing was deleted. Give one of")
    there = CleanupRequest(cluster="acf-keep", workload="web")  # a workload with its cluster: that one alone
    assert (there.target, there.selection()) == ("workload", "workload web on cluster acf-keep")
    assert clean(runtime, cluster="acf-keep", workload="web").message.startswith(
        "Nothing this server created for you matches workload web on cluster acf-keep; nothing was deleted."
    )
    job = runtime.jobs.start(JobRequest(cluster=kept, script="sleep 60")).job_name
    elsewhere = runtime.cleaner.plan(CleanupRequest(cluster=dropped, workload=job))
    assert (elsewhere.status, elsewhere.items) == ("nothing_to_do", []), "its name, but on another cluster"
    here = runtime.cleaner.plan(CleanupRequest(cluster="acf-keep", workload=job))  # the cluster by name
    assert [(i.kind, i.action) for i in here.items] == [("job", "delete")], here.items
    with pytest.raises(AckComputeError) as crossed:
        CleanupRequest(target="workload", cluster="acf-keep")
    assert crossed.value.message == "cleanup got cluster with target=workload: nothing was deleted."
    assert kept in live(world)["clusters"]


def test_a_crash_between_create_and_record_leaks_nothing(runtime: Runtime, world: SandboxCloud) -> None:
    ours = create_cluster(runtime)
    with runtime.ledger.transaction() as db:  # as if the process died before the ids were written down
        db.execute("UPDATE resources SET cloud_id = NULL, state = 'intent'")
    report = clean(runtime)
    assert report.status == "done", report.items
    assert ours not in live(world)["clusters"]
    assert not live(world)["vswitches"] and not live(world)["vpcs"], [
        (i.kind, i.action, i.reason) for i in report.items
    ]


def test_rows_whose_tags_disagree_are_kept(runtime: Runtime, world: SandboxCloud) -> None:
    ours = create_cluster(runtime)
    foreign = world.plant_cluster("acf-theirs", nodes=1)
    with runtime.ledger.transaction() as db:  # a ledger row pointing at someone else's cluster
        db.execute(
            "UPDATE resources SET cloud_id = :foreign WHERE cloud_id = :ours", {"foreign": foreign, "ours": ours}
        )
    plan = runtime.cleaner.plan(CleanupRequest(target="cluster", cluster=foreign))
    (item,) = [i for i in plan.items if i.kind == "cluster"]
    assert item.action == "keep" and "tags" in item.reason
    clean(runtime, target="cluster", cluster=foreign)
    assert foreign in live(world)["clusters"]


def test_deletion_protection_is_a_clear_refusal(runtime: Runtime, world: SandboxCloud) -> None:
    op = "op-0123456789abcdef"
    protected = world.plant_cluster(
        "acf-protected", nodes=1, deletion_protection=True, tags={MANAGED_BY[0]: MANAGED_BY[1], OPERATION_TAG: op}
    )
    row = runtime.ownership.claim(Claim(op, "cluster", "cn-hangzhou", "acf-protected"))
    runtime.ownership.update(row, state="ready", cloud_id=protected)
    report = clean(runtime)
    (item,) = report.items
    assert item.action == "blocked" and "deletion protection" in item.reason
    assert report.status in ("partial", "done") and protected in live(world)["clusters"]
    assert "DeleteCluster" not in world.counts()


def test_delete_failed_is_reported_and_a_rerun_finishes(runtime: Runtime, world: SandboxCloud) -> None:
    ours = create_cluster(runtime)
    world.fail_next_cluster_deletion()
    first = clean(runtime)
    assert first.status == "partial"
    (failed,) = [i for i in first.items if i.kind == "cluster"]
    assert failed.action == "blocked" and "failed" in failed.outcome and "cleanup again" in failed.outcome
    network = [i for i in first.items if i.kind in ("vpc", "vswitch")]
    assert all(i.action == "blocked" for i in network), "the network stays while the cluster still uses it"
    second = clean(runtime)
    assert second.status == "done", second.items
    assert ours not in live(world)["clusters"] and not live(world)["vpcs"]


def test_cleanup_after_a_job_deletes_the_cluster_this_server_created(runtime: Runtime, world: SandboxCloud) -> None:
    ours = create_cluster(runtime)
    started = runtime.jobs.start(JobRequest(cluster=ours, script="echo last words; exit 4", cleanup_after=True))
    result = finish(runtime, started.operation_id or "")
    assert result["status"] == "failed" and result["exit_code"] == 4 and "last words" in result["log"]
    assert result["cleanup_operation_id"], result["notes"]
    report = CleanupReport.model_validate(finish(runtime, result["cleanup_operation_id"]))
    assert report.status == "done", report.items
    assert ours not in live(world)["clusters"] and not live(world)["vpcs"] and not live(world)["vswitches"]


def test_cleanup_after_keeps_a_reused_cluster(runtime: Runtime, world: SandboxCloud) -> None:
    theirs = world.plant_cluster("team-cluster", nodes=1)
    result = finish(
        runtime, runtime.jobs.start(JobRequest(cluster=theirs, script="echo hi", cleanup_after=True)).operation_id or ""
    )
    assert result["status"] == "succeeded" and result["cleanup_operation_id"] is None
    assert any("is kept" in n for n in result["notes"]), result["notes"]
    assert theirs in live(world)["clusters"]


def test_a_cluster_running_someone_elses_job_is_kept_until_it_is_theirs_no_more(
    runtime: Runtime, world: SandboxCloud
) -> None:
    """Alice's cleanup must not pull her cluster from under Bob's running job; an admin's cleanup takes all."""
    alice, bob, admin = Caller(subject="alice", admin=False), Caller(subject="bob", admin=False), Caller(subject="ops")
    with acting_as(alice):
        cluster = create_cluster(runtime, "acf-alices")
    with acting_as(bob):
        job = runtime.jobs.start(JobRequest(cluster=cluster, script="sleep 60"))
        assert job.status == "running", job.message
    with acting_as(alice):
        plan = runtime.cleaner.plan(CleanupRequest(target="all"))
        (kept,) = [i for i in plan.items if i.kind == "cluster"]
        assert kept.action == "blocked" and "still in use by 1 workload of other callers" in kept.reason, kept.reason
        assert "bob" not in kept.reason and job.job_name not in kept.reason, "whose and which are bob's alone"
        assert all(i.action != "delete" for i in plan.items if i.kind in ("vpc", "vswitch"))
        assert not any(i.kind == "job" for i in plan.items), "bob's job is not alice's to see"
        report = clean(runtime)
        assert cluster in live(world)["clusters"] and report.status != "done"
    with acting_as(admin):
        plan = runtime.cleaner.plan(CleanupRequest(target="all"))
        assert {i.kind for i in plan.items if i.action == "delete"} >= {"job", "cluster", "vpc", "vswitch"}
        assert clean(runtime).status == "done"
    assert live(world)["clusters"] == set()


def test_a_stored_cleanup_resumes_with_the_selection_it_was_planned_with() -> None:
    """An earlier version stored `target=all` beside a cluster (the cluster was ignored then): on resume after an
    upgrade the request is read as stored, so the rows the person approved are all deleted, and a pair of selectors
    the caller may no longer send does not stop a cleanup half-way."""
    old = {"request": {"target": "all", "cluster": "acf-x"}, "rows": [1, 2, 3]}
    assert CleanupParams.model_validate(old, context=STORED).request.target == "all"
    mixed = {"request": {"target": "operation", "operation_id": "op-0123456789abcdef", "cluster": "acf-x"}, "rows": [1]}
    assert CleanupParams.model_validate(mixed, context=STORED).request.target == "operation"
    with pytest.raises(AckComputeError):  # the same, given by a caller now
        CleanupParams.model_validate(mixed)
