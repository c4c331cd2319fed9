"""core/v1 Nodes: the API object (admission taints new nodes not-ready) and what a kubelet would register."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ack_compute.sandbox.kube.canonical import null_times
from ack_compute.sandbox.kube.context import WriteContext
from ack_compute.sandbox.kube.registry import Kind, Strategy
from ack_compute.sandbox.kube.status import FieldError, invalid, not_supported, required
from ack_compute.sandbox.kube.subresources import Subresource
from ack_compute.sandbox.kube.validation import (
    label_key,
    label_value,
    name_is_dns_subdomain,
    validate_object_meta,
    validate_object_meta_update,
)

NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
KUBELET_PORT = 10250
DEFAULT_CAPACITY = {"cpu": "4", "memory": "16266036Ki", "pods": "110", "ephemeral-storage": "123722704Ki"}
_NODE_INFO_KEYS = (
    "machineID",
    "systemUUID",
    "bootID",
    "kernelVersion",
    "osImage",
    "containerRuntimeVersion",
    "kubeletVersion",
    "kubeProxyVersion",
    "operatingSystem",
    "architecture",
)


def _validate_taints(spec: Mapping[str, Any]) -> list[FieldError]:
    """validateNodeTaints; 1.20 reports node taints under metadata.taints (sic)."""
    errors: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for index, taint in enumerate(spec.get("taints") or []):
        taint = taint if isinstance(taint, dict) else {}
        path = f"metadata.taints[{index}]"
        key = taint.get("key") or ""
        errors.extend(invalid(f"{path}.key", key, msg) for msg in label_key(key))
        value_errors = label_value(taint.get("value") or "")
        if value_errors:
            errors.append(invalid(f"{path}.value", taint.get("value") or "", ";".join(value_errors)))
        effect = taint.get("effect")
        if not effect:
            errors.append(required(f"{path}.effect"))
        elif effect not in TAINT_EFFECTS:
            errors.append(not_supported(f"{path}.effect", effect, TAINT_EFFECTS))
        if (key, effect or "") in seen:
            errors.append(
                FieldError("FieldValueDuplicate", path, taint, "taints must be unique by key and effect pair")
            )
        seen.add((key, effect or ""))
    return errors


class NodeStrategy(Strategy):
    def default(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        obj.setdefault("spec", {})
        status = obj.setdefault("status", {})
        if not isinstance(status, dict):
            return
        null_times(status.get("conditions"), ("lastHeartbeatTime", "lastTransitionTime"))
        if status.get("allocatable") is None and status.get("capacity") is not None:
            status["allocatable"] = dict(status["capacity"])
        endpoints = status.setdefault("daemonEndpoints", {})
        endpoints.setdefault("kubeletEndpoint", {}).setdefault("Port", 0)
        info = status.setdefault("nodeInfo", {})
        for key in _NODE_INFO_KEYS:
            info.setdefault(key, "")

    def admit(self, obj: dict[str, Any], old: dict[str, Any] | None, ctx: WriteContext) -> None:
        """The TaintNodesByCondition admission plugin: a new node is not-ready until the controller says so."""
        if old is not None:
            return
        spec = obj.setdefault("spec", {})
        taints = spec.get("taints") or []
        if not any(t.get("key") == NOT_READY_TAINT["key"] and t.get("effect") == "NoSchedule" for t in taints):
            spec["taints"] = [*taints, dict(NOT_READY_TAINT)]

    def validate(self, obj: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        errors = validate_object_meta(obj["metadata"], namespaced=False, name_fn=name_is_dns_subdomain)
        return errors + _validate_taints(obj.get("spec") or {})

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> None:
        new["status"] = old.get("status", {})

    def validate_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        errors = validate_object_meta_update(new["metadata"], old["metadata"])
        errors.extend(_validate_taints(new.get("spec") or {}))
        old_cidr = (old.get("spec") or {}).get("podCIDR")
        new_cidr = (new.get("spec") or {}).get("podCIDR")
        if old_cidr and new_cidr != old_cidr:
            errors.append(
                invalid("spec.podCIDRs", new_cidr or "", 'node updates may not change podCIDR except from "" to valid')
            )
        return errors

    def prepare_for_status_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> None:
        new["spec"] = old.get("spec", {})

    def field_set(self, obj: Mapping[str, Any]) -> dict[str, str]:
        return {
            "metadata.name": (obj.get("metadata") or {}).get("name") or "",
            "spec.unschedulable": "true" if (obj.get("spec") or {}).get("unschedulable") else "false",
        }

    def zero_object(self) -> dict[str, Any]:
        return {
            "metadata": {"creationTimestamp": None},
            "spec": {},
            "status": {
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
                "nodeInfo": dict.fromkeys(_NODE_INFO_KEYS, ""),
            },
        }


NODE = Kind(
    group="",
    version="v1",
    resource="nodes",
    kind="Node",
    namespaced=False,
    strategy=NodeStrategy(),
    short_names=("no",),
    status_subresource=True,
    field_labels=frozenset({"metadata.name", "spec.unschedulable"}),
    storage_version_hash="XwShjMxG9Fs=",
    storage_prefix="minions",
    subresources=(Subresource("status", "Node", ("get", "patch", "update")),),
)


def kubelet_node(
    name: str,
    *,
    ready: bool,
    labels: Mapping[str, str] | None,
    taints: list[dict[str, Any]] | None,
    capacity: Mapping[str, str] | None,
    kubelet_version: str,
    timestamp: str,
    previous: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """A Node as a registered kubelet (and the node lifecycle controller) would keep it.

    The Ready condition's lastTransitionTime only moves when readiness flips; a not-ready node carries the
    not-ready NoSchedule taint, as the node lifecycle controller puts it there.
    """
    old_status = (previous or {}).get("status") or {}
    old_conditions = {c.get("type"): c for c in old_status.get("conditions") or []}
    full_capacity = {**DEFAULT_CAPACITY, **(capacity or {})}
    node_labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        **(labels or {}),
    }
    node_taints = [dict(t) for t in taints or [] if t.get("key") != NOT_READY_TAINT["key"]]
    if not ready:
        node_taints.append({**NOT_READY_TAINT, "timeAdded": timestamp})

    def condition(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
        before = old_conditions.get(kind)
        since = before["lastTransitionTime"] if before and before.get("status") == status else timestamp
        return {
            "type": kind,
            "status": status,
            "lastHeartbeatTime": timestamp,
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        }

    conditions = [
        condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status")
        if ready
        else condition("Ready", "False", "KubeletNotReady", "container runtime network not ready: NetworkReady=false"),
    ]
    spec: dict[str, Any] = {}
    if node_taints:
        spec["taints"] = node_taints
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": node_labels},
        "spec": spec,
        "status": {
            "capacity": dict(full_capacity),
            "allocatable": dict(full_capacity),
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": "5.10.134-18.al8.x86_64",
                "osImage": "Alibaba Cloud Linux 3 (Soaring Falcon)",
                "containerRuntimeVersion": "containerd://1.6.28",
                "kubeletVersion": kubelet_version,
                "kubeProxyVersion": kubelet_version,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }
