"""The deployment controller (pkg/controller/deployment): one sync per Deployment and its rollout strategies,
RollingUpdate and Recreate, with the Progressing condition that reports them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ack_compute.sandbox.kube.apps_kinds import DEPLOYMENT
from ack_compute.sandbox.kube.controller_utils import (
    active_replica_sets,
    by_creation,
    controller_of,
    parse_time,
    spec_replicas,
    status_count,
    sum_over,
)
from ack_compute.sandbox.kube.deployment_sync import DeploymentSync
from ack_compute.sandbox.kube.deployment_util import (
    NEW_RS_AVAILABLE,
    REPLICA_SET_UPDATED,
    TIMED_OUT,
    deployment_complete,
    deployment_progressing,
    get_condition,
    has_progress_deadline,
    max_unavailable,
    new_condition,
    remove_condition,
    set_condition,
)
from ack_compute.sandbox.kube.pods import POD
from ack_compute.sandbox.kube.selectors import LabelSelector, SelectorError, label_selector, selects
from ack_compute.sandbox.kube.store import Obj, clone


class DeploymentController(DeploymentSync):
    """The deployment controller of one cluster, as one reconcile step over all Deployments."""

    def step(self) -> None:
        deployments, _ = self._store.list(DEPLOYMENT.key, None)
        for deployment in deployments:
            self._guarded(self._sync_deployment, deployment)

    def _sync_deployment(self, stored: Obj) -> None:
        d = clone(stored)
        try:
            selector = label_selector(d["spec"].get("selector"))
        except SelectorError:
            return
        if selector is not None and selector.empty:
            status = d.setdefault("status", {})
            if (status.get("observedGeneration") or 0) < (d["metadata"].get("generation") or 0):
                status["observedGeneration"] = d["metadata"].get("generation")
                self._update_deployment_status(d)
            return
        rs_list = self._claim_replica_sets(d, selector)
        if d["metadata"].get("deletionTimestamp"):
            new_rs, old_rss = self._all_replica_sets(d, rs_list, create=False)
            self._sync_status(d, [*old_rss, new_rs], new_rs)
            return
        self._check_paused_conditions(d)
        if d["spec"].get("paused"):
            self._sync(d, rs_list)
            return
        if self._is_scaling_event(d, rs_list):
            self._sync(d, rs_list)
            return
        if (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            self._rollout_recreate(d, rs_list, selector)
        else:
            self._rollout_rolling(d, rs_list)

    def _rollout_rolling(self, d: Obj, rs_list: list[Obj]) -> None:
        new_rs, old_rss = self._all_replica_sets(d, rs_list, create=True)
        assert new_rs is not None
        all_rss: list[Obj | None] = [*old_rss, new_rs]
        if self._reconcile_new(all_rss, new_rs, d):
            self._sync_rollout_status(d, all_rss, new_rs)
            return
        if self._reconcile_old(all_rss, active_replica_sets(old_rss), new_rs, d):
            self._sync_rollout_status(d, all_rss, new_rs)
            return
        if deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, old_rss)
        self._sync_rollout_status(d, all_rss, new_rs)

    def _reconcile_new(self, all_rss: list[Obj | None], new_rs: Obj, d: Obj) -> bool:
        if spec_replicas(new_rs) == spec_replicas(d):
            return False
        if spec_replicas(new_rs) > spec_replicas(d):
            return self._scale_rs(new_rs, spec_replicas(d), d)[0]
        count = self._new_rs_new_replicas(d, [rs for rs in all_rss if rs is not None], new_rs)
        return self._scale_rs(new_rs, count, d)[0]

    def _reconcile_old(self, all_rss: list[Obj | None], old_rss: list[Obj], new_rs: Obj, d: Obj) -> bool:
        old_count = sum_over(old_rss, spec_replicas)
        if old_count == 0:
            return False
        all_count = sum_over(all_rss, spec_replicas)
        min_available = spec_replicas(d) - max_unavailable(d)
        new_unavailable = spec_replicas(new_rs) - status_count(new_rs, "availableReplicas")
        max_scaled_down = all_count - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        old_rss, cleaned = self._cleanup_unhealthy(old_rss, d, max_scaled_down)
        scaled = self._scale_down_old([*old_rss, new_rs], old_rss, d)
        return cleaned + scaled > 0

    def _cleanup_unhealthy(self, old_rss: list[Obj], d: Obj, max_cleanup: int) -> tuple[list[Obj], int]:
        old_rss = by_creation(old_rss)
        total = 0
        for index, rs in enumerate(old_rss):
            if total >= max_cleanup:
                break
            if spec_replicas(rs) == 0 or spec_replicas(rs) == status_count(rs, "availableReplicas"):
                continue
            count = min(max_cleanup - total, spec_replicas(rs) - status_count(rs, "availableReplicas"))
            _, old_rss[index] = self._scale_rs(rs, spec_replicas(rs) - count, d)
            total += count
        return old_rss, total

    def _scale_down_old(self, all_rss: list[Obj], old_rss: list[Obj], d: Obj) -> int:
        min_available = spec_replicas(d) - max_unavailable(d)
        available = sum_over(all_rss, lambda rs: status_count(rs, "availableReplicas"))
        if available <= min_available:
            return 0
        total, target = 0, available - min_available
        for rs in by_creation(old_rss):
            if total >= target:
                break
            if spec_replicas(rs) == 0:
                continue
            count = min(spec_replicas(rs), target - total)
            self._scale_rs(rs, spec_replicas(rs) - count, d)
            total += count
        return total

    def _rollout_recreate(self, d: Obj, rs_list: list[Obj], selector: LabelSelector | None) -> None:
        new_rs, old_rss = self._all_replica_sets(d, rs_list, create=False)
        all_rss: list[Obj | None] = [*old_rss, new_rs]
        scaled_down = False
        for rs in active_replica_sets(old_rss):
            scaled_down = self._scale_rs(rs, 0, d)[0] or scaled_down
        if scaled_down or self._old_pods_running(d, new_rs, old_rss, rs_list, selector):
            self._sync_rollout_status(d, all_rss, new_rs)
            return
        if new_rs is None:
            new_rs, old_rss = self._all_replica_sets(d, rs_list, create=True)
            all_rss = [*old_rss, new_rs]
        assert new_rs is not None
        self._scale_rs(new_rs, spec_replicas(d), d)
        if deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, old_rss)
        self._sync_rollout_status(d, all_rss, new_rs)

    def _old_pods_running(
        self, d: Obj, new_rs: Obj | None, old_rss: list[Obj], rs_list: list[Obj], selector: LabelSelector | None
    ) -> bool:
        if sum_over(old_rss, lambda rs: status_count(rs, "replicas")) > 0:
            return True
        owners = {rs["metadata"]["uid"] for rs in rs_list}
        if new_rs is not None:
            owners.discard(new_rs["metadata"]["uid"])
        pods, _ = self._store.list(POD.key, d["metadata"]["namespace"])
        for pod in pods:
            ref = controller_of(pod)
            if ref is None or ref.get("uid") not in owners or not selects(selector, pod["metadata"].get("labels")):
                continue
            if (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                return True
        return False

    def _sync_rollout_status(self, d: Obj, all_rss: list[Obj | None], new_rs: Obj | None) -> None:
        """syncRolloutStatus: the Progressing condition (created, updated, available, timed out)."""
        status = self._calculate_status(d, all_rss, new_rs)
        if not has_progress_deadline(d):
            remove_condition(status, "Progressing")
        old_status = d.get("status") or {}
        current = get_condition(old_status, "Progressing")
        complete = (
            (status.get("replicas") or 0) == (status.get("updatedReplicas") or 0)
            and current is not None
            and current.get("reason") == NEW_RS_AVAILABLE
        )
        name = (
            f'ReplicaSet "{new_rs["metadata"]["name"]}"'
            if new_rs is not None
            else f'Deployment "{d["metadata"]["name"]}"'
        )
        if has_progress_deadline(d) and not complete:
            if deployment_complete(d, status):
                condition = new_condition(
                    "Progressing", "True", NEW_RS_AVAILABLE, f"{name} has successfully progressed."
                )
                set_condition(status, condition)
            elif deployment_progressing(d, status):
                condition = new_condition("Progressing", "True", REPLICA_SET_UPDATED, f"{name} is progressing.")
                if current is not None:
                    if current.get("status") == "True":
                        condition["lastTransitionTime"] = current.get("lastTransitionTime")
                    remove_condition(status, "Progressing")
                set_condition(status, condition)
            elif self._timed_out(d, status):
                condition = new_condition("Progressing", "False", TIMED_OUT, f"{name} has timed out progressing.")
                set_condition(status, condition)
        failures = self._replica_failures(all_rss, new_rs)
        if failures:
            set_condition(status, failures[0])
        else:
            remove_condition(status, "ReplicaFailure")
        if not self._write_status_if_changed(d, status):
            self._requeue_stuck(d, status)

    def _timed_out(self, d: Obj, status: Mapping[str, Any]) -> bool:
        """deploymentutil.DeploymentTimedOut, with the deadline on the cluster's time scale."""
        condition = get_condition(status, "Progressing")
        if condition is None or condition.get("reason") == NEW_RS_AVAILABLE:
            return False
        if condition.get("reason") == TIMED_OUT:
            return True
        since = parse_time(condition.get("lastUpdateTime"))
        deadline = (d["spec"].get("progressDeadlineSeconds") or 0) / self._time_scale
        return since is not None and (datetime.now(UTC) - since).total_seconds() > deadline

    def _requeue_stuck(self, d: Obj, status: Mapping[str, Any]) -> None:
        """requeueStuckDeployment: look again when the progress deadline passes."""
        current = get_condition(d.get("status") or {}, "Progressing")
        if not has_progress_deadline(d) or current is None:
            return
        if deployment_complete(d, status) or current.get("reason") == TIMED_OUT:
            return
        since = parse_time(current.get("lastUpdateTime"))
        if since is None:
            return
        deadline = (d["spec"].get("progressDeadlineSeconds") or 0) / self._time_scale
        after = deadline - (datetime.now(UTC) - since).total_seconds()
        self._cluster.controllers.later(max(after, 0.0) + 1.0 / self._time_scale)

    @staticmethod
    def _replica_failures(all_rss: list[Obj | None], new_rs: Obj | None) -> list[dict[str, Any]]:
        def failures(rs: Obj) -> list[dict[str, Any]]:
            return [
                {
                    "type": c.get("type"),
                    "status": c.get("status"),
                    "lastUpdateTime": c.get("lastTransitionTime"),
                    "lastTransitionTime": c.get("lastTransitionTime"),
                    "reason": c.get("reason"),
                    "message": c.get("message"),
                }
                for c in (rs.get("status") or {}).get("conditions") or []
                if c.get("type") == "ReplicaFailure"
            ]

        if new_rs is not None and failures(new_rs):
            return failures(new_rs)
        return [f for rs in all_rss if rs is not None for f in failures(rs)]
