"""batch/v1 Jobs as kube-apiserver and kube-controller-manager 1.20 run them: decode-time defaults, the generated
selector, validation with the real messages, the job controller (pods from the template, counts, Complete/Failed
conditions, failure backoff, active deadline) and the ttl-after-finished controller (foreground deletion).

The controllers are reconcile steps on the cluster's `Controllers`: they read the store, write through
`cluster.objects` as kube-controller-manager, and use `controllers.later()` for time-based work, with every wait
divided by the cluster's `time_scale`.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ack_compute.sandbox.kube.canonical import null_times
from ack_compute.sandbox.kube.context import WriteContext, now_rfc3339
from ack_compute.sandbox.kube.objects import DeleteOptions
from ack_compute.sandbox.kube.pods import POD, default_pod_spec, validate_pod_spec
from ack_compute.sandbox.kube.registry import Kind, Strategy
from ack_compute.sandbox.kube.status import (
    FieldError,
    GoLiteral,
    StatusError,
    forbidden,
    invalid,
    not_supported,
    required,
)
from ack_compute.sandbox.kube.store import Conflict, Obj
from ack_compute.sandbox.kube.validation import (
    label_key,
    label_value,
    name_is_dns_subdomain,
    validate_annotations,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)

if TYPE_CHECKING:
    from ack_compute.sandbox.kube.cluster import KubeCluster

log = logging.getLogger("ack_compute.sandbox.kube")

CONTROLLER_UID_LABEL = "controller-uid"
JOB_NAME_LABEL = "job-name"
DEFAULT_BACKOFF_LIMIT = 6
# The job controller's workqueue: a failed pod is looked at after 0 s, 10 s, 20 s, ... (capped at 6 minutes).
JOB_BACKOFF_SECONDS = 10.0
MAX_JOB_BACKOFF_SECONDS = 360.0
STATUS_UPDATE_RETRIES = 3
FOREGROUND_FINALIZER = "foregroundDeletion"
CONTROLLER_MANAGER = "kube-controller-manager"
BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
JOB_FIELD_LABELS = frozenset({"metadata.name", "metadata.namespace", "status.successful"})
_JOB_RESTART_POLICIES = ["OnFailure", "Never"]
_NONNEGATIVE = "must be greater than or equal to 0"
_IMMUTABLE = "field is immutable"
_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


# --- defaults ------------------------------------------------------------------------------------------------


def default_pod_template_spec(spec: dict[str, Any]) -> None:
    """SetDefaults_PodSpec for a pod template: pods.default_pod_spec minus what only SetDefaults_Pod does
    (enableServiceLinks, requests copied from limits), which a template never gets."""
    had_links = "enableServiceLinks" in spec
    requests: list[tuple[dict[str, Any], Any]] = []
    for field in ("initContainers", "containers"):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                resources = container.get("resources")
                kept = copy.deepcopy(resources.get("requests")) if isinstance(resources, dict) else None
                requests.append((container, kept))
    default_pod_spec(spec)
    if not had_links:
        spec.pop("enableServiceLinks", None)
    for container, kept in requests:
        resources = container.get("resources") or {}
        if kept is None:
            resources.pop("requests", None)
        else:
            resources["requests"] = kept


def _copy_template_labels(obj: dict[str, Any]) -> None:
    """SetDefaults_Job: a job without labels takes its template's (it runs on every decode, also on reads)."""
    labels = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")
    metadata = obj.setdefault("metadata", {})
    if labels and not metadata.get("labels"):
        metadata["labels"] = dict(labels)


def _generate_selector(obj: dict[str, Any]) -> None:
    """jobStrategy.Validate's generateSelector: controller-uid and job-name labels, and a controller-uid selector."""
    metadata = obj["metadata"]
    spec = obj.setdefault("spec", {})
    template = spec.setdefault("template", {})
    template_meta = template.setdefault("metadata", {"creationTimestamp": None})
    labels = template_meta.setdefault("labels", {})
    labels.setdefault(JOB_NAME_LABEL, metadata.get("name") or "")
    labels.setdefault(CONTROLLER_UID_LABEL, metadata.get("uid") or "")
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        selector = spec["selector"] = {}
    match = selector.setdefault("matchLabels", {})
    match.setdefault(CONTROLLER_UID_LABEL, metadata.get("uid") or "")


# --- Go spellings of bad values --------------------------------------------------------------------------------


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _go_string_map(value: Any) -> str:
    if not value:
        return "map[string]string(nil)"
    items = ", ".join(f"{_go_quote(str(k))}:{_go_quote(str(v))}" for k, v in sorted(value.items()))
    return f"map[string]string{{{items}}}"


def _go_selector(selector: Any) -> GoLiteral:
    """%#v of a metav1.LabelSelector, as field errors print it."""
    selector = selector if isinstance(selector, dict) else {}
    expressions = selector.get("matchExpressions") or []
    if expressions:
        parts = []
        for expression in expressions:
            expression = expression if isinstance(expression, dict) else {}
            values = expression.get("values")
            shown = "[]string(nil)" if not values else "[]string{" + ", ".join(_go_quote(v) for v in values) + "}"
            parts.append(
                f"v1.LabelSelectorRequirement{{Key:{_go_quote(expression.get('key') or '')}, "
                f"Operator:{_go_quote(expression.get('operator') or '')}, Values:{shown}}}"
            )
        shown_expressions = "[]v1.LabelSelectorRequirement{" + ", ".join(parts) + "}"
    else:
        shown_expressions = "[]v1.LabelSelectorRequirement(nil)"
    return GoLiteral(
        f"v1.LabelSelector{{MatchLabels:{_go_string_map(selector.get('matchLabels'))}, "
        f"MatchExpressions:{shown_expressions}}}"
    )


# --- selectors -------------------------------------------------------------------------------------------------


def selector_matches(selector: Any, labels: Mapping[str, str] | None) -> bool | None:
    """metav1.LabelSelectorAsSelector(selector).Matches(labels); None when the selector does not convert.
    A missing selector matches nothing, an empty one everything."""
    if selector is None:
        return False
    if not isinstance(selector, dict):
        return None
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if label_key(key) or label_value(str(value)):
            return None
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        if not isinstance(expression, dict):
            return None
        key, operator = expression.get("key") or "", expression.get("operator")
        values = expression.get("values") or []
        if operator not in _SELECTOR_OPERATORS or label_key(key):
            return None
        if operator in ("In", "NotIn") and not values:
            return None
        if operator in ("Exists", "DoesNotExist") and values:
            return None
        present = key in labels
        if (
            (operator == "In" and not (present and labels[key] in values))
            or (operator == "NotIn" and present and labels[key] in values)
            or (operator == "Exists" and not present)
            or (operator == "DoesNotExist" and present)
        ):
            return False
    return True


def _validate_label_selector(selector: Any, path: str) -> list[FieldError]:
    """ValidateLabelSelector."""
    if not isinstance(selector, dict):
        return []
    errors = validate_labels(selector.get("matchLabels"), f"{path}.matchLabels")
    for index, expression in enumerate(selector.get("matchExpressions") or []):
        item = f"{path}.matchExpressions[{index}]"
        expression = expression if isinstance(expression, dict) else {}
        operator = expression.get("operator") or ""
        values = expression.get("values") or []
        if operator in ("In", "NotIn"):
            if not values:
                errors.append(required(f"{item}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                errors.append(
                    forbidden(f"{item}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
                )
        else:
            errors.append(invalid(f"{item}.operator", operator, "not a valid selector operator"))
        key = expression.get("key") or ""
        errors.extend(invalid(f"{item}.key", key, message) for message in label_key(key))
    return errors


# --- validation ------------------------------------------------------------------------------------------------


def _nonnegative(spec: Mapping[str, Any], field: str, path: str) -> list[FieldError]:
    value = spec.get(field)
    if isinstance(value, int) and value < 0:
        return [invalid(f"{path}.{field}", value, _NONNEGATIVE)]
    return []


def _validate_generated_selector(obj: Mapping[str, Any]) -> list[FieldError]:
    """ValidateGeneratedSelector: unless manualSelector, the template carries the generated labels and the
    selector selects them."""
    spec = obj.get("spec") or {}
    if spec.get("manualSelector") is True or spec.get("selector") is None:
        return []
    metadata = obj["metadata"]
    errors: list[FieldError] = []
    if not metadata.get("uid"):
        errors.append(required("metadata.uid"))
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    expected = {CONTROLLER_UID_LABEL: metadata.get("uid") or "", JOB_NAME_LABEL: metadata.get("name") or ""}
    for key, value in expected.items():
        path = f"spec.template.metadata.labels[{key}]"
        if key not in labels:
            errors.append(required(path, f"must be '{value}'"))
        elif labels[key] != value:
            errors.append(invalid(path, GoLiteral(_go_string_map(labels)), f"must be '{value}'"))
    if selector_matches(spec.get("selector"), expected) is False:
        errors.append(invalid("spec.selector", _go_selector(spec.get("selector")), "`selector` not auto-generated"))
    return errors


def _validate_job_spec_fields(spec: Mapping[str, Any]) -> list[FieldError]:
    """validateJobSpec: counts, the pod template, and a restartPolicy a job can finish with."""
    errors: list[FieldError] = []
    for field in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"):
        errors.extend(_nonnegative(spec, field, "spec"))
    template = spec.get("template") or {}
    template_meta = template.get("metadata") or {}
    template_spec = template.get("spec") or {}
    errors.extend(validate_labels(template_meta.get("labels"), "spec.template.labels"))
    errors.extend(validate_annotations(template_meta.get("annotations"), "spec.template.annotations"))
    errors.extend(validate_pod_spec(template_spec, "spec.template.spec"))
    restart = template_spec.get("restartPolicy") or ""
    if restart in ("", "Always"):
        errors.append(
            required("spec.template.spec.restartPolicy", 'valid values: "OnFailure", "Never"'),
        )
    elif restart not in _JOB_RESTART_POLICIES:
        errors.append(not_supported("spec.template.spec.restartPolicy", restart, _JOB_RESTART_POLICIES))
    return errors


def _validate_job_spec(spec: Mapping[str, Any]) -> list[FieldError]:
    """ValidateJobSpec: the fields, a valid selector, and a template the selector selects."""
    errors = _validate_job_spec_fields(spec)
    selector = spec.get("selector")
    if selector is None:
        errors.append(required("spec.selector"))
    else:
        errors.extend(_validate_label_selector(selector, "spec.selector"))
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if selector_matches(selector, labels) is False:
        errors.append(
            invalid(
                "spec.template.metadata.labels",
                GoLiteral(_go_string_map(labels)),
                "`selector` does not match template `labels`",
            )
        )
    return errors


def _validate_job(obj: Mapping[str, Any]) -> list[FieldError]:
    """ValidateJob."""
    errors = validate_object_meta(obj["metadata"], namespaced=True, name_fn=name_is_dns_subdomain)
    errors.extend(_validate_generated_selector(obj))
    errors.extend(_validate_job_spec(obj.get("spec") or {}))
    return errors


class JobStrategy(Strategy):
    def default(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        """SetDefaults_Job and the pod template's defaults."""
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        if spec.get("completions") is None and spec.get("parallelism") is None:
            spec["completions"] = 1
            spec["parallelism"] = 1
        spec.setdefault("parallelism", 1)
        spec.setdefault("backoffLimit", DEFAULT_BACKOFF_LIMIT)
        template = spec.get("template")
        if not isinstance(template, dict):
            template = spec["template"] = {}
        template_meta = template.get("metadata")
        if not isinstance(template_meta, dict):
            template_meta = template["metadata"] = {}
        template_meta.setdefault("creationTimestamp", None)
        template_spec = template.get("spec")
        if not isinstance(template_spec, dict):
            template_spec = template["spec"] = {}
        template_spec.setdefault("containers", None)
        default_pod_template_spec(template_spec)
        _copy_template_labels(obj)
        status = obj.get("status")
        if isinstance(status, dict):
            for count in ("active", "succeeded", "failed"):
                if status.get(count) == 0:
                    del status[count]  # int32 with omitempty
            null_times(status.get("conditions"), ("lastProbeTime", "lastTransitionTime"))

    def prepare_for_create(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        obj["status"] = {}

    def validate(self, obj: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        spec = obj.get("spec") or {}
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
        # Decoding gave a job without labels its template's label map itself (not a copy), so the labels
        # generated into the template below show up on the job too.
        shared = bool(template_labels) and obj["metadata"].get("labels") == template_labels
        if spec.get("manualSelector") is not True:
            _generate_selector(obj)
            if shared:
                obj["metadata"]["labels"] = dict(obj["spec"]["template"]["metadata"]["labels"])
        errors = _validate_job(obj)
        # What the apiserver returns (and every later read) went through decoding once more, whose defaulting
        # copies the template's now complete labels to a job that has none.
        _copy_template_labels(obj)
        return errors

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> None:
        new["status"] = old.get("status", {})

    def validate_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        """ValidateJob plus ValidateJobUpdate (which validates the spec a second time, so causes repeat)."""
        errors = _validate_job(new)
        errors.extend(validate_object_meta_update(new["metadata"], old["metadata"]))
        new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
        errors.extend(_validate_job_spec(new_spec))
        if new_spec.get("completions") != old_spec.get("completions"):
            errors.append(invalid("spec.completions", new_spec.get("completions"), _IMMUTABLE))
        if new_spec.get("selector") != old_spec.get("selector"):
            selector = new_spec.get("selector")
            shown = _go_selector(selector) if selector is not None else None
            errors.append(invalid("spec.selector", shown, _IMMUTABLE))
        if new_spec.get("template") != old_spec.get("template"):
            errors.append(invalid("spec.template", GoLiteral("core.PodTemplateSpec{...}"), _IMMUTABLE))
        return errors

    def validate_status_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        errors = validate_object_meta_update(new["metadata"], old["metadata"])
        status = new.get("status") or {}
        for field in ("active", "succeeded", "failed"):
            errors.extend(_nonnegative(status, field, "status"))
        return errors

    def field_set(self, obj: Mapping[str, Any]) -> dict[str, str]:
        fields = super().field_set(obj)
        fields["status.successful"] = str((obj.get("status") or {}).get("succeeded") or 0)
        return fields

    def zero_object(self) -> dict[str, Any]:
        return {
            "metadata": {"creationTimestamp": None},
            "spec": {"template": {"metadata": {"creationTimestamp": None}, "spec": {"containers": None}}},
            "status": {},
        }


JOB = Kind(
    group="batch",
    version="v1",
    resource="jobs",
    kind="Job",
    namespaced=True,
    strategy=JobStrategy(),
    categories=("all",),
    status_subresource=True,
    field_labels=JOB_FIELD_LABELS,
    storage_version_hash="mudhfqk/qZY=",
    subresources=(("status", "Job", ("get", "patch", "update")),),
)

KINDS: tuple[Kind, ...] = (JOB,)


# --- controllers -----------------------------------------------------------------------------------------------


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
        active_pods = [pod for pod in pods if _is_active(pod)]
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
        labels = dict(template_meta.get("labels") or {})
        if not labels:
            log.warning("job controller: unable to create pods for %s, no labels", metadata.get("name"))
            return False
        prefix = f"{metadata['name']}-"
        if name_is_dns_subdomain(prefix, True):
            prefix = metadata["name"]
        pod_meta: dict[str, Any] = {
            "generateName": prefix,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": JOB.api_version,
                    "kind": JOB.kind,
                    "name": metadata["name"],
                    "uid": metadata["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        if template_meta.get("annotations"):
            pod_meta["annotations"] = dict(template_meta["annotations"])
        if template_meta.get("finalizers"):
            pod_meta["finalizers"] = list(template_meta["finalizers"])
        body = {"metadata": pod_meta, "spec": copy.deepcopy(template.get("spec") or {})}
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
