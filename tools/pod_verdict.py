"""What is wrong with a pod, read one way for every tool that watches pods (run_job's Job, deploy_acs's Deployment).

Each tool words the finding for its own answer and decides what to do with it; which pod states count as fatal,
and what to do about a failure's reason, are said once, here.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

from ack_compute.cloud.kube_workloads import ContainerView, PodView

# Container waiting reasons that never clear up by waiting: the run ends at once instead of retrying (and billing).
FAIL_FAST_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
UNSCHEDULABLE = "Unschedulable"
RESTARTED = "Restarted"


class PodFinding(BaseModel):
    """One thing wrong with a pod. `fail_fast`: waiting longer cannot help, whatever retries are left; a restarted
    container is not, since a Job may retry, but a long-running workload that restarts is crash-looping."""

    kind: Literal["waiting", "unschedulable", "restarted"]
    reason: str
    detail: str = ""
    fail_fast: bool = False
    container: str = ""
    restarts: int = 0


def waiting_container(pod: PodView) -> ContainerView | None:
    """The first container that waits for a stated reason (ContainerCreating, ImagePullBackOff, ...)."""
    return next((c for c in pod.containers if c.state == "waiting" and c.reason), None)


# kube-scheduler's fit error: "0/N nodes are available: C reason, C reason." (then, since 1.25, " preemption: ...").
_FIT_ERROR = re.compile(r"^0/(\d+) nodes are available: (.*?)\.(?: preemption: .*)?$")
_NOT_READY = re.compile(r"^node\(s\) had (?:untolerated )?taint \{node\.kubernetes\.io/not-ready: \}$")
# Nodes a pod was never meant for (a job sent to one node pool): they say nothing of whether it fits where it goes.
_NOT_ITS_NODES = ("node(s) didn't match Pod's node affinity/selector", "node(s) didn't match node selector")


def nodes_booting(unschedulable: str) -> bool:
    """Whether the pod waits only for nodes to become Ready (after a create, a new pool or a scale-up): every node it
    may use still carries the not-ready taint. Nothing is wrong then, and failing it fast had an agent told to buy
    capacity it already had."""
    found = _FIT_ERROR.match(unschedulable)
    if found is None:
        return False
    items = found[2].replace(", that the pod didn't tolerate", "").split(", ")
    counted = [item.partition(" ") for item in items]
    if not all(count.isdigit() for count, _, _ in counted) or sum(int(c) for c, _, _ in counted) != int(found[1]):
        return False
    booting = [r for _, _, r in counted if _NOT_READY.match(r)]
    return bool(booting) and all(_NOT_READY.match(r) or r in _NOT_ITS_NODES for _, _, r in counted)


def what_is_wrong(pod: PodView) -> PodFinding | None:
    """The first of: a container waiting for a fatal reason, a pod no node can take, a container that restarted."""
    waiting = waiting_container(pod)
    if waiting is not None and waiting.reason in FAIL_FAST_REASONS:
        return PodFinding(
            kind="waiting", reason=waiting.reason, detail=waiting.message, fail_fast=True, container=waiting.name
        )
    if pod.unschedulable and not pod.node and not nodes_booting(pod.unschedulable):
        return PodFinding(kind="unschedulable", reason=UNSCHEDULABLE, detail=pod.unschedulable, fail_fast=True)
    restarted = next((c for c in pod.containers if c.restart_count > 0), None)
    if restarted is not None:
        return PodFinding(
            kind="restarted", reason=RESTARTED, container=restarted.name, restarts=restarted.restart_count
        )
    return None


def advice(reason: str) -> str:
    """The next step for a run that failed for `reason` (a container's, a pod's or the Job's)."""
    if reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"):
        return "The image could not be pulled: check its name and tag, or omit `image` to use the cluster's registry."
    if reason in ("CreateContainerConfigError", "CreateContainerError", "RunContainerError"):
        return "The container could not be set up: check env and image; the message says what is missing."
    if reason == UNSCHEDULABLE:
        return "No node can take the pod: free capacity, add nodes, or run with compute=acs (quoted)."
    if reason in ("DeadlineExceeded", "Timeout"):
        return "It ran out of time: raise timeout_seconds (and acs.hours for ACS) or make the script faster."
    if reason == "Evicted":
        return (
            "The node evicted the pod (memory or disk pressure, or the node went away): run it again, on bigger "
            "nodes or with compute=acs."
        )
    if reason in ("JobDeleted", "Deleted"):
        return "The Job was deleted before it finished (by someone else, or cleanup): run it again if still needed."
    if reason == "BackoffLimitExceeded" or reason == "Error":
        return "The script failed: read the log tail, fix the script, and run again."
    return "Read the reason and the log tail, fix the cause, and run again."
