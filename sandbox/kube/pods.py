"""core/v1 Pods: decode-time defaults, admission (default tolerations, priority), QoS class, validation and
graceful deletion, as the apiserver applies them to a pod that no kubelet has touched yet."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ack_compute.sandbox.kube.canonical import null_times
from ack_compute.sandbox.kube.context import WriteContext
from ack_compute.sandbox.kube.pod_log import log_handler
from ack_compute.sandbox.kube.registry import Kind, Strategy
from ack_compute.sandbox.kube.status import (
    FieldError,
    GroupResource,
    bad_request,
    duplicate,
    forbidden,
    forbidden_request,
    invalid,
    not_supported,
    required,
)
from ack_compute.sandbox.kube.subresources import Subresource, SubresourceCall, decode_json
from ack_compute.sandbox.kube.validation import (
    dns1123_label,
    name_is_dns_subdomain,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)

POD_FIELD_LABELS = frozenset(
    {
        "metadata.name",
        "metadata.namespace",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
    }
)
DEFAULT_TOLERATION_SECONDS = 300
SYSTEM_PRIORITY_CLASSES = {"system-cluster-critical": 2000000000, "system-node-critical": 2000001000}
POD_RESOURCE = GroupResource("", "pods")
RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]
TOLERATION_OPERATORS = ["Equal", "Exists"]
_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, "
    "`spec.activeDeadlineSeconds` or `spec.tolerations` (only additions to existing tolerations)"
)
_CONTAINER_LISTS = ("initContainers", "containers")


def _image_pull_policy(image: str) -> str:
    """Always for `:latest` or untagged images, else IfNotPresent (digests count as tagged)."""
    if not image or "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _default_probe(probe: dict[str, Any] | None) -> None:
    if not isinstance(probe, dict):
        return
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def _default_container(container: dict[str, Any]) -> None:
    if not container.get("imagePullPolicy"):
        container["imagePullPolicy"] = _image_pull_policy(container.get("image") or "")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    resources = container.setdefault("resources", {})
    limits = resources.get("limits") or {}
    if limits:
        requests = resources.setdefault("requests", {})
        for name, quantity in limits.items():
            requests.setdefault(name, quantity)
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in container.get("env") or []:
        field_ref = ((env or {}).get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(container.get(probe))


def _default_volume(volume: dict[str, Any]) -> None:
    for source in ("configMap", "secret", "projected", "downwardAPI"):
        if isinstance(volume.get(source), dict):
            volume[source].setdefault("defaultMode", 420)


def default_pod_spec(spec: dict[str, Any]) -> None:
    """SetDefaults_PodSpec and friends; also used for pod templates of workload kinds."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    for field in _CONTAINER_LISTS:
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                _default_container(container)
    for volume in spec.get("volumes") or []:
        if isinstance(volume, dict):
            _default_volume(volume)


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


def qos_class(spec: Mapping[str, Any]) -> str:
    """GetPodQOS: Guaranteed when every container's cpu and memory limits equal its requests."""
    containers = [c for field in _CONTAINER_LISTS for c in spec.get(field) or [] if isinstance(c, dict)]
    requests_seen = limits_seen = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        requests = {k: v for k, v in (resources.get("requests") or {}).items() if k in ("cpu", "memory")}
        limits = {k: v for k, v in (resources.get("limits") or {}).items() if k in ("cpu", "memory")}
        requests_seen = requests_seen or bool(requests)
        limits_seen = limits_seen or bool(limits)
        if set(limits) != {"cpu", "memory"} or any(requests.get(k, limits[k]) != limits[k] for k in limits):
            guaranteed = False
    if not requests_seen and not limits_seen:
        return "BestEffort"
    return "Guaranteed" if guaranteed and limits_seen else "Burstable"


def _validate_containers(containers: Any, path: str) -> list[FieldError]:
    if not containers:
        return [required(path)]
    errors: list[FieldError] = []
    names: set[str] = set()
    for index, container in enumerate(containers):
        item = f"{path}[{index}]"
        container = container if isinstance(container, dict) else {}
        name = container.get("name") or ""
        if not name:
            errors.append(required(f"{item}.name"))
        else:
            errors.extend(invalid(f"{item}.name", name, msg) for msg in dns1123_label(name))
        if name in names:
            errors.append(duplicate(f"{item}.name", name))
        names.add(name)
        if not container.get("image"):
            errors.append(required(f"{item}.image"))
        for p_index, port in enumerate(container.get("ports") or []):
            number = (port or {}).get("containerPort")
            if not isinstance(number, int) or not 1 <= number <= 65535:
                errors.append(
                    invalid(
                        f"{item}.ports[{p_index}].containerPort", number or 0, "must be between 1 and 65535, inclusive"
                    )
                )
        errors.extend(_one_of(container, "terminationMessagePolicy", item, MESSAGE_POLICIES))
        errors.extend(_one_of(container, "imagePullPolicy", item, PULL_POLICIES))
    return errors


def _one_of(obj: Mapping[str, Any], field: str, path: str, allowed: Any) -> list[FieldError]:
    """A defaulted enum field: missing is Required, anything else not listed is NotSupported."""
    value = obj.get(field)
    if value in allowed:
        return []
    return [required(f"{path}.{field}") if not value else not_supported(f"{path}.{field}", value, allowed)]


def validate_pod_spec(spec: Mapping[str, Any], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    errors.extend(_validate_containers(spec.get("containers"), f"{path}.containers"))
    if spec.get("initContainers"):
        errors.extend(_validate_containers(spec.get("initContainers"), f"{path}.initContainers"))
    errors.extend(_one_of(spec, "restartPolicy", path, RESTART_POLICIES))
    errors.extend(_one_of(spec, "dnsPolicy", path, DNS_POLICIES))
    errors.extend(validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector"))
    node_name = spec.get("nodeName")
    if node_name:
        errors.extend(invalid(f"{path}.nodeName", node_name, msg) for msg in name_is_dns_subdomain(node_name, False))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (not isinstance(deadline, int) or not 1 <= deadline <= 2**31 - 1):
        errors.append(invalid(f"{path}.activeDeadlineSeconds", deadline, "must be between 1 and 2147483647, inclusive"))
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or grace < 0):
        errors.append(invalid(f"{path}.terminationGracePeriodSeconds", grace, "must be greater than or equal to 0"))
    for index, toleration in enumerate(spec.get("tolerations") or []):
        operator = (toleration or {}).get("operator")
        if operator and operator not in TOLERATION_OPERATORS:
            errors.append(not_supported(f"{path}.tolerations[{index}].operator", operator, TOLERATION_OPERATORS))
    return errors


# ack-virtual-node's ECI Scheduler (a mutating webhook): a new pod in a namespace labelled alibabacloud.com/eci=true
# goes to a virtual node and runs as a (billed) ECI instance. Sources: "Configure an eci-profile" (ECI Scheduler
# "routes pods to ECI based on pod or namespace labels") and "Configure virtual nodes for a Kubernetes application"
# ("Add the tag alibabacloud.com/eci=true to a Kubernetes cluster namespace. Then, new pods are scheduled to virtual
# nodes"), www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/configure-an-eci-profile and
# www.alibabacloud.com/help/en/edas/use-cases/configure-virtual-nodes-for-a-kubernetes-application.
ECI_LABEL = "alibabacloud.com/eci"
_VIRTUAL_NODE_SELECTOR = {"type": "virtual-kubelet"}
_VIRTUAL_TOLERATION = {"key": "virtual-kubelet.io/provider", "operator": "Exists", "effect": "NoSchedule"}


def _eci_scheduler(obj: dict[str, Any], ctx: WriteContext) -> None:
    """Only where the add-on runs (a virtual node is registered), as the webhook is the add-on's."""
    labels = (obj["metadata"].get("labels") or {}) | _namespace_labels(ctx, obj["metadata"].get("namespace") or "")
    if labels.get(ECI_LABEL) != "true":
        return
    node_kind = ctx.registry.lookup("", "v1", "nodes")
    nodes, _ = ctx.store.list(node_kind.key, None) if node_kind is not None else ([], 0)
    if not any((n["metadata"].get("labels") or {}).get("type") == "virtual-kubelet" for n in nodes):
        return
    spec = obj["spec"]
    spec["nodeSelector"] = {**(spec.get("nodeSelector") or {}), **_VIRTUAL_NODE_SELECTOR}
    if _VIRTUAL_TOLERATION not in spec["tolerations"]:
        spec["tolerations"].append(dict(_VIRTUAL_TOLERATION))


def _namespace_labels(ctx: WriteContext, namespace: str) -> dict[str, str]:
    kind = ctx.registry.lookup("", "v1", "namespaces")
    found = ctx.store.get(kind.key, "", namespace) if kind is not None else None
    return dict(((found or {}).get("metadata") or {}).get("labels") or {})


def _default_tolerations(spec: dict[str, Any]) -> None:
    """The DefaultTolerationSeconds admission plugin."""
    tolerations = spec.get("tolerations") or []
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        covered = any(
            t.get("effect") in ("", None, "NoExecute")
            and (t.get("key") in ("", None) or t.get("key") == key)
            and (t.get("key") or t.get("operator") == "Exists")
            for t in tolerations
            if isinstance(t, dict)
        )
        if not covered:
            tolerations.append(
                {
                    "key": key,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
                }
            )
    spec["tolerations"] = tolerations


class PodStrategy(Strategy):
    def default(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            default_pod_spec(spec)
        status = obj.get("status")
        if isinstance(status, dict):
            null_times(status.get("conditions"), ("lastProbeTime", "lastTransitionTime"))
            # v1 -> internal conversion keeps podIP and podIPs[0] in step.
            if status.get("podIP") and not status.get("podIPs"):
                status["podIPs"] = [{"ip": status["podIP"]}]
            elif status.get("podIPs") and not status.get("podIP"):
                status["podIP"] = (status["podIPs"][0] or {}).get("ip", "")

    def admit(self, obj: dict[str, Any], old: dict[str, Any] | None, ctx: WriteContext) -> None:
        if old is not None:
            return
        spec = obj["spec"]
        _default_tolerations(spec)
        _eci_scheduler(obj, ctx)
        # The Priority admission plugin: the class's value, with only the built-in classes existing here.
        class_name = spec.get("priorityClassName")
        if class_name and class_name not in SYSTEM_PRIORITY_CLASSES:
            raise forbidden_request(
                POD_RESOURCE, obj["metadata"].get("name") or "", f"no PriorityClass with name {class_name} was found"
            )
        spec["priority"] = SYSTEM_PRIORITY_CLASSES.get(class_name or "", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")

    def prepare_for_create(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}

    def validate(self, obj: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        errors = validate_object_meta(obj["metadata"], namespaced=True, name_fn=name_is_dns_subdomain)
        errors.extend(validate_pod_spec(obj.get("spec") or {}, "spec"))
        return errors

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> None:
        new["status"] = old.get("status", {})

    def validate_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        errors = validate_object_meta_update(new["metadata"], old["metadata"])
        errors.extend(validate_pod_spec(new.get("spec") or {}, "spec"))
        if _mutable_view(new.get("spec") or {}, old.get("spec") or {}) != (old.get("spec") or {}):
            errors.append(forbidden("spec", _UPDATE_FORBIDDEN))
        return errors

    def prepare_for_status_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> None:
        new["spec"] = old.get("spec", {})
        new["metadata"].pop("deletionTimestamp", None)
        if "deletionTimestamp" in old["metadata"]:
            new["metadata"]["deletionTimestamp"] = old["metadata"]["deletionTimestamp"]

    def field_set(self, obj: Mapping[str, Any]) -> dict[str, str]:
        fields = super().field_set(obj)
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        pod_ips = [entry.get("ip", "") for entry in status.get("podIPs") or [] if isinstance(entry, dict)]
        fields.update(
            {
                "spec.nodeName": spec.get("nodeName") or "",
                "spec.restartPolicy": spec.get("restartPolicy") or "",
                "spec.schedulerName": spec.get("schedulerName") or "",
                "spec.serviceAccountName": spec.get("serviceAccountName") or "",
                "status.phase": status.get("phase") or "",
                "status.podIP": status.get("podIP") or "",
                "status.podIPs": pod_ips[0] if pod_ips else "",
                "status.nominatedNodeName": status.get("nominatedNodeName") or "",
            }
        )
        return fields

    def grace_period(self, obj: Mapping[str, Any], requested: int | None) -> int | None:
        """podStrategy.CheckGracefulDelete: unscheduled or finished pods go at once."""
        spec = obj.get("spec") or {}
        period = requested if requested is not None else spec.get("terminationGracePeriodSeconds") or 0
        if not spec.get("nodeName") or (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            period = 0
        return period

    def zero_object(self) -> dict[str, Any]:
        return {"metadata": {"creationTimestamp": None}, "spec": {"containers": None}, "status": {}}


def _mutable_view(new: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """`new` with the fields a pod update may change copied from `old`, so only forbidden changes remain."""
    view = dict(new)
    for field in _CONTAINER_LISTS:
        new_list, old_list = new.get(field), old.get(field)
        if isinstance(new_list, list) and isinstance(old_list, list) and len(new_list) == len(old_list):
            view[field] = [
                {**n, "image": o.get("image")} if isinstance(n, dict) and isinstance(o, dict) else n
                for n, o in zip(new_list, old_list, strict=True)
            ]
    old_deadline, new_deadline = old.get("activeDeadlineSeconds"), new.get("activeDeadlineSeconds")
    if new_deadline is not None and (old_deadline is None or new_deadline <= old_deadline):
        view["activeDeadlineSeconds"] = old_deadline
        if old_deadline is None:
            view.pop("activeDeadlineSeconds")
    old_tolerations = old.get("tolerations") or []
    new_tolerations = new.get("tolerations") or []
    if all(t in new_tolerations for t in old_tolerations):
        if old_tolerations or "tolerations" in old:
            view["tolerations"] = old.get("tolerations")
        else:
            view.pop("tolerations", None)
    return view


async def binding_handler(call: SubresourceCall) -> tuple[dict[str, Any], int]:
    """The `pods/binding` subresource: POST a Binding to assign the pod to its target node."""
    binding = decode_json(call.body, call.content_type)
    target = ((binding.get("target") or {}).get("name")) or ""
    if not target:
        raise bad_request("binding target name is required")
    call.cluster.bind_pod(call.namespace, call.name, target)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201


POD = Kind(
    group="",
    version="v1",
    resource="pods",
    kind="Pod",
    namespaced=True,
    strategy=PodStrategy(),
    short_names=("po",),
    categories=("all",),
    status_subresource=True,
    return_deleted_object=True,
    field_labels=POD_FIELD_LABELS,
    storage_version_hash="xPOwRZ+Yhw8=",
    subresources=(
        Subresource("binding", "Binding", ("create",), binding_handler),
        Subresource("log", "Pod", ("get",), log_handler),
        Subresource("status", "Pod", ("get", "patch", "update")),
    ),
)
