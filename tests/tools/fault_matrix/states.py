"""Fault-matrix scenarios of issue 12: the cloud's transient codes (Terraform's retry list) and clusters in the
unusual ones of ACK's 15 states. scenarios.py runs them like its own: each ends with nothing of ours left, nothing
foreign touched, and never a second cluster of a name.
"""

from __future__ import annotations

from typing import Any

from ack_compute.sandbox.faults import Fault
from ack_compute.tools.cleanup import CleanupRequest
from ack_compute.tools.cluster_states import describe
from ack_compute.tools.errors import AckComputeError
from tests.tools.fault_matrix import stage as fm

# Every transient code at least once, at most three per action (the retry budget is four attempts).
CREATE_FAULTS = {
    "CreateVpc": ["TaskConflict", "UnknownError", "LastTokenProcessing"],
    "CreateVSwitch": ["OperationFailed.IdempotentTokenProcessing", "OperationFailed.DistibuteLock", "IncorrectStatus"],
    "CreateCluster": ["OperationConflict", "SystemBusy", "OperationFailed.LastTokenProcessing"],
    "DescribeClusterDetail": ["InternalError", "InternalError"],
}
CLEANUP_FAULTS = {
    "DeleteVSwitch": ["OperationDenied.OtherSubnetProcessing", "IncorrectRouteEntryStatus"],
    "DeleteCluster": ["TaskConflict"],
}
# Someone else's cluster holds the name in each state that is neither usable, nor passing, nor gone.
REFUSED_STATES = [
    "failed",
    "inactive",
    "unavailable",
    "waiting",
    "disconnected",
    "delete_failed",
    "deleting",
    "hibernating",
]


def state_name(state: str) -> str:
    return f"acf-st-{state.replace('_', '-')}"


def scenarios() -> list[fm.Scenario]:
    """The scenarios, built on the stage's Stage, Answer and helpers."""
    Answer, Scenario = fm.Answer, fm.Scenario

    def transient_codes(stage: Any) -> Any:
        world, runtime = stage.world, stage.runtime
        token = fm.quote(runtime)
        world.reset_counts()
        for action, codes in CREATE_FAULTS.items():
            for code in codes:
                world.inject(action, Fault.transient(code))
        outcome = runtime.clusters.ensure(fm.OURS, plan=fm.PLAN, quote_token=token)
        answer = fm.from_operation(fm.wait_operation(runtime, outcome.operation_id or ""))
        stage.facts["counts"] = world.counts()
        stage.facts["clusters_named"] = len(fm.clusters_named(stage, fm.OURS))
        stage.facts["vpcs"] = fm.tagged_with(stage, "vpc")
        stage.facts["vswitches"] = fm.tagged_with(stage, "vswitch")
        return answer

    def transient_codes_in_cleanup(stage: Any) -> None:
        stage.world.reset_counts()
        for action, codes in CLEANUP_FAULTS.items():
            for code in codes:
                stage.world.inject(action, Fault.transient(code))

    def token_processing(stage: Any) -> Any:
        """CreateVpc is held past the read timeout; the repeat with its ClientToken meets LastTokenProcessing while
        the first is processed, then gets the same VPC."""
        world, runtime = stage.world, stage.runtime
        token = fm.quote(runtime)
        world.reset_counts()
        world.inject("CreateVpc", Fault.delay(1.3))
        outcome = runtime.clusters.ensure(fm.OURS, plan=fm.PLAN, quote_token=token)
        answer = fm.from_operation(fm.wait_operation(runtime, outcome.operation_id or ""))
        stage.facts["counts"] = world.counts()
        stage.facts["vpcs"] = fm.tagged_with(stage, "vpc")
        stage.facts["clusters_named"] = len(fm.clusters_named(stage, fm.OURS))
        return answer

    def plant_in_states(stage: Any) -> None:
        world = stage.world
        for state in REFUSED_STATES:
            if state == "failed":
                world.plant_cluster(state_name(state), state="failed", nodes=1)
                continue
            cluster_id = world.plant_cluster(state_name(state), nodes=1)
            if state == "deleting":
                world.time_scale = 1  # its deletion takes its real 3 minutes, longer than the scenario
            world.set_cluster_state(cluster_id, state, back_to_running_after=None)
            world.time_scale = 600

    def same_name_in_unusual_states(stage: Any) -> Any:
        world, runtime = stage.world, stage.runtime
        world.reset_counts()
        answers: dict[str, str] = {}
        for state in REFUSED_STATES:
            try:
                out = runtime.clusters.ensure(state_name(state), plan=fm.PLAN, quote_token=fm.quote(runtime))
                answers[state] = f"{out.status}: {out.message}"
            except AckComputeError as exc:
                answers[state] = f"refused: {exc.message} {exc.next_step}"
        stage.facts["answers"] = answers
        stage.facts["clusters_named"] = {s: len(fm.clusters_named(stage, state_name(s))) for s in REFUSED_STATES}
        stage.facts["counts"] = world.counts()
        refused = sum(a.startswith("refused") for a in answers.values())
        return Answer("outcome", "refused" if refused == len(answers) else "not all refused", f"{refused} refused")

    def busy_same_name_is_waited_for(stage: Any) -> Any:
        world, runtime = stage.world, stage.runtime
        cluster_id = world.plant_cluster(fm.OURS, nodes=1)
        world.set_cluster_state(cluster_id, "scaling", back_to_running_after=None)
        world.reset_counts()
        outcome = runtime.clusters.ensure(fm.OURS, plan=fm.PLAN, quote_token=fm.quote(runtime))
        stage.facts["first"] = {"status": outcome.status, "message": outcome.message}
        world.set_cluster_state(cluster_id, "running")  # ACK finishes scaling
        answer = fm.from_operation(fm.wait_operation(runtime, outcome.operation_id or ""))
        stage.facts["theirs"] = cluster_id
        stage.facts["clusters_named"] = len(fm.clusters_named(stage, fm.OURS))
        stage.facts["counts"] = world.counts()
        return answer

    def ours_upgrading(stage: Any) -> Any:
        answer = fm.create_cluster(stage)
        stage.facts["created"] = answer.status
        (cluster_id,) = fm.clusters_named(stage, fm.OURS)
        stage.world.set_cluster_state(cluster_id, "upgrading", back_to_running_after=None)
        stage.facts["cluster"] = cluster_id
        return Answer("cleanup", "pending", "")

    def upgrade_done(stage: Any) -> None:
        stage.world.set_cluster_state(stage.facts["cluster"], "running")

    def ours_inactive(stage: Any) -> Any:
        answer = fm.create_cluster(stage)
        stage.facts["created"] = answer.status
        (cluster_id,) = fm.clusters_named(stage, fm.OURS)
        stage.world.set_cluster_state(cluster_id, "inactive")
        plan = stage.runtime.cleaner.plan(CleanupRequest())
        stage.facts["planned"] = [(i.kind, i.action, i.reason) for i in plan.items]
        stage.facts["meaning"] = describe("inactive").meaning
        return Answer("cleanup", "pending", "")

    return [
        Scenario(
            "transient_codes",
            "Every transient code Terraform retries (CreateVpc/VSwitch/Cluster, DescribeClusterDetail, deletes)",
            transient_codes,
            arm_cleanup=transient_codes_in_cleanup,
        ),
        Scenario(
            "token_processing",
            "CreateVpc held past the timeout; the repeat meets LastTokenProcessing",
            token_processing,
            settings={"read_timeout_ms": 1000},
        ),
        Scenario(
            "same_name_in_unusual_states",
            "A same-named cluster failed, inactive, unavailable, waiting, disconnected, delete_failed, deleting, "
            "or in an unknown state",
            same_name_in_unusual_states,
            plant=plant_in_states,
        ),
        Scenario(
            "busy_same_name", "A same-named cluster scaling: waited for, then reused", busy_same_name_is_waited_for
        ),
        Scenario(
            "ours_upgrading",
            "Our cluster upgrading at cleanup time",
            ours_upgrading,
            clear=upgrade_done,
            reported_by_cleanup=True,
        ),
        Scenario("ours_inactive", "Our cluster inactive at cleanup time", ours_inactive, reported_by_cleanup=True),
    ]
