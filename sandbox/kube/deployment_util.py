"""deploymentutil: the annotations, conditions and surge/unavailable arithmetic of the deployment controller."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from ack_compute.sandbox.kube.context import now_rfc3339
from ack_compute.sandbox.kube.controller_utils import spec_replicas
from ack_compute.sandbox.kube.store import Obj, clone

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO_ANNOTATION = "deprecated.deployment.rollback.to"
# Deployment condition reasons (pkg/controller/deployment/util).
REPLICA_SET_UPDATED = "ReplicaSetUpdated"
FAILED_RS_CREATE = "ReplicaSetCreateError"
NEW_REPLICA_SET = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"
MAX_REVISION_HISTORY_CHARS = 2000
MAX_INT32 = 2**31 - 1
_SKIPPED_ANNOTATIONS = frozenset(
    {
        LAST_APPLIED_ANNOTATION,
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        DESIRED_REPLICAS_ANNOTATION,
        MAX_REPLICAS_ANNOTATION,
        ROLLBACK_TO_ANNOTATION,
    }
)


def revision_of(obj: Mapping[str, Any]) -> int:
    value = (obj["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def equal_ignore_hash(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """deploymentutil.EqualIgnoreHash: templates compared without the pod-template-hash label."""

    def strip(template: Mapping[str, Any]) -> Any:
        copy = clone(dict(template))
        metadata = copy.setdefault("metadata", {})
        labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k != POD_TEMPLATE_HASH_LABEL}
        metadata.pop("labels", None)
        if labels:
            metadata["labels"] = labels
        return json.dumps(copy, sort_keys=True)

    return strip(first) == strip(second)


def new_condition(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
    now = now_rfc3339()
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def get_condition(status: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def set_condition(status: dict[str, Any], condition: dict[str, Any]) -> None:
    """deploymentutil.SetDeploymentCondition: same status and reason keep the old one; the same status keeps its
    transition time; the condition goes to the end of the list."""
    current = get_condition(status, condition["type"])
    if (
        current is not None
        and current.get("status") == condition["status"]
        and current.get("reason") == condition["reason"]
    ):
        return
    if current is not None and current.get("status") == condition["status"]:
        condition["lastTransitionTime"] = current.get("lastTransitionTime")
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != condition["type"]]
    status["conditions"].append(condition)


def remove_condition(status: dict[str, Any], kind: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != kind]


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent; a malformed value counts as 0 (validation rejects it anyway)."""
    if isinstance(value, str):
        try:
            number = int(value.replace("%", ""))
        except ValueError:
            return 0
        scaled = number * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(value or 0)


def max_surge(d: Mapping[str, Any]) -> int:
    strategy = d["spec"].get("strategy") or {}
    if strategy.get("type") != "RollingUpdate":
        return 0
    return fenceposts(d)[0]


def max_unavailable(d: Mapping[str, Any]) -> int:
    strategy = d["spec"].get("strategy") or {}
    if strategy.get("type") != "RollingUpdate" or spec_replicas(d) == 0:
        return 0
    return min(fenceposts(d)[1], spec_replicas(d))


def fenceposts(d: Mapping[str, Any]) -> tuple[int, int]:
    """deploymentutil.ResolveFenceposts: surge rounds up, unavailable down, and both zero means one unavailable."""
    rolling = (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    surge = scaled_value(rolling.get("maxSurge", 0), spec_replicas(d), True)
    unavailable = scaled_value(rolling.get("maxUnavailable", 0), spec_replicas(d), False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def has_progress_deadline(d: Mapping[str, Any]) -> bool:
    deadline = d["spec"].get("progressDeadlineSeconds")
    return deadline is not None and deadline != MAX_INT32


def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    annotations = rs["metadata"].setdefault("annotations", {})
    updated = False
    for key, value in ((DESIRED_REPLICAS_ANNOTATION, str(desired)), (MAX_REPLICAS_ANNOTATION, str(maximum))):
        if annotations.get(key) != value:
            annotations[key] = value
            updated = True
    return updated


def replicas_annotations_need_update(rs: Mapping[str, Any], desired: int, maximum: int) -> bool:
    annotations = rs["metadata"].get("annotations") or {}
    return annotations.get(DESIRED_REPLICAS_ANNOTATION) != str(desired) or annotations.get(
        MAX_REPLICAS_ANNOTATION
    ) != str(maximum)


def int_annotation(rs: Mapping[str, Any], key: str) -> int | None:
    value = (rs["metadata"].get("annotations") or {}).get(key)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def set_new_rs_annotations(d: Mapping[str, Any], rs: Obj, new_revision: str, exists: bool) -> bool:
    """deploymentutil.SetNewReplicaSetAnnotations."""
    annotations = rs["metadata"].setdefault("annotations", {})
    changed = False
    for key, value in (d["metadata"].get("annotations") or {}).items():
        if key in _SKIPPED_ANNOTATIONS or annotations.get(key) == value:
            continue
        annotations[key] = value
        changed = True
    old_revision = annotations.get(REVISION_ANNOTATION)
    try:
        old_number = int(old_revision) if old_revision else 0
    except ValueError:
        return False
    new_number = int(new_revision)
    if old_number < new_number:
        annotations[REVISION_ANNOTATION] = new_revision
        changed = True
    if old_revision is not None and old_number < new_number:
        history = annotations.get(REVISION_HISTORY_ANNOTATION) or ""
        if not history:
            annotations[REVISION_HISTORY_ANNOTATION] = old_revision
        else:
            revisions = history.split(",")
            total, start = len(history) + len(old_revision) + 1, 0
            while total > MAX_REVISION_HISTORY_CHARS and start < len(revisions):
                total -= len(revisions[start]) + 1
                start += 1
            if total <= MAX_REVISION_HISTORY_CHARS:
                annotations[REVISION_HISTORY_ANNOTATION] = ",".join([*revisions[start:], old_revision])
    if not exists and set_replicas_annotations(rs, spec_replicas(d), spec_replicas(d) + max_surge(d)):
        changed = True
    return changed


def deployment_complete(d: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    replicas = spec_replicas(d)
    return (
        (status.get("updatedReplicas") or 0) == replicas
        and (status.get("replicas") or 0) == replicas
        and (status.get("availableReplicas") or 0) == replicas
        and (status.get("observedGeneration") or 0) >= (d["metadata"].get("generation") or 0)
    )


def deployment_progressing(d: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    old = d.get("status") or {}

    def get(status: Mapping[str, Any], key: str) -> int:
        return int(status.get(key) or 0)

    return (
        get(new, "updatedReplicas") > get(old, "updatedReplicas")
        or get(new, "replicas") - get(new, "updatedReplicas") < get(old, "replicas") - get(old, "updatedReplicas")
        or get(new, "readyReplicas") > get(old, "readyReplicas")
        or get(new, "availableReplicas") > get(old, "availableReplicas")
    )
