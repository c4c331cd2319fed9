"""One reading of what is wrong with a pod, shared by run_job and deploy_acs: which states end a run at once, in
which order they are seen, and what the person is told to do."""

from __future__ import annotations

from ack_compute.cloud.kube_workloads import ContainerView, PodView
from ack_compute.tools.pod_verdict import advice, what_is_wrong


def pod(*containers: ContainerView, node: str = "n1", unschedulable: str = "") -> PodView:
    return PodView(
        name="p", uid="u", phase="Pending", node=node, unschedulable=unschedulable, containers=list(containers)
    )


def test_a_fatal_wait_comes_first_then_no_node_then_a_restart() -> None:
    pulling = ContainerView(name="app", state="waiting", reason="ImagePullBackOff", message="no such image")
    restarted = ContainerView(name="side", state="running", restart_count=2)
    both = what_is_wrong(pod(pulling, restarted, node="", unschedulable="0/3 nodes are available"))
    assert both is not None
    assert (both.kind, both.reason, both.detail, both.fail_fast, both.container) == (
        "waiting", "ImagePullBackOff", "no such image", True, "app"
    )  # fmt: skip
    unplaced = what_is_wrong(pod(restarted, node="", unschedulable="0/3 nodes are available"))
    assert unplaced is not None and (unplaced.reason, unplaced.detail, unplaced.fail_fast) == (
        "Unschedulable", "0/3 nodes are available", True
    )  # fmt: skip
    again = what_is_wrong(pod(restarted))
    assert again is not None and (again.kind, again.restarts, again.fail_fast) == ("restarted", 2, False)


def test_a_pod_on_its_way_has_nothing_wrong() -> None:
    creating = ContainerView(name="app", state="waiting", reason="ContainerCreating")
    assert what_is_wrong(pod(creating)) is None, "waiting to start is not a failure"
    assert what_is_wrong(pod(creating, node="n1", unschedulable="was unschedulable")) is None, "placed since"
    assert what_is_wrong(pod(ContainerView(name="app", state="running"))) is None


def test_known_reasons_get_their_own_advice_and_others_the_general_one() -> None:
    generic = advice("SomethingNew")
    for reason in ("ErrImagePull", "InvalidImageName", "CreateContainerConfigError", "Unschedulable", "Evicted"):
        assert advice(reason) != generic, reason
    assert "timeout_seconds" in advice("DeadlineExceeded") and "log tail" in generic


def test_a_pod_waiting_only_for_booting_nodes_is_not_failed() -> None:
    """Every node still carries the not-ready taint (after a create or a scale-up): the pod is placed once one is
    Ready, so it is not failed fast with advice to buy capacity. One node short for another reason still is."""
    booting = (
        "0/3 nodes are available: 3 node(s) had taint {node.kubernetes.io/not-ready: }, that the pod didn't tolerate.",
        "0/2 nodes are available: 2 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. preemption: 0/2 "
        "nodes are available: 2 Preemption is not helpful for scheduling.",
    )
    booting += (  # a job sent to a new pool: its nodes boot, the others were never meant for it
        "0/5 nodes are available: 2 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 3 node(s) didn't "
        "match Pod's node affinity/selector. preemption: 0/5 nodes are available: 5 Preemption is not helpful for "
        "scheduling.",
    )
    for message in booting:
        assert what_is_wrong(pod(node="", unschedulable=message)) is None, message
    mixed = (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had taint {node.kubernetes.io/not-ready: }, that the "
        "pod didn't tolerate."
    )
    elsewhere = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    for message in (mixed, elsewhere):
        short = what_is_wrong(pod(node="", unschedulable=message))
        assert short is not None and (short.reason, short.fail_fast) == ("Unschedulable", True), message
