"""The replicaset controller (pkg/controller/replicaset): claim pods, keep `replicas` of them, report status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ack_compute.sandbox.kube.apps_kinds import REPLICA_SET
from ack_compute.sandbox.kube.context import now_rfc3339
from ack_compute.sandbox.kube.controller_utils import (
    BURST_REPLICAS,
    AppsController,
    controller_of,
    is_pod_active,
    is_pod_ready,
    omit_empty,
    parse_time,
    pod_condition,
    pod_from_template,
    pods_to_delete_order,
    spec_replicas,
    status_count,
)
from ack_compute.sandbox.kube.objects import DeleteOptions
from ack_compute.sandbox.kube.pods import POD
from ack_compute.sandbox.kube.selectors import LabelSelector, SelectorError, label_selector, selects
from ack_compute.sandbox.kube.status import StatusError
from ack_compute.sandbox.kube.store import Obj, clone


class ReplicaSetController(AppsController):
    """The replicaset controller of one cluster, as one reconcile step over all ReplicaSets."""

    def step(self) -> None:
        replica_sets, _ = self._store.list(REPLICA_SET.key, None)
        for replica_set in replica_sets:
            self._guarded(self._sync_replica_set, replica_set)

    def _sync_replica_set(self, rs: Obj) -> None:
        meta = rs["metadata"]
        try:
            selector = label_selector(rs["spec"].get("selector"))
        except SelectorError:
            return
        pods, _ = self._store.list(POD.key, meta["namespace"])
        owned = self._claim_pods(rs, selector, [p for p in pods if is_pod_active(p)])
        error = None if meta.get("deletionTimestamp") else self._manage_replicas(owned, rs, pods)
        status = self._replica_set_status(rs, owned, error)
        current = rs.get("status") or {}
        if (
            all((current.get(k) or 0) == (status.get(k) or 0) for k in self._RS_COUNTERS)
            and (meta.get("generation") or 0) == (current.get("observedGeneration") or 0)
            and (current.get("conditions") or []) == (status.get("conditions") or [])
        ):
            updated = rs
        else:
            status["observedGeneration"] = meta.get("generation") or 0
            rs["status"] = omit_empty(
                {key: status.get(key) for key in (*self._RS_COUNTERS, "observedGeneration", "conditions")},
                keep=("replicas",),
            )
            updated = self._objects.update(
                REPLICA_SET, meta["namespace"], meta["name"], rs, self._ctx(), subresource="status"
            )
        min_ready = updated["spec"].get("minReadySeconds") or 0
        if (
            error is None
            and min_ready > 0
            and status_count(updated, "readyReplicas") == spec_replicas(updated)
            and status_count(updated, "availableReplicas") != spec_replicas(updated)
        ):
            self._cluster.controllers.later(min_ready / self._time_scale)

    _RS_COUNTERS = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")

    def _claim_pods(self, rs: Obj, selector: LabelSelector | None, pods: list[Obj]) -> list[Obj]:
        """PodControllerRefManager.ClaimPods."""
        return self._claim(rs, REPLICA_SET, POD, selector, pods)

    def _manage_replicas(self, owned: list[Obj], rs: Obj, all_pods: list[Obj]) -> str | None:
        diff = len(owned) - spec_replicas(rs)
        if diff < 0:
            for _ in range(min(-diff, BURST_REPLICAS)):
                try:
                    self._create_pod(rs)
                except StatusError as error:
                    causes = (error.details or {}).get("causes") or []
                    if any(c.get("reason") == "NamespaceTerminating" for c in causes):
                        return None
                    return error.message
            return None
        if diff > 0:
            related = self._related_pods(rs, all_pods)
            node_counts: dict[str, int] = {}
            for pod in related:
                if is_pod_active(pod):
                    node = pod["spec"].get("nodeName") or ""
                    node_counts[node] = node_counts.get(node, 0) + 1
            ranks = {p["metadata"]["uid"]: node_counts.get(p["spec"].get("nodeName") or "", 0) for p in owned}
            victims = pods_to_delete_order(owned, ranks) if diff < len(owned) else owned
            for pod in victims[: min(diff, BURST_REPLICAS)]:
                try:
                    self._objects.delete(
                        POD, pod["metadata"]["namespace"], pod["metadata"]["name"], DeleteOptions(), self._ctx()
                    )
                except StatusError as error:
                    if error.code != 404:
                        return error.message
        return None

    def _related_pods(self, rs: Obj, pods: list[Obj]) -> list[Obj]:
        """Pods of every ReplicaSet with the same controller (getIndirectlyRelatedPods)."""
        ref = controller_of(rs)
        if ref is None:
            siblings = [rs]
        else:
            candidates, _ = self._store.list(REPLICA_SET.key, rs["metadata"]["namespace"])
            siblings = [c for c in candidates if (controller_of(c) or {}).get("uid") == ref.get("uid")]
        related: dict[str, Obj] = {}
        for sibling in siblings:
            try:
                selector = label_selector(sibling["spec"].get("selector"))
            except SelectorError:
                continue
            for pod in pods:
                if selects(selector, pod["metadata"].get("labels")):
                    related.setdefault(pod["metadata"]["uid"], pod)
        return list(related.values())

    def _create_pod(self, rs: Obj) -> Obj:
        """controller.GetPodFromTemplate + CreatePodsWithControllerRef."""
        body = pod_from_template(rs, REPLICA_SET, rs["spec"].get("template") or {})
        return self._objects.create(POD, rs["metadata"]["namespace"], body, self._ctx())

    def _replica_set_status(self, rs: Obj, pods: list[Obj], error: str | None) -> dict[str, Any]:
        """replicaset calculateStatus."""
        template_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        min_ready = rs["spec"].get("minReadySeconds") or 0
        now = datetime.now(UTC)
        fully = ready = available = 0
        for pod in pods:
            labels = pod["metadata"].get("labels") or {}
            if all(labels.get(k) == v for k, v in template_labels.items()):
                fully += 1
            if is_pod_ready(pod):
                ready += 1
                if self._available(pod, min_ready, now):
                    available += 1
        status = clone(rs.get("status") or {})
        conditions = status.get("conditions") or []
        failure = next((c for c in conditions if c.get("type") == "ReplicaFailure"), None)
        if error is not None and failure is None:
            reason = "FailedCreate" if len(pods) < spec_replicas(rs) else "FailedDelete"
            conditions = [
                *conditions,
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "lastTransitionTime": now_rfc3339(),
                    "reason": reason,
                    "message": error,
                },
            ]
        elif error is None and failure is not None:
            conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
        status.update(
            {
                "replicas": len(pods),
                "fullyLabeledReplicas": fully,
                "readyReplicas": ready,
                "availableReplicas": available,
                "conditions": conditions,
            }
        )
        return status

    def _available(self, pod: Obj, min_ready: int, now: datetime) -> bool:
        """podutil.IsPodAvailable, with minReadySeconds on the cluster's time scale."""
        if min_ready == 0:
            return True
        since = parse_time((pod_condition(pod, "Ready") or {}).get("lastTransitionTime"))
        return since is not None and (now - since).total_seconds() > min_ready / self._time_scale
