"""Validation of Deployments and ReplicaSets (pkg/apis/apps/validation, 1.20), with the real messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ack_compute.sandbox.kube.go_literals import go_int_or_string, go_label_selector, go_quote, go_string_map
from ack_compute.sandbox.kube.pods import validate_pod_spec
from ack_compute.sandbox.kube.selectors import LabelSelector, SelectorError, label_selector, selects
from ack_compute.sandbox.kube.status import (
    FieldError,
    GoLiteral,
    forbidden,
    invalid,
    not_supported,
    required,
)
from ack_compute.sandbox.kube.validation import (
    validate_annotations,
    validate_label_selector,
    validate_labels,
)

_PERCENT = re.compile(r"^[0-9]+%$")
_PERCENT_MESSAGE = (
    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used "
    "for validation is '[0-9]+%')"
)


def _nonnegative(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, int) and value < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    return []


def _validate_template(template: Mapping[str, Any], selector: LabelSelector | None, path: str) -> list[FieldError]:
    """ValidatePodTemplateSpecForReplicaSet."""
    errors: list[FieldError] = []
    metadata = template.get("metadata") or {}
    labels = metadata.get("labels")
    if (selector is None or not selector.empty) and not selects(selector, labels):
        errors.append(
            invalid(
                f"{path}.metadata.labels",
                GoLiteral(go_string_map(labels)),
                "`selector` does not match template `labels`",
            )
        )
    errors.extend(validate_labels(labels, f"{path}.labels"))
    errors.extend(validate_annotations(metadata.get("annotations"), f"{path}.annotations"))
    spec = template.get("spec") or {}
    errors.extend(validate_pod_spec(spec, f"{path}.spec"))
    if spec.get("ephemeralContainers"):
        errors.append(forbidden(f"{path}.spec.ephemeralContainers", "ephemeral containers not allowed in pod template"))
    if spec.get("restartPolicy") != "Always":
        errors.append(not_supported(f"{path}.spec.restartPolicy", spec.get("restartPolicy") or "", ["Always"]))
    if spec.get("activeDeadlineSeconds") is not None:
        errors.append(
            forbidden(f"{path}.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicaSet is not Supported")
        )
    return errors


def _validate_selector_and_template(spec: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    raw = spec.get("selector")
    if raw is None:
        errors.append(required("spec.selector"))
    elif isinstance(raw, dict):
        errors.extend(validate_label_selector(raw, "spec.selector"))
        if not raw.get("matchLabels") and not raw.get("matchExpressions"):
            errors.append(invalid("spec.selector", go_label_selector(raw), "empty selector is invalid for deployment"))
    try:
        selector = label_selector(raw)
    except SelectorError:
        errors.append(invalid("spec.selector", go_label_selector(raw), "invalid label selector"))
    else:
        errors.extend(_validate_template(spec.get("template") or {}, selector, "spec.template"))
    return errors


def _validate_rolling_update(rolling: Mapping[str, Any], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    values = {}
    for name in ("maxUnavailable", "maxSurge"):
        value = rolling.get(name)
        if isinstance(value, str):
            if not _PERCENT.match(value):
                errors.append(invalid(f"{path}.{name}", go_int_or_string(value), _PERCENT_MESSAGE))
                values[name] = 0
            else:
                values[name] = int(value[:-1])
        else:
            errors.extend(_nonnegative(value, f"{path}.{name}"))
            values[name] = int(value or 0)
    if values["maxUnavailable"] == 0 and values["maxSurge"] == 0:
        errors.append(
            invalid(
                f"{path}.maxUnavailable",
                go_int_or_string(rolling.get("maxUnavailable")),
                "may not be 0 when `maxSurge` is 0",
            )
        )
    unavailable = rolling.get("maxUnavailable")
    if isinstance(unavailable, str) and _PERCENT.match(unavailable) and int(unavailable[:-1]) > 100:
        errors.append(invalid(f"{path}.maxUnavailable", go_int_or_string(unavailable), "must not be greater than 100%"))
    return errors


def _validate_strategy(strategy: Mapping[str, Any]) -> list[FieldError]:
    kind = strategy.get("type") or ""
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate":
        if rolling is not None:
            return [forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if kind == "RollingUpdate":
        if not isinstance(rolling, dict):
            return [required("spec.strategy.rollingUpdate", "this should be defaulted and never be nil")]
        return _validate_rolling_update(rolling, "spec.strategy.rollingUpdate")
    rolling_text = "(*apps.RollingUpdateDeployment)(nil)" if rolling is None else "&apps.RollingUpdateDeployment{}"
    value = GoLiteral(f"apps.DeploymentStrategy{{Type:{go_quote(kind)}, RollingUpdate:{rolling_text}}}")
    return [not_supported("spec.strategy", value, ["Recreate", "RollingUpdate"])]


def validate_deployment_spec(spec: Mapping[str, Any]) -> list[FieldError]:
    """ValidateDeploymentSpec, in its order of checks."""
    errors = _nonnegative(spec.get("replicas"), "spec.replicas")
    errors.extend(_validate_selector_and_template(spec))
    errors.extend(_validate_strategy(spec.get("strategy") or {}))
    min_ready = spec.get("minReadySeconds") or 0
    errors.extend(_nonnegative(min_ready, "spec.minReadySeconds"))
    errors.extend(_nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit"))
    deadline = spec.get("progressDeadlineSeconds")
    if isinstance(deadline, int):
        errors.extend(_nonnegative(deadline, "spec.progressDeadlineSeconds"))
        if deadline <= min_ready:
            errors.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return errors


def validate_replica_set_spec(spec: Mapping[str, Any]) -> list[FieldError]:
    """ValidateReplicaSetSpec."""
    errors = _nonnegative(spec.get("replicas"), "spec.replicas")
    errors.extend(_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    errors.extend(_validate_selector_and_template(spec))
    return errors


def selector_immutable(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
    new_selector = (new.get("spec") or {}).get("selector")
    if _normal_selector(new_selector) != _normal_selector((old.get("spec") or {}).get("selector")):
        value = go_label_selector(new_selector) if isinstance(new_selector, dict) else None
        return [invalid("spec.selector", value, "field is immutable")]
    return []


def _normal_selector(selector: Any) -> Any:
    if not isinstance(selector, dict):
        return selector
    return {k: v for k, v in selector.items() if v}


def validate_workload_status(status: Mapping[str, Any], counters: tuple[str, ...]) -> list[FieldError]:
    errors: list[FieldError] = []
    for name in counters:
        errors.extend(_nonnegative(status.get(name), f"status.{name}"))
    replicas = status.get("replicas") or 0
    for name in counters:
        if name in ("fullyLabeledReplicas", "updatedReplicas", "readyReplicas", "availableReplicas"):
            value = status.get(name) or 0
            if value > replicas:
                errors.append(invalid(f"status.{name}", value, "cannot be greater than status.replicas"))
    available = status.get("availableReplicas") or 0
    if available > (status.get("readyReplicas") or 0):
        errors.append(invalid("status.availableReplicas", available, "cannot be greater than readyReplicas"))
    return errors
