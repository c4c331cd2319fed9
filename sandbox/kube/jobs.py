"""batch/v1 Jobs as kube-apiserver 1.20 serves them: decode-time defaults, the generated selector and validation
with the real messages. The job and ttl-after-finished controllers are in job_controller.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ack_compute.sandbox.kube.canonical import null_times
from ack_compute.sandbox.kube.context import WriteContext
from ack_compute.sandbox.kube.go_literals import go_label_selector, go_string_map
from ack_compute.sandbox.kube.pods import default_pod_template_spec, validate_pod_spec
from ack_compute.sandbox.kube.registry import Kind, Strategy
from ack_compute.sandbox.kube.selectors import selector_matches
from ack_compute.sandbox.kube.status import (
    FieldError,
    GoLiteral,
    invalid,
    not_supported,
    required,
)
from ack_compute.sandbox.kube.subresources import Subresource
from ack_compute.sandbox.kube.validation import (
    name_is_dns_subdomain,
    validate_annotations,
    validate_label_selector,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)

CONTROLLER_UID_LABEL = "controller-uid"
JOB_NAME_LABEL = "job-name"
DEFAULT_BACKOFF_LIMIT = 6
JOB_FIELD_LABELS = frozenset({"metadata.name", "metadata.namespace", "status.successful"})
_JOB_RESTART_POLICIES = ["OnFailure", "Never"]
_NONNEGATIVE = "must be greater than or equal to 0"
_IMMUTABLE = "field is immutable"


# --- defaults ------------------------------------------------------------------------------------------------


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
            errors.append(invalid(path, GoLiteral(go_string_map(labels)), f"must be '{value}'"))
    if selector_matches(spec.get("selector"), expected) is False:
        errors.append(
            invalid("spec.selector", go_label_selector(spec.get("selector")), "`selector` not auto-generated")
        )
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
        errors.extend(validate_label_selector(selector, "spec.selector"))
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if selector_matches(selector, labels) is False:
        errors.append(
            invalid(
                "spec.template.metadata.labels",
                GoLiteral(go_string_map(labels)),
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
            shown = go_label_selector(selector) if selector is not None else None
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
    subresources=(Subresource("status", "Job", ("get", "patch", "update")),),
)

KINDS: tuple[Kind, ...] = (JOB,)
