"""The lease reaper against the sandbox, through the real SDKs and the real kubernetes client: a lease past its end
(plus grace) deletes exactly what cleanup would for it, as its owner; warn only reports; off does nothing; a failed
delete is retried later; a reused cluster is never touched; a resource already gone releases its lease.

The reaper's clock is moved past the end instead of waiting for it (tests/server/test_lease_reaper.py waits for a
real one through a real server process)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.tools import receipts
from ack_compute.tools.cleanup import CleanupRequest
from ack_compute.tools.deploy_acs import DeployRequest
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.identity import Caller, acting_as
from ack_compute.tools.job_spec import JobRequest
from ack_compute.tools.leases import Lease, Leases
from ack_compute.tools.plans import AcsPlan, ClusterPlan, NodePoolPlan
from ack_compute.tools.reaper import Reaper, ReaperSettings
from tests.helpers.waiting import finished

PLAN = ClusterPlan(instance_types=["ecs.g7.xlarge"], node_count=1, zone="cn-hangzhou-h", hours=1)
ALICE = Caller(subject="alice", admin=False)
BOB = Caller(subject="bob", admin=False)
HOUR = 3600.0


@pytest.fixture
def runtime(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> Runtime:
    # The longest kubeconfig ACK issues: at 600x, the default hour is 6 s, too short on a loaded machine.
    return runtime_on(world, kubeconfig_minutes=4320)


class Later:
    """The reaper's clock: real time moved forward by `ahead` seconds (a lease's end without waiting for it)."""

    def __init__(self, ahead: float) -> None:
        self.ahead = ahead

    def __call__(self) -> float:
        return time.time() + self.ahead


def reaper(runtime: Runtime, ahead: float, **settings: Any) -> Reaper:
    """The runtime's reaper (what `serve` runs), looking from `ahead` seconds in the future."""
    clock = Later(ahead)
    built = runtime.reaper()
    return Reaper(
        leases=Leases(runtime.ledger, clock),
        ownership=built.ownership,
        operations=built.operations,
        cleaner=built.cleaner,
        pools=built.pools,
        settings=ReaperSettings(**{"grace_seconds": 600, "check_seconds": 30, **settings}),
        clock=clock,
    )


def create_cluster(runtime: Runtime, name: str, plan: ClusterPlan = PLAN) -> str:
    est = estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
    outcome = runtime.clusters.ensure(name, plan=plan, quote_token=est.quote_token)
    status = finished(runtime, outcome.operation_id or "", 120)
    assert status.state == "succeeded", status.error
    return str((status.result or {})["cluster_id"])


def lease_of(runtime: Runtime, cluster_id: str) -> Lease:
    (row,) = [r for r in runtime.ownership.all() if r.kind == "cluster" and r.cloud_id == cluster_id]
    lease = Leases(runtime.ledger).get(row.resource_id)
    assert lease is not None
    return lease


def ending_finished(runtime: Runtime, reaper: Reaper, started: list[str]) -> None:
    """Each end operation runs to its end, then the reaper's next look settles its lease."""
    for operation_id in started:
        finished(runtime, operation_id, 120)
    reaper.tick()


def live_clusters(world: SandboxCloud) -> set[str]:
    return {c.cluster_id for c in world.clusters() if c.state != "deleted"}


def events(runtime: Runtime, event: str) -> list[receipts.Receipt]:
    return [r for r in receipts.since(runtime.ledger) if r.event == event]


def test_a_due_cluster_lease_deletes_the_cluster_and_its_network_as_its_owner(
    runtime: Runtime, world: SandboxCloud
) -> None:
    with acting_as(ALICE):
        ours = create_cluster(runtime, "acf-lease-alice")
    with acting_as(BOB):
        bobs = create_cluster(runtime, "acf-lease-bob", PLAN.model_copy(update={"hours": 5}))
    lease = lease_of(runtime, ours)
    assert (lease.state, lease.owner) == ("active", "alice")
    # Bob's cluster reused the network alice's operation made: cleanup keeps what is still in use (after a short
    # wait here), as it would for alice herself.
    runtime.cleaner.settings.dependency_retry_s = 1

    early = reaper(runtime, ahead=HOUR + 590)  # within the grace: nothing yet
    assert early.tick() == [] and lease_of(runtime, ours).state == "active"

    due = reaper(runtime, ahead=HOUR + 601)
    started = due.tick()
    assert len(started) == 1 and due.tick() == [], "one end operation per lease, however often it looks"
    taken = lease_of(runtime, ours)
    assert (taken.state, taken.end_operation_id) == ("ending", started[0])
    status = runtime.operations.get(started[0])
    assert (status.kind, status.owner) == ("cleanup", "alice"), "it acts as the lease's owner"
    ending_finished(runtime, due, started)

    assert ours not in live_clusters(world) and bobs in live_clusters(world)
    ended = lease_of(runtime, ours)
    assert ended.state == "ended" and ended.ended_at and "deleted by " + started[0] in ended.note
    assert world.cluster(bobs).state == "running", "bob's cluster and the network under it are untouched"
    (receipt,) = events(runtime, "lease_end")
    assert (receipt.caller, receipt.resource_id, receipt.quote_id) == ("alice", lease.resource_id, lease.quote_id)
    assert receipt.body["why"] == f"lease ended at {lease.ends_iso()} + grace 600 s"
    assert receipt.body["end_operation_id"] == started[0]
    assert ("cluster", ours) in {(d["kind"], d["cloud_id"]) for d in receipt.body["deleting"]}
    assert lease_of(runtime, bobs).state == "active", "bob's lease runs two more hours"


def test_a_reused_cluster_has_no_lease_and_is_never_touched(runtime: Runtime, world: SandboxCloud) -> None:
    shared = world.plant_cluster("acf-team-shared", nodes=1)
    assert runtime.clusters.ensure("acf-team-shared").status == "reused"
    (row,) = [r for r in runtime.ownership.all() if r.cloud_id == shared]
    assert row.origin == "reused" and Leases(runtime.ledger).get(row.resource_id) is None
    world.reset_counts()
    far = reaper(runtime, ahead=10_000 * HOUR, grace_seconds=0)
    assert far.tick() == []
    assert world.cluster(shared).state == "running"
    assert not {a for a in world.counts() if a.startswith("Delete")}
    assert runtime.ledger.query("SELECT COUNT(*) AS n FROM operations WHERE kind = 'cleanup'")[0]["n"] == 0


def test_warn_reports_once_and_deletes_nothing_and_off_does_nothing(runtime: Runtime, world: SandboxCloud) -> None:
    ours = create_cluster(runtime, "acf-lease-warn")
    world.reset_counts()
    assert reaper(runtime, ahead=2 * HOUR, policy="off").tick() == []
    assert lease_of(runtime, ours).state == "active" and not events(runtime, "lease_warning")

    warn = reaper(runtime, ahead=2 * HOUR, policy="warn")
    assert warn.tick() == [] and warn.tick() == []
    (warning,) = events(runtime, "lease_warning")
    lease = lease_of(runtime, ours)
    assert lease.state == "active" and lease.note == f"ended at {lease.ends_iso()}; lease_policy=warn: still running"
    assert warning.body["still_running"] == f"cluster {ours}" and warning.caller == ""
    assert ours in live_clusters(world) and not {a for a in world.counts() if a.startswith("Delete")}
    assert not events(runtime, "lease_end")


def test_a_failed_delete_is_retried_after_a_wait_and_then_ends_the_lease(runtime: Runtime, world: SandboxCloud) -> None:
    ours = create_cluster(runtime, "acf-lease-retry")
    world.fail_next_cluster_deletion()
    clock = reaper(runtime, ahead=2 * HOUR, check_seconds=30)
    first = clock.tick()
    ending_finished(runtime, clock, first)
    lease = lease_of(runtime, ours)
    assert lease.state == "active" and lease.attempts == 1, lease.note
    assert "attempt 1 failed" in lease.note and "retried in 60 s" in lease.note
    assert lease.retry_at is not None and 59 < lease.retry_at - (time.time() + 2 * HOUR) <= 60
    assert clock.tick() == [], "not again before its retry time"

    later = reaper(runtime, ahead=2 * HOUR + 61)
    second = later.tick()
    assert len(second) == 1 and second != first
    ending_finished(runtime, later, second)
    assert lease_of(runtime, ours).state == "ended"
    assert ours not in live_clusters(world)
    assert [r.body["attempt"] for r in events(runtime, "lease_end")] == [1, 2]


def test_cleanup_by_the_person_releases_the_lease_and_the_reaper_leaves_it(runtime: Runtime) -> None:
    ours = create_cluster(runtime, "acf-lease-released")
    report = runtime.cleaner.start(CleanupRequest(target="cluster", cluster=ours, dry_run=False))
    finished(runtime, report.operation_id or "", 120)
    lease = lease_of(runtime, ours)
    assert lease.state == "released" and "deleted" in lease.note and lease.ended_at
    assert reaper(runtime, ahead=2 * HOUR, grace_seconds=0).tick() == []
    assert not events(runtime, "lease_end")


def test_two_reapers_on_one_ledger_start_one_end_operation(
    runtime: Runtime, world: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    ours = create_cluster(runtime, "acf-lease-race")
    other = runtime_on(world)  # another server's services on the same state dir
    reapers = [reaper(runtime, ahead=2 * HOUR), reaper(other, ahead=2 * HOUR)]
    started: list[list[str]] = [[], []]
    gate = threading.Barrier(2)

    def look(n: int) -> None:
        gate.wait()
        started[n] = reapers[n].tick()

    threads = [threading.Thread(target=look, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(len(s) for s in started) == [0, 1], started
    ops = runtime.ledger.query("SELECT operation_id FROM operations WHERE kind = 'cleanup'")
    assert [r["operation_id"] for r in ops] == started[0] + started[1]
    ending_finished(runtime, reapers[0], started[0] + started[1])
    assert lease_of(runtime, ours).state == "ended" and len(events(runtime, "lease_end")) == 1


def test_a_deployment_lease_ends_its_deployment_and_service_only(runtime: Runtime, world: SandboxCloud) -> None:
    pro = world.plant_cluster("acf-pro", nodes=1, cluster_spec="ack.pro.small", addons={"ack-virtual-node": None})

    def deploy(name: str, hours: float) -> int:
        plan = AcsPlan(replicas=1, vcpu=1, memory_gib=2, hours=hours)
        token = estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
        request = {"cluster": pro, "name": name, "image": "nginx:1.27", "plan": plan, "ports": [80]}
        out = runtime.deployer.deploy(DeployRequest.model_validate({**request, "quote_token": token.quote_token}))
        assert out.status == "deployed", out
        (row,) = [r for r in runtime.ownership.all() if r.kind == "deployment" and r.name.endswith(f"/{name}")]
        return row.resource_id

    web, api = deploy("web", 1), deploy("api", 10)
    due = reaper(runtime, ahead=2 * HOUR)
    started = due.tick()
    assert len(started) == 1
    ending_finished(runtime, due, started)

    access = runtime.targets.access(runtime.targets.resolve(pro))
    apps, core = client.AppsV1Api(access.api_client()), client.CoreV1Api(access.api_client())
    assert {d.metadata.name for d in apps.list_namespaced_deployment("default").items} == {"api"}
    assert {s.metadata.name for s in core.list_namespaced_service("default").items} >= {"api"}
    assert "web" not in {s.metadata.name for s in core.list_namespaced_service("default").items}
    assert world.cluster(pro).state == "running"
    leases = Leases(runtime.ledger)
    assert (leases.get(web).state, leases.get(api).state) == ("ended", "active")  # type: ignore[union-attr]
    (receipt,) = events(runtime, "lease_end")
    assert sorted(d["kind"] for d in receipt.body["deleting"]) == ["deployment", "service"]


def test_a_finished_acs_job_releases_its_lease(runtime: Runtime, world: SandboxCloud) -> None:
    pro = world.plant_cluster("acf-pro", cluster_spec="ack.pro.small", addons={"ack-virtual-node": None})
    plan = AcsPlan(vcpu=1, memory_gib=2, hours=1)
    asked = runtime.jobs.start(JobRequest(cluster=pro, script="echo x", compute="acs", acs=plan))
    assert asked.plan_to_quote is not None
    token = estimate_cost(
        asked.plan_to_quote, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes
    )
    started = runtime.jobs.start(
        JobRequest(cluster=pro, script="echo done", compute="acs", acs=plan, quote_token=token.quote_token)
    )
    assert finished(runtime, started.operation_id or "", 120).state == "succeeded"
    (row,) = [r for r in runtime.ownership.all() if r.kind == "job"]
    lease = Leases(runtime.ledger).get(row.resource_id)
    assert row.state == "finished" and lease is not None
    assert lease.state == "released" and "finished" in lease.note
    assert reaper(runtime, ahead=2 * HOUR, grace_seconds=0).tick() == []


def test_a_server_that_died_after_taking_a_lease_gives_it_back(runtime: Runtime) -> None:
    ours = create_cluster(runtime, "acf-lease-orphan")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with runtime.ledger.transaction() as db:  # as a server left it when killed between the take and the cleanup
        db.execute("UPDATE leases SET state = 'ending', ender_pid = :pid", {"pid": gone.pid})
    looking = reaper(runtime, ahead=2 * HOUR)
    assert looking.tick() == []
    lease = lease_of(runtime, ours)
    assert (lease.state, lease.attempts) == ("active", 1)
    assert "stopped before its cleanup started" in lease.note
    retried = reaper(runtime, ahead=2 * HOUR + 61).tick()
    assert len(retried) == 1 and lease_of(runtime, ours).end_operation_id == retried[0]


def test_a_lease_taken_by_a_replica_whose_hold_lapsed_is_given_back(runtime: Runtime) -> None:
    """Across machines a pid says nothing: a lease being ended is held by a replica until `ender_until`. While the
    hold lasts, nobody else touches it; once it lapsed with no end operation started, it is tried again."""
    ours = create_cluster(runtime, "acf-lease-replica")
    with runtime.ledger.transaction() as db:  # as a replica on another machine left it when its pod died
        db.execute(
            "UPDATE leases SET state = 'ending', ender = 'r-otherpod0000', ender_until = :until",
            {"until": time.time() + 2 * HOUR + 30},
        )
    assert reaper(runtime, ahead=2 * HOUR).tick() == []
    assert lease_of(runtime, ours).state == "ending", "its hold still runs: the other replica may yet start it"
    assert reaper(runtime, ahead=2 * HOUR + 31).tick() == []
    lease = lease_of(runtime, ours)
    assert (lease.state, lease.attempts, lease.ender) == ("active", 1, None)
    assert "stopped before its cleanup started" in lease.note


def test_a_growth_lease_gives_back_its_nodes_and_keeps_the_pool(runtime: Runtime, world: SandboxCloud) -> None:
    cluster = world.plant_cluster("acf-pools", nodes=1)

    def pool_plan(nodes: int, hours: float) -> tuple[NodePoolPlan, str]:
        plan = NodePoolPlan(cluster=cluster, instance_types=["ecs.g7.xlarge"], node_count=nodes, hours=hours)
        est = estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
        assert est.quote_id, est
        _kind, paid = runtime.quotes.plan_of(est.quote_id)
        return NodePoolPlan.model_validate(paid), est.quote_id

    plan, ref = pool_plan(1, 10)
    made = runtime.node_pools.ensure(cluster, "work", plan=plan, quote_token=ref)
    assert finished(runtime, made.operation_id or "", 120).state == "succeeded"
    grow, ref = pool_plan(1, 1)  # one more node, for one hour
    grown = runtime.node_pools.ensure(cluster, "work", node_count=2, plan=grow, quote_token=ref)
    assert finished(runtime, grown.operation_id or "", 120).state == "succeeded"
    (growth,) = [r for r in runtime.ownership.all() if r.details.get("growth_of")]
    (pool_row,) = [r for r in runtime.ownership.all() if r.kind == "node_pool" and not r.details.get("growth_of")]

    due = reaper(runtime, ahead=2 * HOUR)
    started = due.tick()
    assert len(started) == 1 and runtime.operations.get(started[0]).kind == "ensure_node_pool"
    ending_finished(runtime, due, started)

    leases = Leases(runtime.ledger)
    assert leases.get(growth.resource_id).state == "ended"  # type: ignore[union-attr]
    assert leases.get(pool_row.resource_id).state == "active", "the pool's own lease runs on"  # type: ignore[union-attr]
    pool = runtime.node_pools.pool_of(runtime.ownership.get(pool_row.resource_id))
    assert pool is not None and pool.desired_size == 1 and pool.state == "active"
    assert runtime.ownership.get(growth.resource_id).state == "deleted"
    (receipt,) = events(runtime, "lease_end")
    assert receipt.body["deleting"][0]["nodes"] == 1
