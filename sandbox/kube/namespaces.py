"""core/v1 Namespaces: the `kubernetes` finalizer, Terminating phase, immortal system namespaces, and the
conditions the namespace controller reports while it empties one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ack_compute.sandbox.kube.canonical import null_times
from ack_compute.sandbox.kube.context import WriteContext
from ack_compute.sandbox.kube.registry import Kind, Strategy
from ack_compute.sandbox.kube.status import FieldError, invalid
from ack_compute.sandbox.kube.subresources import Subresource, SubresourceCall, decode_json
from ack_compute.sandbox.kube.validation import (
    label_key,
    name_is_dns_label,
    validate_object_meta,
    validate_object_meta_update,
)

FINALIZER = "kubernetes"
NAME_LABEL = "kubernetes.io/metadata.name"
IMMORTAL = frozenset({"default", "kube-system", "kube-public"})
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def _validate_finalizers(obj: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for finalizer in (obj.get("spec") or {}).get("finalizers") or []:
        errors.extend(invalid("spec.finalizers", finalizer, msg) for msg in label_key(finalizer))
    return errors


class NamespaceStrategy(Strategy):
    def default(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        status = obj.setdefault("status", {})
        if isinstance(status, dict):
            if not status.get("phase"):
                status["phase"] = "Active"
            null_times(status.get("conditions"), ("lastTransitionTime",))
        # Since 1.21 every namespace carries its own name as a label, so selectors can pick namespaces by name.
        name = (obj.get("metadata") or {}).get("name")
        if ctx.version.newer_than_emulated and name:
            obj["metadata"].setdefault("labels", {})[NAME_LABEL] = name

    def prepare_for_create(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        obj["status"] = {"phase": "Active"}
        spec = obj.setdefault("spec", {})
        finalizers = spec.get("finalizers") or []
        if FINALIZER not in finalizers:
            spec["finalizers"] = [*finalizers, FINALIZER]

    def validate(self, obj: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        errors = validate_object_meta(obj["metadata"], namespaced=False, name_fn=name_is_dns_label)
        return errors + _validate_finalizers(obj)

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> None:
        new.setdefault("spec", {})
        if "finalizers" in (old.get("spec") or {}):
            new["spec"]["finalizers"] = old["spec"]["finalizers"]
        else:
            new["spec"].pop("finalizers", None)
        new["status"] = old.get("status", {})

    def validate_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        return validate_object_meta_update(new["metadata"], old["metadata"]) + _validate_finalizers(new)

    def prepare_for_status_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> None:
        new["spec"] = old.get("spec", {})

    def field_set(self, obj: Mapping[str, Any]) -> dict[str, str]:
        return {
            "metadata.name": (obj.get("metadata") or {}).get("name") or "",
            "status.phase": (obj.get("status") or {}).get("phase") or "",
        }

    def zero_object(self) -> dict[str, Any]:
        return {"metadata": {"creationTimestamp": None}, "spec": {}, "status": {}}


def deletion_conditions(remaining: dict[str, int], timestamp: str) -> list[dict[str, Any]]:
    """The five conditions the namespace controller keeps on a Terminating namespace."""
    if remaining:
        summary = ", ".join(
            f"{resource} has {count} resource instances" for resource, count in sorted(remaining.items())
        )
        content = ("True", "SomeResourcesRemain", f"Some resources are remaining: {summary}")
    else:
        content = ("False", "ContentRemoved", "All content successfully removed")
    rows = [
        ("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered", "All resources successfully discovered"),
        (
            "NamespaceDeletionGroupVersionParsingFailure",
            "False",
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
        (
            "NamespaceDeletionContentFailure",
            "False",
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
        ),
        ("NamespaceContentRemaining", *content),
        (
            "NamespaceFinalizersRemaining",
            "False",
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished",
        ),
    ]
    return [
        {"type": kind, "status": status, "lastTransitionTime": timestamp, "reason": reason, "message": message}
        for kind, status, reason, message in rows
    ]


NAMESPACE_FIELD_LABELS = frozenset({"metadata.name", "status.phase"})


async def finalize_handler(call: SubresourceCall) -> tuple[dict[str, Any], int]:
    """The `namespaces/finalize` subresource: PUT a Namespace whose spec.finalizers replace the stored ones."""
    obj = decode_json(call.body, call.content_type, call.kind.kind)
    objects = call.cluster.objects
    objects.get(call.kind, call.namespace, call.name)
    finalizers = (obj.get("spec") or {}).get("finalizers") or []
    return objects.finalize_namespace(call.name, finalizers), 200


NAMESPACE = Kind(
    group="",
    version="v1",
    resource="namespaces",
    kind="Namespace",
    namespaced=False,
    strategy=NamespaceStrategy(),
    short_names=("ns",),
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    name_validator=name_is_dns_label,
    status_subresource=True,
    return_deleted_object=True,
    field_labels=NAMESPACE_FIELD_LABELS,
    storage_version_hash="Q3oi5N2YM8M=",
    subresources=(
        Subresource("finalize", "Namespace", ("update",), finalize_handler),
        Subresource("status", "Namespace", ("get", "patch", "update")),
    ),
)
