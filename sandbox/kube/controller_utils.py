"""What the deployment and replicaset controllers share (pkg/controller and podutil): owner references, pod
state, the order pods are removed in, and the base of a controller that writes as kube-controller-manager."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ack_compute.sandbox.kube.context import WriteContext
from ack_compute.sandbox.kube.controllers import CONTROLLER_MANAGER
from ack_compute.sandbox.kube.registry import Kind
from ack_compute.sandbox.kube.selectors import LabelSelector, selects
from ack_compute.sandbox.kube.status import StatusError
from ack_compute.sandbox.kube.store import Obj, clone
from ack_compute.sandbox.kube.validation import name_is_dns_subdomain

if TYPE_CHECKING:
    from ack_compute.sandbox.kube.cluster import KubeCluster

log = logging.getLogger("ack_compute.sandbox.kube")


BURST_REPLICAS = 500


def spec_replicas(obj: Mapping[str, Any]) -> int:
    return int((obj.get("spec") or {}).get("replicas") or 0)


def status_count(obj: Mapping[str, Any], key: str) -> int:
    return int((obj.get("status") or {}).get(key) or 0)


def controller_ref(owner: Mapping[str, Any], kind: Kind) -> dict[str, Any]:
    """metav1.NewControllerRef."""
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_from_template(owner: Mapping[str, Any], owner_kind: Kind, template: Mapping[str, Any]) -> dict[str, Any]:
    """controller.GetPodFromTemplate: the template's labels, annotations, finalizers and spec, a name generated
    after the owner and a controller reference to it."""
    template_meta = template.get("metadata") or {}
    name = owner["metadata"]["name"]
    prefix = f"{name}-" if not name_is_dns_subdomain(f"{name}-", True) else name
    metadata: dict[str, Any] = {"generateName": prefix}
    for key in ("labels", "annotations", "finalizers"):
        if template_meta.get(key):
            metadata[key] = clone(template_meta[key])
    metadata["ownerReferences"] = [controller_ref(owner, owner_kind)]
    return {"metadata": metadata, "spec": clone(template.get("spec") or {})}


def controller_of(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    return next((ref for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("controller")), None)


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def pod_condition(pod: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if isinstance(c, dict) and c.get("type") == kind), None)


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    condition = pod_condition(pod, "Ready")
    return condition is not None and condition.get("status") == "True"


def is_pod_active(pod: Mapping[str, Any]) -> bool:
    """controller.IsPodActive."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def pods_to_delete_order(pods: list[Obj], ranks: dict[str, int]) -> list[Obj]:
    """controller.ActivePodsWithRanks: the pods to remove first (unscheduled, pending, not ready, doubled up,
    ready for the shortest time, most restarted, newest) come first."""

    def ready_time(pod: Obj) -> str:
        condition = pod_condition(pod, "Ready")
        return (condition or {}).get("lastTransitionTime") or ""

    def restarts(pod: Obj) -> int:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        return max((int(s.get("restartCount") or 0) for s in statuses if isinstance(s, dict)), default=0)

    def after_or_zero(first: str, second: str) -> bool:
        if not first or not second:
            return not first
        return first > second

    def less(a: Obj, b: Obj) -> bool:
        node_a, node_b = a["spec"].get("nodeName") or "", b["spec"].get("nodeName") or ""
        if node_a != node_b and (not node_a or not node_b):
            return not node_a
        phase_a = _PHASE_ORDINAL.get((a.get("status") or {}).get("phase") or "", 0)
        phase_b = _PHASE_ORDINAL.get((b.get("status") or {}).get("phase") or "", 0)
        if phase_a != phase_b:
            return phase_a < phase_b
        if is_pod_ready(a) != is_pod_ready(b):
            return not is_pod_ready(a)
        rank_a, rank_b = ranks.get(a["metadata"]["uid"], 0), ranks.get(b["metadata"]["uid"], 0)
        if rank_a != rank_b:
            return rank_a > rank_b
        if is_pod_ready(a) and is_pod_ready(b) and ready_time(a) != ready_time(b):
            return after_or_zero(ready_time(a), ready_time(b))
        if restarts(a) != restarts(b):
            return restarts(a) > restarts(b)
        created_a, created_b = (
            a["metadata"].get("creationTimestamp") or "",
            b["metadata"].get("creationTimestamp") or "",
        )
        if created_a != created_b:
            return after_or_zero(created_a, created_b)
        return False

    def compare(a: Obj, b: Obj) -> int:
        return -1 if less(a, b) else (1 if less(b, a) else 0)

    return sorted(sorted(pods, key=lambda p: p["metadata"]["name"]), key=functools.cmp_to_key(compare))


def by_creation(replica_sets: list[Obj]) -> list[Obj]:
    """controller.ReplicaSetsByCreationTimestamp."""
    return sorted(replica_sets, key=lambda rs: (rs["metadata"].get("creationTimestamp") or "", rs["metadata"]["name"]))


def active_replica_sets(replica_sets: Sequence[Obj | None]) -> list[Obj]:
    return [rs for rs in replica_sets if rs is not None and spec_replicas(rs) > 0]


def sum_over(replica_sets: Sequence[Obj | None], counter: Callable[[Obj], int]) -> int:
    return sum(counter(rs) for rs in replica_sets if rs is not None)


def omit_empty(status: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """Go's omitempty on the status counters and conditions."""
    return {k: v for k, v in status.items() if k in keep or (v not in (0, None, [], {}))}


class AppsController:
    """What both controllers of one cluster share: the store, the time scale and writes as kube-controller-manager."""

    def __init__(self, cluster: KubeCluster) -> None:
        self._cluster = cluster
        self._objects = cluster.objects
        self._store = cluster.store

    @property
    def _time_scale(self) -> float:
        return self._cluster.time_scale or 1.0

    def _ctx(self) -> WriteContext:
        return self._cluster.system_context(CONTROLLER_MANAGER)

    def _guarded(self, sync: Callable[[Obj], None], obj: Obj) -> None:
        try:
            sync(obj)
        except StatusError as error:
            # Conflicts and vanished objects are retried by the next pass, which the competing write triggers.
            log.debug(
                "%s of %s/%s: %s", sync.__name__, obj["metadata"].get("namespace"), obj["metadata"]["name"], error
            )

    def _set_owner(self, kind: Kind, obj: Obj, refs: list[dict[str, Any]]) -> Obj | None:
        """Adopt or release through an update (the real controllers patch ownerReferences)."""
        updated = clone(obj)
        updated["metadata"]["ownerReferences"] = refs
        if not refs:
            del updated["metadata"]["ownerReferences"]
        return self._objects.try_update(kind, updated, self._ctx())

    def _claim(
        self, owner: Obj, owner_kind: Kind, kind: Kind, selector: LabelSelector | None, candidates: list[Obj]
    ) -> list[Obj]:
        """BaseControllerRefManager.ClaimObject over the candidates: keep what the owner controls and its selector
        matches (all of it while the owner is being deleted), adopt matching orphans, release the rest."""
        uid = owner["metadata"]["uid"]
        deleting = bool(owner["metadata"].get("deletionTimestamp"))
        claimed = []
        for obj in candidates:
            ref = controller_of(obj)
            matches = selects(selector, obj["metadata"].get("labels"))
            if ref is not None and ref.get("uid") == uid:
                if matches or deleting:
                    claimed.append(obj)
                else:
                    self._set_owner(kind, obj, [r for r in obj["metadata"]["ownerReferences"] if r.get("uid") != uid])
            elif ref is None and matches and not deleting and not obj["metadata"].get("deletionTimestamp"):
                refs = [*(obj["metadata"].get("ownerReferences") or []), controller_ref(owner, owner_kind)]
                adopted = self._set_owner(kind, obj, refs)
                if adopted is not None:
                    claimed.append(adopted)
        return claimed
