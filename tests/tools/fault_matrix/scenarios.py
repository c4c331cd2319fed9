"""The fault matrix of issue 5: every fault the cloud or a cluster can throw at the tools, each run end to end
against its own sandbox, then cleaned up, with what was left and what was touched counted. The scenarios of issue 12
(transient codes, unusual cluster states) are in states.py. tests/tools/test_fault_matrix.py asserts on them;
bench/fault_matrix.py prints them as a table.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from kubernetes import client

from ack_compute.sandbox import SandboxCloud
from ack_compute.sandbox.faults import Fault
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.job_spec import RUN_LABEL, JobOutcome, JobRequest
from tests.tools.fault_matrix import states
from tests.tools.fault_matrix.stage import (
    LONG_JOB_SECONDS,
    NAMESPACE,
    OURS,
    PLAN,
    REGION,
    Answer,
    Outcome,
    Scenario,
    Stage,
    clean,
    closed_port,
    clusters_named,
    create_cluster,
    deploy,
    from_cleanup,
    from_error,
    from_operation,
    quote,
    run_job,
    tagged_with,
    wait_operation,
)

# -- the scenarios --------------------------------------------------------------------------------------------


def throttling(stage: Stage) -> Answer:
    world, runtime = stage.world, stage.runtime
    token = quote(runtime)
    world.reset_counts()
    world.inject("DescribeClustersForRegion", Fault.throttle(retry_after_ms=500), times=2)
    world.inject("CreateCluster", Fault.throttle(retry_after_ms=500), times=1)
    started = time.monotonic()
    outcome = runtime.clusters.ensure(OURS, plan=PLAN, quote_token=token)
    stage.facts["ensure_seconds"] = round(time.monotonic() - started, 2)
    answer = from_operation(wait_operation(runtime, outcome.operation_id or ""))
    stage.facts["counts"] = world.counts()
    stage.facts["clusters_named"] = len(clusters_named(stage, OURS))
    return answer


def throttling_in_cleanup(stage: Stage) -> None:
    stage.world.reset_counts()
    stage.world.inject("DeleteCluster", Fault.throttle(retry_after_ms=300), times=1)
    stage.world.inject("DeleteVpc", Fault.throttle(retry_after_ms=300), times=1)


def throttling_beyond_budget(stage: Stage) -> Answer:
    stage.world.inject("DescribeClustersForRegion", Fault.throttle(retry_after_ms=60_000), times=1)
    started = time.monotonic()
    try:
        stage.runtime.clusters.ensure(OURS, plan=PLAN, quote_token=quote(stage.runtime))
    except AckComputeError as exc:
        return from_error(exc)
    finally:
        stage.facts["seconds"] = round(time.monotonic() - started, 2)
    return Answer("outcome", "no error", "")


def server_errors(stage: Stage) -> Answer:
    world, runtime = stage.world, stage.runtime
    token = quote(runtime)
    world.reset_counts()
    world.inject("CreateVSwitch", Fault.server_error(503), times=3)
    world.inject("DescribeClusterDetail", Fault.server_error(500, "InternalError"), times=3)
    outcome = runtime.clusters.ensure(OURS, plan=PLAN, quote_token=token)
    answer = from_operation(wait_operation(runtime, outcome.operation_id or ""))
    stage.facts["counts"] = world.counts()
    stage.facts["vswitches"] = tagged_with(stage, "vswitch")
    stage.facts["clusters_named"] = len(clusters_named(stage, OURS))
    return answer


def server_errors_in_cleanup(stage: Stage) -> None:
    stage.world.reset_counts()
    stage.world.inject("DeleteVpc", Fault.server_error(503), times=2)
    stage.world.inject("DeleteCluster", Fault.server_error(500, "InternalError"), times=1)


def server_errors_exhausted(stage: Stage) -> Answer:
    world, runtime = stage.world, stage.runtime
    token = quote(runtime)
    world.reset_counts()
    world.inject("CreateCluster", Fault.server_error(503), times=4)  # the whole retry budget (4 attempts)
    outcome = runtime.clusters.ensure(OURS, plan=PLAN, quote_token=token)
    answer = from_operation(wait_operation(runtime, outcome.operation_id or ""))
    stage.facts["counts"] = world.counts()
    stage.facts["clusters_named"] = len(clusters_named(stage, OURS))
    stage.facts["failed_operation"] = outcome.operation_id
    # The caller does what the answer suggests next: ask again for the same cluster with a new quote.
    try:
        again = runtime.clusters.ensure(OURS, plan=PLAN, quote_token=quote(runtime))
        stage.facts["retry"] = {"status": again.status, "operation_id": again.operation_id, "message": again.message}
        if again.operation_id and again.operation_id != outcome.operation_id:
            wait_operation(runtime, again.operation_id)
    except AckComputeError as exc:
        stage.facts["retry"] = {"status": "raised", "message": exc.text}
    return answer


def timeout_on_read(stage: Stage) -> Answer:
    world, runtime = stage.world, stage.runtime
    token = quote(runtime)
    world.reset_counts()
    # Past the 1 s read timeout; creation asks for a kubeconfig exactly once, so a second request is the retry.
    world.inject("DescribeClusterUserKubeconfig", Fault.delay(2.5), times=1)
    outcome = runtime.clusters.ensure(OURS, plan=PLAN, quote_token=token)
    answer = from_operation(wait_operation(runtime, outcome.operation_id or ""))
    stage.facts["counts"] = world.counts()
    return answer


def timeout_on_create(stage: Stage, ask_again: bool = False) -> Answer:
    world, runtime = stage.world, stage.runtime
    token = quote(runtime)
    world.reset_counts()
    world.inject("CreateCluster", Fault.delay(2.5), times=1)  # the client gives up after 1 s; the call still lands
    outcome = runtime.clusters.ensure(OURS, plan=PLAN, quote_token=token)
    answer = from_operation(wait_operation(runtime, outcome.operation_id or ""))
    stage.facts["counts_at_answer"] = world.counts()
    stage.facts["rows_at_answer"] = [(r.kind, r.state, r.cloud_id) for r in runtime.ownership.all()]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
        c.state == "running" for c in stage.world.clusters() if c.name == OURS
    ):
        time.sleep(0.1)
    stage.facts["late_cluster"] = clusters_named(stage, OURS)
    if ask_again:  # the caller asks for the same cluster again once the late one runs
        try:
            again = runtime.clusters.ensure(OURS)
            stage.facts["retry"] = {
                "status": again.status,
                "origin": again.origin,
                "cluster_id": again.cluster_id,
                "next_step": again.next_step,
            }
        except AckComputeError as exc:
            stage.facts["retry"] = {"status": "raised", "message": exc.text}
        stage.facts["rows_after_retry"] = [(r.kind, r.origin, r.state, r.cloud_id) for r in runtime.ownership.all()]
    return answer


def timeout_on_create_then_ensure(stage: Stage) -> Answer:
    return timeout_on_create(stage, ask_again=True)


def connection_refused(stage: Stage) -> Answer:
    refused = stage.build(endpoint=f"127.0.0.1:{closed_port()}")
    stage.world.reset_counts()
    started = time.monotonic()
    errors: dict[str, str] = {}
    answer = Answer("outcome", "no error", "")
    try:
        refused.clusters.ensure(OURS)
    except AckComputeError as exc:
        answer = from_error(exc)
    for what, call in (
        ("run_job", lambda: refused.jobs.start(JobRequest(cluster=stage.host, script="echo hi"))),
        ("estimate_cost", lambda: quote(refused)),
    ):
        try:
            call()
            errors[what] = "no error"
        except AckComputeError as exc:
            errors[what] = f"{type(exc).__name__}: {exc.text}"
    stage.facts["other_errors"] = errors
    stage.facts["seconds"] = round(time.monotonic() - started, 2)
    stage.facts["requests_reaching_the_cloud"] = sum(stage.world.counts().values())
    stage.facts["rows"] = len(stage.runtime.ownership.all())
    return answer


def connection_refused_in_cleanup(stage: Stage) -> Answer:
    created = create_cluster(stage)
    stage.facts["created"] = created.status
    stage.first_cleanup = stage.build(endpoint=f"127.0.0.1:{closed_port()}")
    return created


def creation_failed(stage: Stage) -> Answer:
    stage.world.fail_next_cluster_creation("ErrorQuotaExceeded", "the account's ECS quota is exhausted")
    answer = create_cluster(stage)
    stage.facts["rows"] = [(r.kind, r.state, r.cloud_id) for r in stage.runtime.ownership.all()]
    return answer


def nodes_never_ready(stage: Stage) -> Answer:
    stage.runtime.clusters.settings.nodes_timeout_s = 3.0
    stage.world.stall_next_cluster_nodes()
    return create_cluster(stage)


def delete_failed(stage: Stage) -> Answer:
    stage.facts["created"] = create_cluster(stage).status
    stage.world.fail_next_cluster_deletion("ErrorDeleteCluster", "failed to release the cluster's SLB")
    return Answer("cleanup", "pending", "")


def vpc_dependency(stage: Stage) -> Answer:
    stage.facts["created"] = create_cluster(stage).status
    stage.runtime.cleaner.settings.dependency_retry_s = 2.0
    (vpc,) = [r.cloud_id for r in stage.runtime.ownership.all() if r.kind == "vpc" and r.origin == "created"]
    assert vpc
    # Someone else puts a vSwitch into the VPC this server created; deleting the VPC now meets a dependency.
    stage.facts["their_vswitch"] = stage.world.plant_vswitch(vpc, name="theirs-in-acf-vpc")
    return Answer("cleanup", "pending", "")


def vpc_dependency_cleared(stage: Stage) -> None:
    theirs = stage.facts["their_vswitch"]
    stage.facts["their_vswitch_after_first_cleanup"] = next(
        "live" if s.deleted is None else "deleted" for s in stage.world.vswitches() if s.vswitch_id == theirs
    )
    stage.observer.clusters.vpcs.delete_vswitch(REGION, theirs)  # its owner removes it


def image_pull_job(stage: Stage) -> Answer:
    request = JobRequest(cluster=stage.host, script="echo never", image="registry.example.com/nope/missing:1.0")
    answer = run_job(stage, request)
    stage.facts["rows"] = [(r.kind, r.state) for r in stage.runtime.ownership.all()]
    return answer


def image_pull_deploy(stage: Stage) -> Answer:
    return deploy(stage, image="registry.example.com/nope/missing:1.0")


def crash_loop_deploy(stage: Stage) -> Answer:
    # Like most crash loops: the process starts, runs a moment, exits non-zero, and is restarted with back-off.
    command = ["sh", "-c", "echo starting; sleep 0.5; exit 1"]
    answer = deploy(stage, name="crasher", image="busybox:1.36", command=command)
    # What the pod really does after the answer: it crashes and the kubelet backs off restarting it.
    deadline = time.monotonic() + 10
    seen = ""
    while time.monotonic() < deadline and "CrashLoopBackOff" not in seen:
        pods = [v for k, v in stage.kube_objects().items() if k.startswith("Pod crasher-")]
        statuses = [c for p in pods for c in (p.get("status") or {}).get("containerStatuses") or []]
        seen = " ".join(
            f"{(c.get('state') or {}).get('waiting', {}).get('reason', next(iter(c.get('state') or {'?': 0})))}"
            f" restarts={c.get('restartCount', 0)}"
            for c in statuses
        )
        time.sleep(0.1)
    stage.facts["pod_after_answer"] = seen
    return answer


def evicted_pod(stage: Stage) -> Answer:
    def evict(started: JobOutcome) -> None:
        access = stage.kube()
        try:
            core = client.CoreV1Api(access.api_client())
            selector = f"{RUN_LABEL}={started.job_name}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                pods = core.list_namespaced_pod(NAMESPACE, label_selector=selector).items
                running = [p for p in pods if p.status and p.status.phase == "Running"]
                if running:
                    # What the kubelet writes when node pressure evicts a pod.
                    core.patch_namespaced_pod_status(
                        running[0].metadata.name,
                        NAMESPACE,
                        {
                            "status": {
                                "phase": "Failed",
                                "reason": "Evicted",
                                "message": "The node was low on resource: memory.",
                            }
                        },
                    )
                    stage.facts["evicted"] = running[0].metadata.name
                    return
                time.sleep(0.1)
        finally:
            access.close()

    request = JobRequest(cluster=stage.host, script="echo started; sleep 30", timeout_seconds=LONG_JOB_SECONDS)
    return run_job(stage, request, during=evict)


def kubeconfig_expiry(stage: Stage) -> Answer:
    stage.world.reset_counts()
    script = "echo begin; sleep 8; echo end"  # longer than the 6 s a 60-minute kubeconfig lasts at 600x
    answer = run_job(stage, JobRequest(cluster=stage.host, script=script, timeout_seconds=LONG_JOB_SECONDS))
    stage.facts["kubeconfigs_fetched"] = stage.world.counts().get("DescribeClusterUserKubeconfig", 0)
    stage.facts["log"] = answer.raw.get("log", "")
    return answer


SCENARIOS: dict[str, Scenario] = {
    s.key: s
    for s in [
        Scenario(
            "throttling",
            "Throttling with retry-after (list x2, CreateCluster, DeleteCluster, DeleteVpc)",
            throttling,
            arm_cleanup=throttling_in_cleanup,
        ),
        Scenario(
            "throttling_beyond_budget", "Throttling with a retry-after beyond the wait budget", throttling_beyond_budget
        ),
        Scenario(
            "server_errors",
            "5xx bursts absorbed by retries (CreateVSwitch x3, DescribeClusterDetail x3, DeleteVpc x2)",
            server_errors,
            arm_cleanup=server_errors_in_cleanup,
        ),
        Scenario(
            "server_errors_exhausted",
            "5xx burst outlasting the retry budget (CreateCluster x4)",
            server_errors_exhausted,
        ),
        Scenario(
            "timeout_on_read",
            "Timeout on an idempotent read (DescribeClusterUserKubeconfig)",
            timeout_on_read,
            settings={"read_timeout_ms": 1000},
        ),
        Scenario(
            "timeout_on_create",
            "Timeout on CreateCluster; the call lands late",
            timeout_on_create,
            settings={"read_timeout_ms": 1000},
        ),
        Scenario(
            "timeout_on_create_then_ensure",
            "Timeout on CreateCluster, then ensure_cluster again",
            timeout_on_create_then_ensure,
            settings={"read_timeout_ms": 1000},
        ),
        Scenario("connection_refused", "Connection refused (closed port)", connection_refused),
        Scenario(
            "connection_refused_in_cleanup",
            "Connection refused during cleanup",
            connection_refused_in_cleanup,
            reported_by_cleanup=True,
        ),
        Scenario("creation_failed", "Cluster creation ends in `failed`", creation_failed),
        Scenario("nodes_never_ready", "Nodes never Ready", nodes_never_ready),
        Scenario("delete_failed", "DeleteCluster ends in `delete_failed`", delete_failed, reported_by_cleanup=True),
        Scenario(
            "vpc_dependency",
            "VPC deletion blocked by a dependency (someone's vSwitch)",
            vpc_dependency,
            clear=vpc_dependency_cleared,
            reported_by_cleanup=True,
        ),
        Scenario("image_pull_job", "ImagePullBackOff (run_job)", image_pull_job),
        Scenario("image_pull_deploy", "ImagePullBackOff (deploy_acs)", image_pull_deploy),
        Scenario("crash_loop_deploy", "CrashLoopBackOff (deploy_acs)", crash_loop_deploy),
        Scenario("evicted_pod", "A job's pod evicted", evicted_pod),
        Scenario("kubeconfig_expiry", "Kubeconfig expiring mid-job", kubeconfig_expiry),
    ]
}
SCENARIOS.update({s.key: s for s in states.scenarios()})


def run(key: str, world: SandboxCloud, state_dir: Path) -> Outcome:
    """Plant, fault, act, clean up (again after clearing the fault when the first pass is partial), compare."""
    scenario = SCENARIOS[key]
    started = time.monotonic()
    stage = Stage(world, state_dir, **scenario.settings)
    stage.plant_foreign()
    if scenario.plant is not None:
        scenario.plant(stage)
    before = stage.snapshot()
    world.reset_counts()
    answer = scenario.act(stage)
    problems = [f"after the tool answered: {p}" for p in stage.ledger_problems()]
    if scenario.arm_cleanup is not None:
        scenario.arm_cleanup(stage)
    first = clean(stage.first_cleanup or stage.runtime)
    problems += [f"after the first cleanup: {p}" for p in stage.ledger_problems()]
    cleanups = [first]
    if first.status == "partial":
        world.clear_faults()
        if scenario.clear is not None:
            scenario.clear(stage)
        cleanups.append(clean(stage.runtime))
    if scenario.arm_cleanup is not None:
        stage.facts["cleanup_counts"] = world.counts()
    left = stage.settled_ours_left()
    after = stage.snapshot()
    touched = [f"{k}: {v} -> {after.get(k, 'missing')}" for k, v in before.items() if after.get(k) != v]
    problems += [f"at the end: {p}" for p in stage.ledger_problems()]
    if scenario.reported_by_cleanup:
        answer = from_cleanup(first)
    return Outcome(
        key=key,
        fault=scenario.fault,
        answer=answer,
        cleanups=cleanups,
        ours_left=left,
        foreign=sorted(before),
        foreign_touched=touched,
        ledger_problems=problems,
        facts=stage.facts,
        seconds=round(time.monotonic() - started, 1),
    )


def run_isolated(key: str, state_dir: Path | None = None) -> Outcome:
    """One scenario in a sandbox of its own (clock 600x faster, like the tests' `world`)."""
    with SandboxCloud(time_scale=600) as world:
        if state_dir is not None:
            return run(key, world, state_dir)
        with tempfile.TemporaryDirectory(prefix=f"fault-{key}-") as tmp:
            return run(key, world, Path(tmp))
