"""The job controller of kube-controller-manager 1.20 (pods from the template, counts, Complete/Failed conditions,
failure backoff, active deadline) and the ttl-after-finished controller (foreground deletion).

The controllers are reconcile steps on the cluster's `Controllers`: they read the store, write through
`cluster.objects` as kube-controller-manager, and use `controllers.later()` for time-based work, with every wait
divided by the cluster's `time_scale`.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ack_compute.sandbox.kube.context import WriteContext, now_rfc3339
from ack_compute.sandbox.kube.controller_utils import is_pod_active, pod_from_template
from ack_compute.sandbox.kube.controllers import CONTROLLER_MANAGER
from ack_compute.sandbox.kube.jobs import DEFAULT_BACKOFF_LIMIT, JOB
from ack_compute.sandbox.kube.objects import DeleteOptions
from ack_compute.sandbox.kube.pods import POD
from ack_compute.sandbox.kube.status import StatusError
from ack_compute.sandbox.kube.store import Conflict, Obj

if TYPE_CHECKING:
    from ack_compute.sandbox.kube.cluster import KubeCluster

log = logging.getLogger("ack_compute.sandbox.kube")

# The job controller's workqueue: a failed pod is looked at after 0 s, 10 s, 20 s, ... (capped at 6 minutes).
JOB_BACKOFF_SECONDS = 10.0
MAX_JOB_BACKOFF_SECONDS = 360.0
STATUS_UPDATE_RETRIES = 3
FOREGROUND_FINALIZER = "foregroundDeletion"
BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")


def finished_condition(job: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """IsJobFinished: the Complete or Failed condition that is True, if any."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return condition
    return None


def _is_active(pod: Mapping[str, Any]) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def _phase_count(pods: list[Obj], phase: str) -> int:
    return sum(1 for pod in pods if (pod.get("status") or {}).get("phase") == phase)


def _controller_uid(pod: Mapping[str, Any]) -> str | None:
    for owner in pod["metadata"].get("ownerReferences") or []:
        if owner.get("controller") is True and owner.get("kind") == "Job":
            return owner.get("uid")
    return None


def _backoff(requeues: int) -> float:
    """getBackoff: nothing before the first failure has been requeued, then 10 s doubling, capped."""
    if requeues <= 0:
        return 0.0
    return min(JOB_BACKOFF_SECONDS * 2 ** (requeues - 1), MAX_JOB_BACKOFF_SECONDS)


def _wall(timestamp: Any) -> float | None:
    if not isinstance(timestamp, str):
        return None
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _condition(kind: str, reason: str = "", message: str = "") -> dict[str, Any]:
    now = now_rfc3339()
    condition: dict[str, Any] = {"type": kind, "status": "True", "lastProbeTime": now, "lastTransitionTime": now}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _pod_order(pod: Mapping[str, Any]) -> tuple[int, int, int]:
    """controller.ActivePods: unscheduled < scheduled, pending < running, not ready < ready go first."""
    status = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return (
        1 if (pod.get("spec") or {}).get("nodeName") else 0,
        {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase") or "", 0),
        1 if ready else 0,
    )


class JobController:
    """kube-controller-manager's job and ttl-after-finished controllers, for one cluster."""

    def __init__(self, cluster: KubeCluster) -> None:
        self._cluster = cluster
        self._scale = cluster.time_scale or 1.0
        self._started: dict[str, float] = {}  # job uid -> monotonic time its startTime was written
        self._finished: dict[str, float] = {}  # job uid -> monotonic time its finishing condition was written
        self._requeues: dict[str, int] = {}  # job uid -> the workqueue's failure count (drives the backoff)
        self._failure_due: dict[str, float] = {}  # job uid -> when a sync may look at a newly failed pod

    # --- the step ------------------------------------------------------------------------------------------

    def step(self) -> None:
        """One reconcile pass over every Job (registered with `Controllers.register`)."""
        store = self._cluster.objects.store
        jobs, _ = store.list(JOB.key, None)
        if not jobs:
            self._forget_all(set())
            return
        pods, _ = store.list(POD.key, None)
        controlled: dict[str, list[Obj]] = {}
        dependents: dict[str, list[Obj]] = {}
        for pod in pods:
            uid = _controller_uid(pod)
            if uid:
                controlled.setdefault(uid, []).append(pod)
            for owner in pod["metadata"].get("ownerReferences") or []:
                if owner.get("uid"):
                    dependents.setdefault(owner["uid"], []).append(pod)
        live: set[str] = set()
        for job in jobs:
            uid = job["metadata"].get("uid") or ""
            live.add(uid)
            try:
                if FOREGROUND_FINALIZER in (job["metadata"].get("finalizers") or []):
                    self._foreground(job, dependents.get(uid, []))
                if finished_condition(job) is not None:
                    self._after_finished(job)
                    continue
                self._sync(job, controlled.get(uid, []))
            except Exception:
                meta = job["metadata"]
                log.exception("job controller: syncing job %s/%s failed", meta.get("namespace"), meta.get("name"))
        self._forget_all(live)

    def _forget_all(self, live: set[str]) -> None:
        for table in (self._started, self._finished, self._requeues, self._failure_due):
            for uid in [uid for uid in table if uid not in live]:
                del table[uid]

    def _ctx(self) -> WriteContext:
        return self._cluster.system_context(CONTROLLER_MANAGER)

    # --- job controller ------------------------------------------------------------------------------------

    def _sync(self, job: Obj, pods: list[Obj]) -> None:
        """syncJob: count the pods, fail or complete the job, or keep `parallelism` pods running."""
        metadata = job["metadata"]
        uid = metadata["uid"]
        spec = job.get("spec") or {}
        status = job.get("status") or {}
        now = time.monotonic()
        active_pods = [pod for pod in pods if is_pod_active(pod)]
        active = len(active_pods)
        succeeded = _phase_count(pods, "Succeeded")
        failed = _phase_count(pods, "Failed")
        old_counts = (status.get("active") or 0, status.get("succeeded") or 0, status.get("failed") or 0)
        started = self._started.get(uid)
        if not status.get("startTime"):
            started = now
        elif started is None:
            wall = _wall(status.get("startTime"))
            started = now - (time.time() - wall) if wall is not None else now
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and started + deadline / self._scale > now:
            self._cluster.controllers.later(started + deadline / self._scale - now)
        new_failure = failed > old_counts[2]
        if new_failure:
            # A failed pod wakes the controller only after the workqueue's backoff for this job.
            due = self._failure_due.setdefault(uid, now + _backoff(self._requeues.get(uid, 0)) / self._scale)
            if now < due:
                self._cluster.controllers.later(due - now)
                return
        new_status = dict(status)
        if not status.get("startTime"):
            new_status["startTime"] = now_rfc3339()
        conditions = list(status.get("conditions") or [])

        parallelism = spec.get("parallelism") or 0
        backoff_limit = spec.get("backoffLimit", DEFAULT_BACKOFF_LIMIT)
        failure: tuple[str, str] | None = None
        if (new_failure and active != parallelism and failed > backoff_limit) or self._past_backoff_on_failure(
            spec, pods
        ):
            failure = BACKOFF_LIMIT_EXCEEDED
        elif self._past_deadline(spec, started, now):
            failure = DEADLINE_EXCEEDED
        if failure is not None:
            for pod in active_pods:
                self._delete_pod(pod)
            failed += active
            active = 0
            conditions.append(_condition("Failed", *failure))
        else:
            if not metadata.get("deletionTimestamp"):
                active = self._manage(job, active_pods, succeeded)
            completions = spec.get("completions")
            complete = (succeeded > 0 and active == 0) if completions is None else succeeded >= completions
            if complete:
                conditions.append(_condition("Complete"))
                new_status["completionTime"] = now_rfc3339()

        forget = succeeded > old_counts[1]
        finished = failure is not None or len(conditions) > len(status.get("conditions") or [])
        if (active, succeeded, failed) != old_counts or len(conditions) != len(status.get("conditions") or []):
            for key, value in (("active", active), ("succeeded", succeeded), ("failed", failed)):
                if value:
                    new_status[key] = value
                else:
                    new_status.pop(key, None)
            if conditions:
                new_status["conditions"] = conditions
            if not self._write_status(job, new_status):
                return
            if "startTime" not in status:
                self._started[uid] = started
            if finished:
                self._finished[uid] = now
            self._failure_due.pop(uid, None)
            if new_failure and not finished:
                # The sync "fails" so the workqueue requeues the job with a growing delay.
                self._requeues[uid] = self._requeues.get(uid, 0) + 1
                return
            forget = True
        self._failure_due.pop(uid, None)
        if forget:
            self._requeues.pop(uid, None)

    def _past_deadline(self, spec: Mapping[str, Any], started: float, now: float) -> bool:
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is None:
            return False
        return (now - started) * self._scale >= deadline

    @staticmethod
    def _past_backoff_on_failure(spec: Mapping[str, Any], pods: list[Obj]) -> bool:
        """With restartPolicy OnFailure the kubelet restarts containers; their restarts count as failures."""
        template_spec = (spec.get("template") or {}).get("spec") or {}
        if template_spec.get("restartPolicy") != "OnFailure":
            return False
        restarts = 0
        for pod in pods:
            status = pod.get("status") or {}
            if status.get("phase") in ("Running", "Pending"):
                for field in ("initContainerStatuses", "containerStatuses"):
                    restarts += sum(int(s.get("restartCount") or 0) for s in status.get(field) or [])
        limit = spec.get("backoffLimit", DEFAULT_BACKOFF_LIMIT)
        return restarts > 0 if limit == 0 else restarts >= limit

    def _manage(self, job: Obj, active_pods: list[Obj], succeeded: int) -> int:
        """manageJob: delete surplus pods or create missing ones; returns the active count it expects."""
        spec = job.get("spec") or {}
        parallelism = spec.get("parallelism") or 0
        completions = spec.get("completions")
        active = len(active_pods)
        if active > parallelism:
            for pod in sorted(active_pods, key=_pod_order)[: active - parallelism]:
                if self._delete_pod(pod):
                    active -= 1
            return active
        if active < parallelism:
            if completions is None:
                wanted = active if succeeded > 0 else parallelism
            else:
                wanted = min(completions - succeeded, parallelism)
            for _ in range(max(wanted - active, 0)):
                if self._create_pod(job):
                    active += 1
        return active

    def _create_pod(self, job: Obj) -> bool:
        """RealPodControl.CreatePodsWithControllerRef: the template's labels, annotations and spec, a
        generated name after the job and a controller reference to it. True when the pod counts as active."""
        metadata = job["metadata"]
        template = (job.get("spec") or {}).get("template") or {}
        template_meta = template.get("metadata") or {}
        if not template_meta.get("labels"):
            log.warning("job controller: unable to create pods for %s, no labels", metadata.get("name"))
            return False
        body = pod_from_template(job, JOB, template)
        try:
            self._cluster.objects.create(POD, metadata["namespace"], body, self._ctx())
        except StatusError as error:
            causes = (error.details or {}).get("causes") or []
            if any(cause.get("reason") == "NamespaceTerminating" for cause in causes):
                return True  # the real controller still counts it: every later create fails the same way
            log.warning("job controller: creating a pod for %s failed: %s", metadata.get("name"), error)
            return False
        return True

    def _delete_pod(self, pod: Obj) -> bool:
        metadata = pod["metadata"]
        try:
            self._cluster.objects.delete(POD, metadata["namespace"], metadata["name"], DeleteOptions(), self._ctx())
        except StatusError as error:
            if error.code != 404:
                log.warning("job controller: deleting pod %s failed: %s", metadata.get("name"), error)
                return False
        return True

    def _write_status(self, job: Obj, status: dict[str, Any]) -> bool:
        """updateJobStatus: get the latest job and put the new status on it, a few times on conflicts."""
        metadata = job["metadata"]
        namespace, name = metadata["namespace"], metadata["name"]
        for _ in range(STATUS_UPDATE_RETRIES + 1):
            fresh = self._cluster.objects.store.get(JOB.key, namespace, name)
            if fresh is None or fresh["metadata"].get("uid") != metadata.get("uid"):
                return False
            fresh["status"] = copy.deepcopy(status)
            try:
                self._cluster.objects.update(JOB, namespace, name, fresh, self._ctx(), subresource="status")
                return True
            except Conflict:
                continue
            except StatusError as error:
                if error.code == 409:
                    continue
                if error.code != 404:
                    log.warning("job controller: updating the status of %s failed: %s", name, error)
                return False
        return False

    # --- ttl-after-finished controller and the garbage collector's foreground deletion -----------------------

    def _after_finished(self, job: Obj) -> None:
        """processJob: once `ttlSecondsAfterFinished` passed since the job finished, delete it in the foreground."""
        metadata = job["metadata"]
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None or metadata.get("deletionTimestamp"):
            return
        now = time.monotonic()
        finished = self._finished.get(metadata["uid"])
        if finished is None:
            condition = finished_condition(job) or {}
            wall = _wall(condition.get("lastTransitionTime"))
            if wall is None:
                return  # "unable to find the time when the Job finished"
            finished = now - (time.time() - wall)
        left = finished + ttl / self._scale - now
        if left > 0:
            self._cluster.controllers.later(left)
            return
        self._delete_foreground(job)

    def _delete_foreground(self, job: Obj) -> None:
        """DELETE with propagationPolicy=Foreground and a uid precondition: the job gets a deletionTimestamp and
        the foregroundDeletion finalizer in one write, and stays until its dependents are gone."""
        store = self._cluster.objects.store
        metadata = job["metadata"]
        with store.lock:
            current = store.get(JOB.key, metadata["namespace"], metadata["name"])
            if current is None or current["metadata"].get("uid") != metadata["uid"]:
                return
            current_meta = current["metadata"]
            if current_meta.get("deletionTimestamp"):
                return
            current_meta["deletionTimestamp"] = now_rfc3339()
            current_meta["deletionGracePeriodSeconds"] = 0
            finalizers = list(current_meta.get("finalizers") or [])
            if FOREGROUND_FINALIZER not in finalizers:
                finalizers.append(FOREGROUND_FINALIZER)
            current_meta["finalizers"] = finalizers
            store.update(JOB.key, current)

    def _foreground(self, job: Obj, dependents: list[Obj]) -> None:
        """The garbage collector's part of a foreground deletion: delete the job's pods, then drop the
        finalizer once none that blocks the owner's deletion is left (which deletes the job)."""
        metadata = job["metadata"]
        if not metadata.get("deletionTimestamp"):
            return
        blocking = 0
        for pod in dependents:
            if not pod["metadata"].get("deletionTimestamp"):
                self._delete_pod(pod)
            if self._cluster.objects.store.get(POD.key, pod["metadata"]["namespace"], pod["metadata"]["name"]):
                refs = pod["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == metadata["uid"] and r.get("blockOwnerDeletion") for r in refs):
                    blocking += 1
        if blocking:
            return
        current = self._cluster.objects.store.get(JOB.key, metadata["namespace"], metadata["name"])
        if current is None or current["metadata"].get("uid") != metadata["uid"]:
            return
        left = [f for f in current["metadata"].get("finalizers") or [] if f != FOREGROUND_FINALIZER]
        if left:
            current["metadata"]["finalizers"] = left
        else:
            current["metadata"].pop("finalizers", None)
        self._cluster.objects.try_update(JOB, current, self._ctx())


def install(cluster: KubeCluster) -> None:
    """Register the job and ttl-after-finished controllers on the cluster."""
    controller = JobController(cluster)
    cluster.controllers.register(controller.step)
