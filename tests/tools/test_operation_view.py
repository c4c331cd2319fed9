"""What get_operation shows, at the tools level: running/done with an outcome, the stage among its stages, time
spent and left, progress that only rises, one operation per cluster being created, and a running job's log."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.identity import Caller, acting_as
from ack_compute.tools.job_logs import JobLogs
from ack_compute.tools.job_spec import JobRequest
from ack_compute.tools.operations import OperationView, view
from ack_compute.tools.plans import ClusterPlan
from tests.helpers.waiting import eventually

PLAN = ClusterPlan(edition="pro", instance_types=["ecs.g7.xlarge"], node_count=1, zone="cn-hangzhou-h", hours=1)


@pytest.fixture
def runtime(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> Runtime:
    return runtime_on(world)


def follow(runtime: Runtime, operation_id: str, timeout: float = 60) -> list[OperationView]:
    seen = [view(runtime.operations.get(operation_id))]
    deadline = time.monotonic() + timeout
    while seen[-1].state == "running" and time.monotonic() < deadline:
        seen.append(view(runtime.operations.wait(operation_id, 1)))
    return seen


def test_a_cluster_create_reads_running_with_stages_then_done_succeeded(runtime: Runtime, world: SandboxCloud) -> None:
    world.time_scale = 60
    est = estimate_cost(PLAN, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
    started = runtime.clusters.ensure("acf-view", plan=PLAN, quote_token=est.quote_token)
    assert started.operation_id
    again = runtime.clusters.ensure("acf-view", plan=PLAN, quote_token=est.quote_token)
    assert (again.status, again.operation_id) == ("creating", started.operation_id), again
    views = follow(runtime, started.operation_id)
    running = [v for v in views if v.state == "running"]
    assert running and all(v.outcome is None for v in running)
    assert {v.stage for v in running} <= {"", "network (1 of 3)", "create (2 of 3)", "nodes (3 of 3)"}, running
    assert any(v.stage == "create (2 of 3)" for v in running)
    assert all(v.seconds_left is not None and v.poll_after_seconds and 5 <= v.poll_after_seconds <= 50 for v in running)
    progress = [v.progress for v in views]
    assert progress == sorted(progress) and all(p == round(p, 2) for p in progress)
    # Asked while the cloud lists it as being created: still the same operation, not a second one.
    while_busy = [runtime.clusters.ensure("acf-view") for _ in range(2)]
    assert {o.operation_id for o in while_busy if o.operation_id} <= {started.operation_id}
    done = views[-1]
    assert (done.state, done.outcome, done.progress) == ("done", "succeeded", 1.0), done
    assert done.result and done.result["cluster_state"] == "running" and "state" not in done.result
    assert done.elapsed_seconds >= running[-1].elapsed_seconds and done.seconds_left is None
    assert world.counts()["CreateCluster"] == 1


def test_a_script_that_exits_2_is_done_and_failed(runtime: Runtime, world: SandboxCloud) -> None:
    cluster = world.plant_cluster("acf-view-exit", nodes=1)
    started = runtime.jobs.start(JobRequest(cluster=cluster, script="echo bye\nexit 2\n"))
    assert started.operation_id
    done = follow(runtime, started.operation_id)[-1]
    assert (done.state, done.outcome) == ("done", "failed"), done
    assert done.result and done.result["exit_code"] == 2 and "bye" in done.result["log"]


def test_a_running_jobs_log_is_followed_line_by_line_per_caller(runtime: Runtime, world: SandboxCloud) -> None:
    cluster = world.plant_cluster("acf-view-log", nodes=1)
    script = "for i in 1 2 3 4 5 6; do echo line-$i; sleep 0.5; done\n"
    started = runtime.jobs.start(JobRequest(cluster=cluster, script=script, log_lines=2))
    assert started.operation_id
    logs = JobLogs(runtime.targets, runtime.ledger)
    chunks: list[str] = []
    deadline = time.monotonic() + 30
    status = runtime.operations.get(started.operation_id)
    while not status.done and time.monotonic() < deadline:
        if (lines := logs.new_lines(status)) is not None:
            assert lines.count("\n") <= 2, "at most log_lines per poll; the rest comes next time"
            chunks.append(lines)
        time.sleep(0.2)
        status = runtime.operations.get(started.operation_id)
    followed = "".join(chunks).splitlines()
    assert len(chunks) >= 2, "a long job is followed in several polls"
    assert followed == [f"line-{i}" for i in range(1, len(followed) + 1)], "each line once, in order"
    # The whole log outlives the Job in the operation's result.
    assert status.result and status.result["log"].splitlines()[-2:] == ["line-5", "line-6"]
    assert logs.new_lines(status) is None, "a finished job has no new lines: its result holds the log"


def test_another_caller_follows_from_the_start(runtime: Runtime, world: SandboxCloud) -> None:
    cluster = world.plant_cluster("acf-view-log2", nodes=1)
    admin = Caller(subject="ops", admin=True)
    with acting_as(admin):
        started = runtime.jobs.start(JobRequest(cluster=cluster, script="echo one\necho two\nsleep 5\n"))
    assert started.operation_id
    logs = JobLogs(runtime.targets, runtime.ledger)

    def first_lines() -> str | None:
        with acting_as(admin):
            return logs.new_lines(runtime.operations.get(started.operation_id))

    first = eventually(first_lines, timeout=20, interval=0.2)
    assert first == "one\ntwo\n"
    with acting_as(admin):
        assert logs.new_lines(runtime.operations.get(started.operation_id)) is None, "nothing new since"
    with acting_as(Caller(subject="ops2", admin=True)):
        assert logs.new_lines(runtime.operations.get(started.operation_id)) == "one\ntwo\n"


def test_a_cluster_being_changed_is_waited_for_by_one_operation(runtime: Runtime, world: SandboxCloud) -> None:
    cluster_id = world.plant_cluster("acf-view-busy", nodes=1)
    world.set_cluster_state(cluster_id, "updating", back_to_running_after=None)
    first = runtime.clusters.ensure("acf-view-busy")
    second = runtime.clusters.ensure("acf-view-busy")
    assert first.status == second.status == "waiting" and first.operation_id
    assert second.operation_id == first.operation_id and second.cluster_state == "updating", second
    with acting_as(Caller(subject="bob", admin=False)):
        theirs = runtime.clusters.ensure("acf-view-busy")
    assert theirs.operation_id != first.operation_id, "another caller gets an operation they can follow"
    world.set_cluster_state(cluster_id, "running")
    done = follow(runtime, first.operation_id)[-1]
    assert (done.state, done.outcome) == ("done", "succeeded"), done
