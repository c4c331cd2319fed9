"""The deployment controller's ReplicaSet bookkeeping (pkg/controller/deployment sync.go): find or create the
new ReplicaSet, proportional scaling, history cleanup and the status counters."""

from __future__ import annotations

import math
from typing import Any

from ack_compute.sandbox.kube.apps_kinds import DEPLOYMENT, REPLICA_SET
from ack_compute.sandbox.kube.controller_utils import (
    AppsController,
    active_replica_sets,
    by_creation,
    controller_of,
    controller_ref,
    omit_empty,
    spec_replicas,
    status_count,
    sum_over,
)
from ack_compute.sandbox.kube.deployment_util import (
    DESIRED_REPLICAS_ANNOTATION,
    FAILED_RS_CREATE,
    FOUND_NEW_RS,
    MAX_INT32,
    MAX_REPLICAS_ANNOTATION,
    MINIMUM_REPLICAS_AVAILABLE,
    MINIMUM_REPLICAS_UNAVAILABLE,
    NEW_REPLICA_SET,
    PAUSED,
    POD_TEMPLATE_HASH_LABEL,
    RESUMED,
    REVISION_ANNOTATION,
    TIMED_OUT,
    equal_ignore_hash,
    get_condition,
    has_progress_deadline,
    int_annotation,
    max_surge,
    max_unavailable,
    new_condition,
    replicas_annotations_need_update,
    revision_of,
    scaled_value,
    set_condition,
    set_new_rs_annotations,
    set_replicas_annotations,
)
from ack_compute.sandbox.kube.objects import DeleteOptions
from ack_compute.sandbox.kube.pod_template_hash import pod_template_hash
from ack_compute.sandbox.kube.selectors import LabelSelector
from ack_compute.sandbox.kube.status import StatusError
from ack_compute.sandbox.kube.store import Obj, clone


class DeploymentSync(AppsController):
    """The parts of the deployment controller that every sync shares, whatever the rollout strategy."""

    def _update_rs(self, rs: Obj) -> Obj:
        meta = rs["metadata"]
        return self._objects.update(REPLICA_SET, meta["namespace"], meta["name"], rs, self._ctx())

    def _update_deployment_status(self, d: Obj) -> Obj:
        """UpdateStatus; `d` then carries the new resourceVersion, as the requeued sync would see it."""
        meta = d["metadata"]
        stored = self._objects.update(DEPLOYMENT, meta["namespace"], meta["name"], d, self._ctx(), subresource="status")
        meta["resourceVersion"] = stored["metadata"]["resourceVersion"]
        return stored

    def _claim_replica_sets(self, d: Obj, selector: LabelSelector | None) -> list[Obj]:
        """ReplicaSetControllerRefManager.ClaimReplicaSets."""
        candidates, _ = self._store.list(REPLICA_SET.key, d["metadata"]["namespace"])
        return self._claim(d, DEPLOYMENT, REPLICA_SET, selector, candidates)

    def _all_replica_sets(self, d: Obj, rs_list: list[Obj], *, create: bool) -> tuple[Obj | None, list[Obj]]:
        """getAllReplicaSetsAndSyncRevision: (the new ReplicaSet or None, all the old ones)."""
        new_rs = self._find_new(d, rs_list)
        old_rss = [rs for rs in rs_list if new_rs is None or rs["metadata"]["uid"] != new_rs["metadata"]["uid"]]
        return self._new_replica_set(d, rs_list, old_rss, create), old_rss

    @staticmethod
    def _find_new(d: Obj, rs_list: list[Obj]) -> Obj | None:
        template = d["spec"].get("template") or {}
        return next(
            (rs for rs in by_creation(rs_list) if equal_ignore_hash(rs["spec"].get("template") or {}, template)), None
        )

    def _new_replica_set(self, d: Obj, rs_list: list[Obj], old_rss: list[Obj], create: bool) -> Obj | None:
        """getNewReplicaSet: sync the existing new ReplicaSet's annotations, or create it."""
        existing = self._find_new(d, rs_list)
        new_revision = str(max((revision_of(rs) for rs in old_rss), default=0) + 1)
        status = d.setdefault("status", {})
        if existing is not None:
            rs_copy = clone(existing)
            annotations_updated = set_new_rs_annotations(d, rs_copy, new_revision, True)
            min_ready = d["spec"].get("minReadySeconds") or 0
            if annotations_updated or (rs_copy["spec"].get("minReadySeconds") or 0) != min_ready:
                rs_copy["spec"]["minReadySeconds"] = min_ready
                if not min_ready:
                    rs_copy["spec"].pop("minReadySeconds")
                return self._update_rs(rs_copy)
            needs_update = self._set_revision(
                d, (rs_copy["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, "")
            )
            first = get_condition(status, "Progressing") is None
            self._progressed(
                d,
                needs_update,
                FOUND_NEW_RS,
                f'Found new replica set "{rs_copy["metadata"]["name"]}"' if first else None,
            )
            return rs_copy
        if not create:
            return None
        template = clone(d["spec"].get("template") or {})
        template_hash = pod_template_hash(template, status.get("collisionCount"))
        labels = {**(template["metadata"].get("labels") or {}), POD_TEMPLATE_HASH_LABEL: template_hash}
        template["metadata"]["labels"] = labels
        selector = clone(d["spec"].get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), POD_TEMPLATE_HASH_LABEL: template_hash}
        name = f"{d['metadata']['name']}-{template_hash}"
        new_rs: Obj = {
            "metadata": {
                "name": name,
                "namespace": d["metadata"]["namespace"],
                "labels": dict(labels),
                "ownerReferences": [controller_ref(d, DEPLOYMENT)],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
        }
        if d["spec"].get("minReadySeconds"):
            new_rs["spec"]["minReadySeconds"] = d["spec"]["minReadySeconds"]
        new_rs["spec"]["replicas"] = self._new_rs_new_replicas(d, [*old_rss, new_rs], new_rs)
        set_new_rs_annotations(d, new_rs, new_revision, False)
        already_exists = False
        try:
            created = self._objects.create(REPLICA_SET, d["metadata"]["namespace"], new_rs, self._ctx())
        except StatusError as error:
            if error.code == 409 and error.reason == "AlreadyExists":
                found = self._store.get(REPLICA_SET.key, d["metadata"]["namespace"], name)
                if found is None:
                    raise
                ref = controller_of(found)
                if (
                    ref is not None
                    and ref.get("uid") == d["metadata"]["uid"]
                    and equal_ignore_hash(d["spec"].get("template") or {}, found["spec"].get("template") or {})
                ):
                    created, already_exists = found, True
                else:
                    status["collisionCount"] = (status.get("collisionCount") or 0) + 1
                    self._update_deployment_status(d)
                    raise
            elif any(c.get("reason") == "NamespaceTerminating" for c in (error.details or {}).get("causes") or []):
                raise
            else:
                message = f'Failed to create new replica set "{name}": {error.message}'
                if has_progress_deadline(d):
                    set_condition(status, new_condition("Progressing", "False", FAILED_RS_CREATE, message))
                    self._update_deployment_status(d)
                raise
        needs_update = self._set_revision(d, new_revision)
        made = None if already_exists else f'Created new replica set "{created["metadata"]["name"]}"'
        self._progressed(d, needs_update, NEW_REPLICA_SET, made)
        return created

    def _progressed(self, d: Obj, needs_update: bool, reason: str, message: str | None) -> None:
        """getNewReplicaSet's ending: Progressing=True for `message` (when given and the Deployment has a progress
        deadline), then the Deployment's status saved if anything in it changed."""
        if message is not None and has_progress_deadline(d):
            set_condition(d["status"], new_condition("Progressing", "True", reason, message))
            needs_update = True
        if needs_update:
            self._update_deployment_status(d)

    @staticmethod
    def _set_revision(d: Obj, revision: str) -> bool:
        annotations = d["metadata"].setdefault("annotations", {})
        if annotations.get(REVISION_ANNOTATION) != revision:
            annotations[REVISION_ANNOTATION] = revision
            return True
        return False

    @staticmethod
    def _new_rs_new_replicas(d: Obj, all_rss: list[Obj], new_rs: Obj) -> int:
        """deploymentutil.NewRSNewReplicas."""
        strategy = d["spec"].get("strategy") or {}
        if strategy.get("type") == "Recreate":
            return spec_replicas(d)
        surge = scaled_value((strategy.get("rollingUpdate") or {}).get("maxSurge", 0), spec_replicas(d), True)
        current = sum_over(all_rss, spec_replicas)
        max_total = spec_replicas(d) + surge
        if current >= max_total:
            return spec_replicas(new_rs)
        scale_up = min(max_total - current, spec_replicas(d) - spec_replicas(new_rs))
        return spec_replicas(new_rs) + scale_up

    def _check_paused_conditions(self, d: Obj) -> None:
        if not has_progress_deadline(d):
            return
        status = d.setdefault("status", {})
        condition = get_condition(status, "Progressing")
        if condition is not None and condition.get("reason") == TIMED_OUT:
            return
        paused_exists = condition is not None and condition.get("reason") == PAUSED
        if d["spec"].get("paused") and not paused_exists:
            set_condition(status, new_condition("Progressing", "Unknown", PAUSED, "Deployment is paused"))
        elif not d["spec"].get("paused") and paused_exists:
            set_condition(status, new_condition("Progressing", "Unknown", RESUMED, "Deployment is resumed"))
        else:
            return
        self._update_deployment_status(d)

    def _is_scaling_event(self, d: Obj, rs_list: list[Obj]) -> bool:
        new_rs, old_rss = self._all_replica_sets(d, rs_list, create=False)
        for rs in active_replica_sets([*old_rss, new_rs]):
            desired = int_annotation(rs, DESIRED_REPLICAS_ANNOTATION)
            if desired is not None and desired != spec_replicas(d):
                return True
        return False

    def _sync(self, d: Obj, rs_list: list[Obj]) -> None:
        """sync: scale (a scaling event or a paused deployment) and report status."""
        new_rs, old_rss = self._all_replica_sets(d, rs_list, create=False)
        self._scale(d, new_rs, old_rss)
        if d["spec"].get("paused"):
            self._cleanup(d, old_rss)
        self._sync_status(d, [*old_rss, new_rs], new_rs)

    def _scale(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
        """DeploymentController.scale: proportional scaling across the active ReplicaSets."""
        active_or_latest = self._active_or_latest(new_rs, old_rss)
        if active_or_latest is not None:
            if spec_replicas(active_or_latest) != spec_replicas(d):
                self._scale_rs(active_or_latest, spec_replicas(d), d)
            return
        if self._saturated(d, new_rs):
            for old in active_replica_sets(old_rss):
                self._scale_rs(old, 0, d)
            return
        if (d["spec"].get("strategy") or {}).get("type") != "RollingUpdate":
            return
        all_rss = active_replica_sets([*old_rss, new_rs])
        total = sum_over(all_rss, spec_replicas)
        allowed = spec_replicas(d) + max_surge(d) if spec_replicas(d) > 0 else 0
        to_add = allowed - total
        if to_add > 0:
            # ReplicaSetsBySizeNewer: bigger first, newer first among equals.
            all_rss.sort(
                key=lambda rs: (rs["metadata"].get("creationTimestamp") or "", rs["metadata"]["name"]), reverse=True
            )
            all_rss.sort(key=lambda rs: -spec_replicas(rs))
        elif to_add < 0:
            all_rss = sorted(by_creation(all_rss), key=lambda rs: -spec_replicas(rs))
        added = 0
        sizes: dict[str, int] = {}
        for rs in all_rss:
            if to_add != 0:
                proportion = self._proportion(rs, d, to_add, added)
                sizes[rs["metadata"]["name"]] = spec_replicas(rs) + proportion
                added += proportion
            else:
                sizes[rs["metadata"]["name"]] = spec_replicas(rs)
        for index, rs in enumerate(all_rss):
            name = rs["metadata"]["name"]
            if index == 0 and to_add != 0:
                sizes[name] = max(sizes[name] + to_add - added, 0)
            self._scale_rs(rs, sizes[name], d, force=True)

    @staticmethod
    def _active_or_latest(new_rs: Obj | None, old_rss: list[Obj]) -> Obj | None:
        if new_rs is None and not old_rss:
            return None
        newest_first = list(reversed(by_creation(old_rss)))
        active = active_replica_sets([*newest_first, new_rs])
        if not active:
            return new_rs if new_rs is not None else newest_first[0]
        return active[0] if len(active) == 1 else None

    @staticmethod
    def _saturated(d: Obj, rs: Obj | None) -> bool:
        if rs is None:
            return False
        desired = int_annotation(rs, DESIRED_REPLICAS_ANNOTATION)
        return (
            desired is not None
            and spec_replicas(rs) == spec_replicas(d)
            and desired == spec_replicas(d)
            and status_count(rs, "availableReplicas") == spec_replicas(d)
        )

    @staticmethod
    def _proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
        """deploymentutil.GetProportion."""
        if spec_replicas(rs) == 0 or to_add == 0 or to_add == added:
            return 0
        if spec_replicas(d) == 0:
            fraction = -spec_replicas(rs)
        else:
            deployment_replicas = spec_replicas(d) + max_surge(d)
            annotated = int_annotation(rs, MAX_REPLICAS_ANNOTATION)
            if annotated is None:
                annotated = status_count(d, "replicas")
            size = spec_replicas(rs) * deployment_replicas / annotated if annotated else math.inf
            rounded = int(size - 0.5) if size < 0 else (int(size + 0.5) if math.isfinite(size) else MAX_INT32)
            fraction = rounded - spec_replicas(rs)
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    def _scale_rs(self, rs: Obj, size: int, d: Obj, *, force: bool = False) -> tuple[bool, Obj]:
        """scaleReplicaSet(AndRecordEvent): new size and the replica annotations in one update."""
        if not force and spec_replicas(rs) == size:
            return False, rs
        size_changed = spec_replicas(rs) != size
        desired, maximum = spec_replicas(d), spec_replicas(d) + max_surge(d)
        if not size_changed and not replicas_annotations_need_update(rs, desired, maximum):
            return False, rs
        rs_copy = clone(rs)
        rs_copy["spec"]["replicas"] = size
        set_replicas_annotations(rs_copy, desired, maximum)
        return size_changed, self._update_rs(rs_copy)

    def _cleanup(self, d: Obj, old_rss: list[Obj]) -> None:
        """cleanupDeployment: keep at most revisionHistoryLimit old ReplicaSets that have scaled to zero."""
        limit = d["spec"].get("revisionHistoryLimit")
        if limit is None or limit == MAX_INT32:
            return
        alive = by_creation([rs for rs in old_rss if not rs["metadata"].get("deletionTimestamp")])
        for rs in alive[: max(len(alive) - limit, 0)]:
            if (
                status_count(rs, "replicas") != 0
                or spec_replicas(rs) != 0
                or (rs["metadata"].get("generation") or 0) > status_count(rs, "observedGeneration")
            ):
                continue
            try:
                self._objects.delete(
                    REPLICA_SET, rs["metadata"]["namespace"], rs["metadata"]["name"], DeleteOptions(), self._ctx()
                )
            except StatusError as error:
                if error.code != 404:
                    raise

    def _calculate_status(self, d: Obj, all_rss: list[Obj | None], new_rs: Obj | None) -> dict[str, Any]:
        available = sum_over(all_rss, lambda rs: status_count(rs, "availableReplicas"))
        total = sum_over(all_rss, spec_replicas)
        old = d.get("status") or {}
        status: dict[str, Any] = {
            "observedGeneration": d["metadata"].get("generation") or 0,
            "replicas": sum_over(all_rss, lambda rs: status_count(rs, "replicas")),
            "updatedReplicas": sum_over([new_rs], lambda rs: status_count(rs, "replicas")),
            "readyReplicas": sum_over(all_rss, lambda rs: status_count(rs, "readyReplicas")),
            "availableReplicas": available,
            "unavailableReplicas": max(total - available, 0),
            "conditions": [clone(c) for c in old.get("conditions") or []],
        }
        if old.get("collisionCount") is not None:
            status["collisionCount"] = old["collisionCount"]
        if available >= spec_replicas(d) - max_unavailable(d):
            condition = new_condition(
                "Available", "True", MINIMUM_REPLICAS_AVAILABLE, "Deployment has minimum availability."
            )
        else:
            condition = new_condition(
                "Available", "False", MINIMUM_REPLICAS_UNAVAILABLE, "Deployment does not have minimum availability."
            )
        set_condition(status, condition)
        return status

    def _write_status_if_changed(self, d: Obj, status: dict[str, Any]) -> bool:
        new_status = omit_empty(status, keep=("collisionCount",))
        if new_status == omit_empty(d.get("status") or {}, keep=("collisionCount",)):
            return False
        d["status"] = new_status
        self._update_deployment_status(d)
        return True

    def _sync_status(self, d: Obj, all_rss: list[Obj | None], new_rs: Obj | None) -> None:
        """syncDeploymentStatus."""
        self._write_status_if_changed(d, self._calculate_status(d, all_rss, new_rs))
