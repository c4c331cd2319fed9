"""Crash recovery (issue 5): SIGKILL the server at each point of a create, restart, and nothing leaks.

The sandbox cloud runs in this process; the "server" is a separate Python process (crash_driver.py) that
starts the create (or a job) and is killed with SIGKILL at a point recognised from the sandbox's own state.
A restarted server (a fresh Runtime on the same state dir here, or a real `ack-compute-mcp serve`) resumes
the orphaned operation from the cloud's state, and cleanup then leaves zero resources this server created,
while planted foreign resources (an `acf-` cluster, a VPC, a Job) are untouched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client

from ack_compute.cloud.kube_workloads import KubeWorkloads
from ack_compute.sandbox import Fault, SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.tools.cleanup import CleanupReport, CleanupRequest
from ack_compute.tools.deploy_acs import DeployOutcome
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.job_spec import RUN_LABEL, JobOutcome
from ack_compute.tools.ownership import MANAGED_BY, OPERATION_TAG, POOL_OPERATION_TAG, OwnedResource
from ack_compute.tools.plans import ClusterPlan
from tests.helpers.processes import EventProcess
from tests.helpers.waiting import eventually, finished

pytestmark = pytest.mark.slow

T = TypeVar("T")
DRIVER = Path(__file__).with_name("crash_driver.py")
# A create takes 360 s of cloud time (PreCheck 20, control plane 240, add-ons 100) and nodes boot in 120 s:
# at 60x that is 6 s and 2 s, long enough to aim a kill at one stage, short enough for a test.
TIME_SCALE = 60.0
PLAN = ClusterPlan(edition="pro", instance_types=["ecs.g7.xlarge"], node_count=2, zone="cn-hangzhou-h", hours=1)
NAME = "acf-crash"
FOREIGN_OPERATION = "op-f0f0f0f0f0f0f0f0"  # a sibling server's operation: same managed-by tag, not ours
FOREIGN_JOB = "acf-job-not-ours"


# -- helpers -------------------------------------------------------------------------------------------------


def row_of(runtime: Runtime, kind: str) -> OwnedResource | None:
    return next((r for r in runtime.ownership.all() if r.kind == kind and r.origin == "created"), None)


def ours(world: SandboxCloud) -> list[Any]:
    """Clusters this server made (everything not planted), deleted ones included."""
    return [c for c in world.clusters() if not c.planted]


def tags_of(resource: Any) -> dict[str, str]:
    return {t.key: t.value for t in resource.tags}


@dataclass
class Foreign:
    """Resources planted as someone else's; cleanup must leave every one of them as it was."""

    cluster_id: str
    vpc_id: str
    vswitch_id: str


@dataclass
class Crash:
    world: SandboxCloud
    state_dir: Path
    spawn: Callable[..., EventProcess]
    runtime: Callable[[], Runtime]
    foreign: Foreign
    env: dict[str, str]


@pytest.fixture
def crash(world: SandboxCloud, tmp_path: Path, runtime_on: Callable[..., Runtime]) -> Iterator[Crash]:
    world.time_scale = TIME_SCALE
    state_dir = tmp_path
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": world.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": world.access_key_secret,
    }
    planted = plant_foreign(world, runtime_on(world))
    children: list[EventProcess] = []

    def spawn(mode: str, **extra: str) -> EventProcess:
        args = [
            sys.executable,
            str(DRIVER),
            mode,
            "--state-dir",
            str(state_dir),
            "--endpoint",
            world.endpoint,
            "--name",
            NAME,
            "--plan",
            PLAN.model_dump_json(),
        ]
        for key, value in extra.items():
            args += [f"--{key.replace('_', '-')}", value]
        child = EventProcess(args, env, tmp_path / f"driver-{len(children)}.log")
        children.append(child)
        return child

    try:
        yield Crash(world, state_dir, spawn, lambda: runtime_on(world), planted, env)
    finally:
        for child in children:
            child.close()
    for log in tmp_path.glob("*.log"):
        assert world.access_key_secret not in log.read_text(), f"the secret leaked into {log.name}"


def plant_foreign(world: SandboxCloud, runtime: Runtime) -> Foreign:
    tags = {MANAGED_BY[0]: MANAGED_BY[1], OPERATION_TAG: FOREIGN_OPERATION}
    cluster_id = world.plant_cluster("acf-foreign", nodes=1, tags=tags)
    vpc_id = world.plant_vpc("acf-vpc-team", cidr_block="10.0.0.0/16", tags=tags)
    vswitch_id = world.plant_vswitch(vpc_id, zone_id="cn-hangzhou-h", name="acf-vsw-cn-hangzhou-h", tags=tags)
    access = runtime.targets.access(runtime.targets.resolve(cluster_id))
    try:
        client.BatchV1Api(access.api_client()).create_namespaced_job(
            "default",
            {
                "metadata": {"name": FOREIGN_JOB},
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
    finally:
        access.close()
    return Foreign(cluster_id=cluster_id, vpc_id=vpc_id, vswitch_id=vswitch_id)


def clean_up(runtime: Runtime) -> CleanupReport:
    report = runtime.cleaner.start(CleanupRequest(dry_run=False))
    assert report.operation_id, report
    status = finished(runtime, report.operation_id, timeout=90)
    assert status.state == "succeeded", status.error
    done = CleanupReport.model_validate(status.result)
    assert done.status == "done", [(i.kind, i.action, i.reason, i.outcome) for i in done.items]
    return done


def assert_nothing_left(crash: Crash, runtime: Runtime) -> None:
    """Zero resources this server created are left, the ledger says so, and nothing foreign was touched."""
    world, foreign = crash.world, crash.foreign
    left = (
        [c.cluster_id for c in world.clusters() if not c.planted and c.state != "deleted"]
        + [v.vpc_id for v in world.vpcs() if not v.planted and v.deleted is None]
        + [s.vswitch_id for s in world.vswitches() if not s.planted and s.deleted is None]
        + [g.security_group_id for g in world.security_groups() if not g.planted and g.deleted is None]
    )
    assert left == [], f"leaked: {left}"
    rows = runtime.ownership.all()
    assert rows, "the ledger recorded what was created"
    # deleted, or abandoned: a claim whose process died before anything was created
    done = {("created", "deleted"), ("created", "abandoned")}
    assert [(r.kind, r.origin, r.state) for r in rows if (r.origin, r.state) not in done] == []
    assert runtime.cleaner.plan(CleanupRequest()).status == "nothing_to_do"
    again = runtime.cleaner.start(CleanupRequest(dry_run=False))
    assert again.status == "nothing_to_do" and again.operation_id is None, "cleanup is idempotent"
    # Foreign: the sibling's acf- cluster still runs with its network, the tagged VPC stands, their Job is there.
    planted = world.cluster(foreign.cluster_id)
    assert planted.state == "running" and tags_of(planted)[OPERATION_TAG] == FOREIGN_OPERATION
    planted_vpcs = {v.vpc_id: v.deleted for v in world.vpcs() if v.planted}
    planted_vswitches = {s.vswitch_id: s.deleted for s in world.vswitches() if s.planted}
    assert foreign.vpc_id in planted_vpcs and foreign.vswitch_id in planted_vswitches
    assert set(planted_vpcs.values()) == {None} and set(planted_vswitches.values()) == {None}
    assert all(g.deleted is None for g in world.security_groups() if g.planted)
    access = runtime.targets.access(runtime.targets.resolve(foreign.cluster_id))
    try:
        job = client.BatchV1Api(access.api_client()).read_namespaced_job(FOREIGN_JOB, "default")
    finally:
        access.close()
    assert job.metadata.name == FOREIGN_JOB and not job.metadata.deletion_timestamp


def assert_no_other_resumes(runtime: Runtime, *, clusters: list[str], jobs: list[str]) -> None:
    assert runtime.clusters.resume_unfinished() == clusters
    assert runtime.jobs.resume_unfinished() == jobs
    assert runtime.cleaner.resume_unfinished() == []


# -- kill point 1: after the intent row, before CreateCluster returns ------------------------------------------


@pytest.mark.parametrize("restart", ["after_the_held_call_lands", "while_the_call_is_held"])
def test_killed_while_create_cluster_is_in_flight(crash: Crash, restart: str) -> None:
    world = crash.world
    hold = 4.0 if restart == "after_the_held_call_lands" else 8.0
    world.inject("CreateCluster", Fault.delay(hold))  # the call reaches the cloud, the answer is held back
    server = crash.spawn("create")
    op = server.event("cluster")["operation_id"]
    observer = crash.runtime()
    eventually(lambda: world.counts().get("CreateCluster", 0) >= 1, what="CreateCluster to reach the cloud")
    held_since = time.monotonic()
    row = row_of(observer, "cluster")
    assert row is not None and (row.state, row.cloud_id) == ("intent", None) and row.client_token
    assert {r.state for r in observer.ownership.all() if r.kind in ("vpc", "vswitch")} == {"ready"}
    assert ours(world) == [], "the create is held: no cluster yet"
    server.sigkill()
    assert observer.operations.get(op).state == "running", "orphaned, not finished"

    if restart == "after_the_held_call_lands":
        # The call did reach the cloud: the cluster exists, the dead server never learnt its id.
        (landed,) = eventually(lambda: ours(world), timeout=hold + 10, what="the held CreateCluster to land")
        assert tags_of(landed)[OPERATION_TAG] == op
        assert row_of(observer, "cluster").cloud_id is None  # type: ignore[union-attr]
    restarted = crash.runtime()
    assert_no_other_resumes(restarted, clusters=[op], jobs=[])
    status = finished(restarted, op)
    assert status.state == "succeeded", status.error
    result = status.result or {}
    assert result["status"] == "created" and result["ready_nodes"] == PLAN.node_count
    (cluster,) = ours(world)
    assert cluster.cluster_id == result["cluster_id"] and tags_of(cluster)[OPERATION_TAG] == op
    if restart == "after_the_held_call_lands":
        assert world.counts()["CreateCluster"] == 1, "adopted by its operation tag, not created again"
    else:
        # Sent again with the intent row's client token while the first is held: the cloud answers LastTokenProcessing
        # until the first call is done (the resumed operation waits that out), then the cluster the first call made.
        assert world.counts()["CreateCluster"] > 2
    row = row_of(restarted, "cluster")
    assert row is not None and (row.state, row.cloud_id) == ("ready", cluster.cluster_id)

    time.sleep(max(0.0, held_since + hold + 0.5 - time.monotonic()))  # the held call has answered by now
    report = clean_up(restarted)
    assert [i.kind for i in report.items if i.outcome == "deleted"] == ["cluster", "vswitch", "vpc"]
    assert len(ours(world)) == 1, "exactly one cluster was ever created"
    assert_nothing_left(crash, restarted)


# -- kill point 2: the cluster exists but is not running yet; a real `serve` restarts ---------------------------


def test_killed_while_the_cluster_is_initial_and_serve_resumes(crash: Crash, tmp_path: Path) -> None:
    world = crash.world
    server = crash.spawn("create")
    op = server.event("cluster")["operation_id"]
    observer = crash.runtime()

    def recorded_and_initial() -> str | None:
        row = row_of(observer, "cluster")
        found = ours(world)
        if row and row.cloud_id and found and found[0].state == "initial":
            return row.cloud_id
        return None

    cluster_id = eventually(recorded_and_initial, what="the cluster to exist in state initial, its id recorded")
    server.sigkill()
    assert world.cluster(cluster_id).state == "initial", "the kill landed before the cluster ran"
    assert row_of(observer, "cluster").state == "creating"  # type: ignore[union-attr]

    # A production-like restart: `ack-compute-mcp serve` on the same state dir, credentials in its environment.
    env = {
        **crash.env,
        "ACK_COMPUTE_ENDPOINT": world.endpoint,
        "ACK_COMPUTE_PROTOCOL": "http",
        "ACK_COMPUTE_STATE_DIR": str(crash.state_dir),
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "ack_compute.server", "serve"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            status = eventually(
                lambda: (s := observer.operations.get(op)).done and s,
                timeout=60,
                interval=0.2,
                what="the restarted server to finish the create",
            )
            assert serve.poll() is None, "serve keeps serving"
        finally:
            if serve.stdin is not None:
                serve.stdin.close()  # end of the MCP stdio stream: the server exits
            try:
                serve.wait(timeout=10)
            except subprocess.TimeoutExpired:
                serve.kill()
                serve.wait(timeout=10)
    assert f"resumed 1 unfinished operation(s): {op}" in log_path.read_text()
    assert status.state == "succeeded", status.error
    assert (status.result or {})["cluster_id"] == cluster_id and (status.result or {})["ready_nodes"] == 2
    assert world.counts()["CreateCluster"] == 1 and len(ours(world)) == 1

    restarted = crash.runtime()
    assert_no_other_resumes(restarted, clusters=[], jobs=[])
    clean_up(restarted)
    assert_nothing_left(crash, restarted)


# -- kill point 3: running, nodes registered but not Ready -----------------------------------------------------


def test_killed_while_nodes_join(crash: Crash) -> None:
    world = crash.world
    world.stall_next_cluster_nodes()  # they register NotReady and stay so until told otherwise
    server = crash.spawn("create")
    op = server.event("cluster")["operation_id"]
    observer = crash.runtime()

    def waiting_on_nodes() -> str | None:
        found = ours(world)
        if not found or found[0].state != "running":
            return None
        nodes = [n for n in found[0].nodes if n.deleted is None]
        status = observer.operations.get(op)
        joined = len(nodes) == PLAN.node_count and not any(n.ready for n in nodes)
        watching = status.stage == "nodes" and "registered" in status.message
        return found[0].cluster_id if joined and watching else None

    cluster_id = eventually(waiting_on_nodes, what="nodes registered but not Ready, the server watching them")
    server.sigkill()
    assert observer.operations.get(op).state == "running"

    restarted = crash.runtime()
    resumed_at = time.time()
    assert_no_other_resumes(restarted, clusters=[op], jobs=[])
    eventually(
        lambda: (
            (s := restarted.operations.get(op)).updated_at.timestamp() >= resumed_at
            and "0/2 nodes Ready (2 registered)" in s.message
        ),
        what="the resumed operation to watch the nodes again",
    )
    assert restarted.operations.get(op).state == "running"
    world.set_nodes_ready(cluster_id)
    status = finished(restarted, op)
    assert status.state == "succeeded", status.error
    assert (status.result or {})["cluster_id"] == cluster_id and (status.result or {})["ready_nodes"] == 2
    assert world.counts()["CreateCluster"] == 1 and len(ours(world)) == 1

    clean_up(restarted)
    assert_nothing_left(crash, restarted)


# -- kill point 2b: while the server is down, ACK finds the new cluster's resources abnormal ---------------------


def test_killed_while_initial_and_the_cluster_turns_unavailable_meanwhile(crash: Crash) -> None:
    """The resumed operation stops waiting and says why in plain words; asking again for the name creates no second
    cluster; cleanup deletes the unavailable cluster and its network."""
    world = crash.world
    server = crash.spawn("create")
    op = server.event("cluster")["operation_id"]
    observer = crash.runtime()
    cluster_id = eventually(
        lambda: (row := row_of(observer, "cluster")) is not None and row.cloud_id,
        what="the cluster to exist, its id recorded",
    )
    server.sigkill()
    eventually(lambda: world.cluster(cluster_id).state == "running", timeout=30, what="the cluster to run")
    world.set_cluster_state(cluster_id, "unavailable")

    restarted = crash.runtime()
    assert_no_other_resumes(restarted, clusters=[op], jobs=[])
    status = finished(restarted, op)
    assert status.state == "failed"
    assert f"Cluster {NAME} ({cluster_id}) is unavailable: the cloud resources under it are abnormal" in (
        status.error or ""
    )
    assert "cleanup" in (status.error or "")
    est = estimate_cost(PLAN, default_region="cn-hangzhou", pricer=restarted.pricer, quotes=restarted.quotes)
    with pytest.raises(AckComputeError, match="no second cluster of that name is created"):
        restarted.clusters.ensure(NAME, plan=PLAN, quote_token=est.quote_token)
    assert world.counts()["CreateCluster"] == 1 and len(ours(world)) == 1

    clean_up(restarted)
    assert_nothing_left(crash, restarted)


# -- kill point 4: a job's pod is running ----------------------------------------------------------------------


@pytest.mark.parametrize("row", ["as_written", "first_version"])
def test_killed_while_a_job_runs(crash: Crash, row: str) -> None:
    """first_version: the killed operation's params row is rewritten as the first run_job wrote it (no
    cleanup_after): a server upgraded meanwhile resumes it all the same."""
    world = crash.world
    server = crash.spawn("job", script="echo started\nsleep 6\necho finished-after-restart\n")
    cluster_op = server.event("cluster")["operation_id"]
    built = server.event("cluster_done")
    assert built["state"] == "succeeded", built
    cluster_id = built["cluster_id"]
    started = server.event("job", timeout=30)
    job_op, job_name = started["operation_id"], started["job_name"]
    observer = crash.runtime()
    access = observer.targets.access(observer.targets.resolve(cluster_id))
    try:
        workloads = KubeWorkloads(access)
        eventually(
            lambda: (
                any(p.phase == "Running" for p in workloads.pods("default", f"{RUN_LABEL}={job_name}"))
                and observer.operations.get(job_op).stage == "Running"
            ),
            what="the job's pod to run, the server watching it",
        )
        server.sigkill()
        assert workloads.read_job("default", job_name) is not None
    finally:
        access.close()
    assert observer.operations.get(cluster_op).state == "succeeded"
    assert observer.operations.get(job_op).state == "running"
    if row == "first_version":
        with observer.ledger.transaction() as db:
            written = json.loads(
                db.execute("SELECT params_json FROM operations WHERE operation_id = :op", {"op": job_op}).scalar()
            )
            del written["cleanup_after"]
            db.execute(
                "UPDATE operations SET params_json = :p WHERE operation_id = :op",
                {"p": json.dumps(written), "op": job_op},
            )

    restarted = crash.runtime()
    assert_no_other_resumes(restarted, clusters=[], jobs=[job_op])
    status = finished(restarted, job_op)
    assert status.state == "succeeded", status.error
    outcome = JobOutcome.model_validate(status.result)
    assert outcome.status == "succeeded" and outcome.exit_code == 0, outcome
    assert "started" in outcome.log and "finished-after-restart" in outcome.log
    assert world.counts()["CreateCluster"] == 1 and len(ours(world)) == 1

    report = clean_up(restarted)
    assert [i.kind for i in report.items if i.outcome == "deleted"] == ["job", "cluster", "vswitch", "vpc"]
    assert_nothing_left(crash, restarted)


def test_killed_while_deploy_acs_installs_the_addon(crash: Crash) -> None:
    """deploy_acs on a Pro cluster this server created: killed after InstallClusterAddons, the restarted server's
    operation finds the add-on still installing, waits for it (no second install), then deploys."""
    world = crash.world
    made = crash.runtime().clusters.ensure(NAME, plan=PLAN, quote_token=quote_for(crash.runtime(), PLAN))
    cluster_id = (finished(crash.runtime(), made.operation_id or "").result or {})["cluster_id"]
    world.time_scale = 6  # the add-on's install task (60 s of cloud time) now takes 10 s: time to aim the kill
    server = crash.spawn("deploy", cluster=cluster_id)
    started = server.event("deploy", timeout=60)
    assert started["status"] == "preparing", started
    observer = crash.runtime()
    eventually(
        lambda: any(a.name == "ack-virtual-node" and a.state == "initial" for a in observer.cs.list_addons(cluster_id)),
        what="ack-virtual-node being installed",
    )
    server.sigkill()
    world.time_scale = TIME_SCALE
    assert observer.operations.get(started["operation_id"]).state == "running"

    restarted = crash.runtime()
    assert restarted.deployer.resume_unfinished() == [started["operation_id"]]
    status = finished(restarted, started["operation_id"])
    assert status.state == "succeeded", status.error
    outcome = DeployOutcome.model_validate(status.result)
    assert outcome.status == "deployed" and outcome.ready_replicas == 1, outcome.message
    assert any("waited for the ack-virtual-node add-on being installed" in n for n in outcome.notes), outcome.notes
    assert world.counts()["InstallClusterAddons"] == 1

    report = clean_up(restarted)
    assert [i.kind for i in report.items if i.outcome == "deleted"] == ["deployment", "cluster", "vswitch", "vpc"]
    assert_nothing_left(crash, restarted)


def quote_for(runtime: Runtime, plan: ClusterPlan) -> str:
    token = estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes).quote_token
    assert token
    return token


# -- the same kill point for the network: after the intent row, before CreateVpc / CreateVSwitch returns ---------


@pytest.mark.parametrize(("action", "kind"), [("CreateVpc", "vpc"), ("CreateVSwitch", "vswitch")])
def test_killed_while_a_network_create_is_in_flight(crash: Crash, action: str, kind: str) -> None:
    world = crash.world
    hold = 3.0
    world.inject(action, Fault.delay(hold))
    server = crash.spawn("create")
    op = server.event("cluster")["operation_id"]
    observer = crash.runtime()
    eventually(lambda: world.counts().get(action, 0) >= 1, what=f"{action} to reach the cloud")
    row = row_of(observer, kind)
    assert row is not None and (row.state, row.cloud_id) == ("intent", None) and row.client_token
    server.sigkill()

    listing = world.vpcs if kind == "vpc" else world.vswitches
    (landed,) = eventually(
        lambda: [r for r in listing() if not r.planted and r.status == "Available"],
        timeout=hold + 10,
        what=f"the held {action} to land",
    )
    assert tags_of(landed)[OPERATION_TAG] == op
    restarted = crash.runtime()
    assert_no_other_resumes(restarted, clusters=[op], jobs=[])
    status = finished(restarted, op)
    assert status.state == "succeeded", status.error
    assert world.counts()[action] == 1 and len([r for r in listing() if not r.planted]) == 1
    assert world.counts()["CreateCluster"] == 1 and len(ours(world)) == 1
    mine = [(r.origin, r.state, r.cloud_id) for r in restarted.ownership.all() if r.kind == kind]
    assert mine == [("created", "ready", landed.vpc_id if kind == "vpc" else landed.vswitch_id)]

    clean_up(restarted)
    assert_nothing_left(crash, restarted)


# -- kill points too narrow to aim at from outside: the driver SIGKILLs itself there ---------------------------


def test_killed_between_the_intent_row_and_the_operation_row(crash: Crash) -> None:
    world = crash.world
    server = crash.spawn("create", die_at="before-operation-row")
    assert server.event("dying")["point"] == "before-operation-row"
    assert server.proc.wait(timeout=10) == -signal.SIGKILL
    restarted = crash.runtime()
    row = row_of(restarted, "cluster")
    assert row is not None and (row.state, row.cloud_id) == ("intent", None)
    assert restarted.ledger.query("SELECT count(*) AS n FROM operations")[0]["n"] == 0
    assert "CreateCluster" not in world.counts() and ours(world) == []
    assert_no_other_resumes(restarted, clusters=[], jobs=[])

    # Asked again with a new quote, the name must not stay blocked by the dead process's claim.
    est = estimate_cost(PLAN, default_region="cn-hangzhou", pricer=restarted.pricer, quotes=restarted.quotes)
    again = restarted.clusters.ensure(NAME, plan=PLAN, quote_token=est.quote_token)
    assert again.status == "creating" and again.operation_id
    status = finished(restarted, again.operation_id)
    assert status.state == "succeeded", status.error
    assert world.counts()["CreateCluster"] == 1 and len(ours(world)) == 1

    clean_up(restarted)
    assert_nothing_left(crash, restarted)


def test_killed_between_the_script_config_map_and_the_job(crash: Crash) -> None:
    world = crash.world
    shared = world.plant_cluster("team-batch", nodes=1)  # someone else's cluster, used by run_job
    server = crash.spawn("job", cluster=shared, die_at="before-create-job")
    assert server.event("dying")["point"] == "before-create-job"
    assert server.proc.wait(timeout=10) == -signal.SIGKILL
    restarted = crash.runtime()
    row = row_of(restarted, "job")
    assert row is not None and row.state == "intent"
    selector = "=".join(MANAGED_BY)
    access = restarted.targets.access(restarted.targets.resolve(shared))
    try:
        core = client.CoreV1Api(access.api_client())
        before = [c.metadata.name for c in core.list_namespaced_config_map("default", label_selector=selector).items]
        assert before == [row.details["config_map"]]
        assert_no_other_resumes(restarted, clusters=[], jobs=[])
        clean_up(restarted)
        assert_nothing_left(crash, restarted)
        assert world.cluster(shared).state == "running"
        after = [c.metadata.name for c in core.list_namespaced_config_map("default", label_selector=selector).items]
    finally:
        access.close()
    assert after == [], f"left in {shared}: {after}"


# -- a node pool creation in flight --------------------------------------------------------------------------------


def test_killed_while_create_node_pool_is_in_flight(crash: Crash) -> None:
    """CreateClusterNodePool takes no client token: the resumed operation finds the pool that landed by its name and
    this operation's tag and adopts it, never making a second one; cleanup removes it and keeps the cluster."""
    world, cluster_id = crash.world, crash.foreign.cluster_id
    world.inject("CreateClusterNodePool", Fault.delay(8.0))  # the call reaches the cloud, its handling is held back
    server = crash.spawn("pool", cluster=cluster_id)
    op = server.event("pool")["operation_id"]
    observer = crash.runtime()
    eventually(
        lambda: world.counts().get("CreateClusterNodePool", 0) >= 1, what="CreateClusterNodePool to reach the cloud"
    )
    row = row_of(observer, "node_pool")
    assert row is not None and (row.state, row.cloud_id) == ("intent", None)
    server.sigkill()
    assert observer.operations.get(op).state == "running", "orphaned, not finished"

    def landed() -> list[Any]:
        return [p for p in world.cluster(cluster_id).nodepools if p.name == NAME and p.state != "deleted"]

    (pool,) = eventually(landed, timeout=20, what="the held CreateClusterNodePool to land")
    assert tags_of(pool)[POOL_OPERATION_TAG] == op
    restarted = crash.runtime()
    assert restarted.node_pools.resume_unfinished() == [op]
    assert_no_other_resumes(restarted, clusters=[], jobs=[])
    status = finished(restarted, op)
    assert status.state == "succeeded", status.error
    result = status.result or {}
    assert (result["status"], result["nodepool_id"], result["ready_nodes"]) == ("created", pool.nodepool_id, 1)
    assert world.counts()["CreateClusterNodePool"] == 1, "adopted by name and operation tag, not created again"

    report = clean_up(restarted)
    assert [(i.kind, i.outcome or i.action) for i in report.items] == [("node_pool", "deleted"), ("cluster", "keep")]
    assert landed() == [] and world.cluster(cluster_id).state == "running"
