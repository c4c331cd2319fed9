"""The apps/v1 Deployment and ReplicaSet kinds: decode-time defaults, the registry strategies and the Kinds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ack_compute.sandbox.kube.apps_validation import (
    selector_immutable,
    validate_deployment_spec,
    validate_replica_set_spec,
    validate_workload_status,
)
from ack_compute.sandbox.kube.context import WriteContext
from ack_compute.sandbox.kube.pods import default_pod_template_spec
from ack_compute.sandbox.kube.quantity import canonical_quantity
from ack_compute.sandbox.kube.registry import Kind, Strategy
from ack_compute.sandbox.kube.scale import scale_handler
from ack_compute.sandbox.kube.status import FieldError
from ack_compute.sandbox.kube.subresources import Subresource
from ack_compute.sandbox.kube.validation import (
    name_is_dns_subdomain,
    validate_object_meta,
    validate_object_meta_update,
)


def default_pod_template(template: dict[str, Any]) -> None:
    """SetDefaults_PodSpec and friends on a template: unlike a Pod, no enableServiceLinks and no requests copied
    from limits (those are SetDefaults_Pod's); quantities are canonical and rounded up to milli units."""
    metadata = template.get("metadata")
    if not isinstance(metadata, dict):
        metadata = template["metadata"] = {}
    metadata.setdefault("creationTimestamp", None)
    spec = template.get("spec")
    if not isinstance(spec, dict):
        spec = template["spec"] = {}
    default_pod_template_spec(spec)
    containers = [c for field in ("initContainers", "containers") for c in spec.get(field) or [] if isinstance(c, dict)]
    for container in containers:
        resources = container.setdefault("resources", {})
        for name in ("limits", "requests"):
            if isinstance(resources.get(name), dict):
                resources[name] = {k: canonical_quantity(v, milli=True) for k, v in resources[name].items()}
    for volume in spec.get("volumes") or []:
        if isinstance(volume, dict) and len(volume) == 1 and "name" in volume:
            volume["emptyDir"] = {}
    # v1 <-> internal conversion: serviceAccount is the deprecated alias of serviceAccountName (which wins).
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or ""
    for field in ("serviceAccountName", "serviceAccount"):
        if account:
            spec[field] = account
        else:
            spec.pop(field, None)
    _drop_false(spec, _FALSE_OMITTED_POD_FIELDS)
    for container in containers:
        _drop_false(container, _FALSE_OMITTED_CONTAINER_FIELDS)
        for mount in container.get("volumeMounts") or []:
            if isinstance(mount, dict):
                _drop_false(mount, ("readOnly",))


# Plain (not pointer) bools with omitempty: Go never prints them false.
_FALSE_OMITTED_POD_FIELDS = ("hostNetwork", "hostPID", "hostIPC")
_FALSE_OMITTED_CONTAINER_FIELDS = ("stdin", "stdinOnce", "tty")


def _drop_false(obj: dict[str, Any], fields: tuple[str, ...]) -> None:
    for field in fields:
        if obj.get(field) is False:
            del obj[field]


def _collapse_atomic_selectors(obj: dict[str, Any]) -> None:
    """metav1.LabelSelector is an atomic struct: managedFields own it whole (`f:selector: {}`)."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                if key == "f:labelSelector":
                    node[key] = {}
                else:
                    walk(child)

    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        fields = entry.get("fieldsV1")
        if not isinstance(fields, dict):
            continue
        spec = fields.get("f:spec")
        if isinstance(spec, dict) and "f:selector" in spec:
            spec["f:selector"] = {}
        walk(fields)


class _WorkloadStrategy(Strategy):
    """What Deployments and ReplicaSets share: a spec/status split and an atomic selector."""

    status_counters: tuple[str, ...] = ()

    @staticmethod
    def _zero(status: dict[str, Any], **spec: Any) -> dict[str, Any]:
        """The kind's Go zero value as the apiserver encodes it: a selector and a pod template, then `spec`."""
        template = {"metadata": {"creationTimestamp": None}, "spec": {"containers": None}}
        return {
            "metadata": {"creationTimestamp": None},
            "spec": {"selector": None, "template": template, **spec},
            "status": status,
        }

    def admit(self, obj: dict[str, Any], old: dict[str, Any] | None, ctx: WriteContext) -> None:
        _collapse_atomic_selectors(obj)

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> None:
        new["status"] = old.get("status", {})

    def validate_status_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        errors = validate_object_meta_update(new["metadata"], old["metadata"])
        return errors + validate_workload_status(new.get("status") or {}, self.status_counters)

    def _default_common(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return None
        if spec.get("replicas") is None:
            spec["replicas"] = 1
        template = spec.setdefault("template", {})
        if isinstance(template, dict):
            default_pod_template(template)
        status = obj.get("status")
        if isinstance(status, dict):
            for condition in status.get("conditions") or []:
                if isinstance(condition, dict):
                    condition.setdefault("lastTransitionTime", None)
        return spec


class DeploymentStrategy(_WorkloadStrategy):
    status_counters = (
        "observedGeneration",
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
        "collisionCount",
    )

    def default(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        """SetDefaults_Deployment."""
        spec = self._default_common(obj)
        if spec is None:
            return
        strategy = spec.setdefault("strategy", {})
        if isinstance(strategy, dict):
            if not strategy.get("type"):
                strategy["type"] = "RollingUpdate"
            if strategy["type"] == "RollingUpdate":
                rolling = strategy.setdefault("rollingUpdate", {})
                if isinstance(rolling, dict):
                    rolling.setdefault("maxUnavailable", "25%")
                    rolling.setdefault("maxSurge", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        status = obj.get("status")
        if isinstance(status, dict):
            for condition in status.get("conditions") or []:
                if isinstance(condition, dict):
                    condition.setdefault("lastUpdateTime", None)

    def prepare_for_create(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        obj["status"] = {}

    def validate(self, obj: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        errors = validate_object_meta(obj["metadata"], namespaced=True, name_fn=name_is_dns_subdomain)
        return errors + validate_deployment_spec(obj.get("spec") or {})

    def validate_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        errors = validate_object_meta_update(new["metadata"], old["metadata"])
        errors.extend(validate_deployment_spec(new.get("spec") or {}))
        return errors + selector_immutable(new, old)

    def prepare_for_status_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> None:
        """deploymentStatusStrategy: the spec and labels stay, annotations may change (the revision)."""
        super().prepare_for_status_update(new, old, ctx)
        labels = (old.get("metadata") or {}).get("labels")
        if labels is None:
            new["metadata"].pop("labels", None)
        else:
            new["metadata"]["labels"] = labels

    def spec_of(self, obj: Mapping[str, Any]) -> Any:
        """A Deployment's generation also moves when its annotations change."""
        return [obj.get("spec"), (obj.get("metadata") or {}).get("annotations") or {}]

    def zero_object(self) -> dict[str, Any]:
        return self._zero({}, strategy={})


class ReplicaSetStrategy(_WorkloadStrategy):
    status_counters = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration")

    def default(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        """SetDefaults_ReplicaSet."""
        self._default_common(obj)

    def prepare_for_create(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        obj["status"] = {"replicas": 0}

    def validate(self, obj: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        errors = validate_object_meta(obj["metadata"], namespaced=True, name_fn=name_is_dns_subdomain)
        return errors + validate_replica_set_spec(obj.get("spec") or {})

    def validate_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        """rsStrategy.ValidateUpdate validates the spec twice (create and update checks), as the real one does."""
        errors = self.validate(new, ctx)
        errors.extend(validate_object_meta_update(new["metadata"], old["metadata"]))
        errors.extend(validate_replica_set_spec(new.get("spec") or {}))
        return errors + selector_immutable(new, old)

    def field_set(self, obj: Mapping[str, Any]) -> dict[str, str]:
        fields = super().field_set(obj)
        fields["status.replicas"] = str((obj.get("status") or {}).get("replicas") or 0)
        return fields

    def zero_object(self) -> dict[str, Any]:
        return self._zero({"replicas": 0})


_SCALE = Subresource("scale", "Scale", ("get", "patch", "update"), scale_handler)


def _apps_kind(
    kind: str, resource: str, strategy: Any, short_name: str, storage_version_hash: str, **more: Any
) -> Kind:
    """An apps/v1 workload kind: namespaced, in category `all`, with status and scale subresources and a tracked
    generation."""
    return Kind(
        group="apps",
        version="v1",
        namespaced=True,
        categories=("all",),
        status_subresource=True,
        tracks_generation=True,
        kind=kind,
        resource=resource,
        strategy=strategy,
        short_names=(short_name,),
        storage_version_hash=storage_version_hash,
        subresources=(_SCALE, Subresource("status", kind, ("get", "patch", "update"))),
        **more,
    )


DEPLOYMENT = _apps_kind("Deployment", "deployments", DeploymentStrategy(), "deploy", "8aSe+NMegvE=")
REPLICA_SET = _apps_kind(
    "ReplicaSet",
    "replicasets",
    ReplicaSetStrategy(),
    "rs",
    "P1RzHs8/mWQ=",
    field_labels=frozenset({"metadata.name", "metadata.namespace", "status.replicas"}),
)
