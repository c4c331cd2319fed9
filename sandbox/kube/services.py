"""core/v1 Services: defaults, validation, ClusterIP and NodePort allocation, as kube-apiserver 1.20 applies them.

Addresses come from SERVICE_CIDR (10.96.0.0/12, the kubeadm default; the first address is the `kubernetes`
service's) and node ports from 30000-32767, both chosen at random among the free ones like the real allocators.
What is allocated is whatever the stored Services hold, so nothing leaks when a create fails. LoadBalancer
Services are accepted with an empty status.loadBalancer: no cloud controller fills it in.
"""

from __future__ import annotations

import ipaddress
import random
import re
from collections.abc import Mapping
from typing import Any

from ack_compute.sandbox.kube.context import WriteContext
from ack_compute.sandbox.kube.go_literals import go_strings
from ack_compute.sandbox.kube.registry import Kind, Strategy
from ack_compute.sandbox.kube.status import (
    FieldError,
    GoLiteral,
    duplicate,
    forbidden,
    internal_error,
    invalid,
    invalid_object,
    not_supported,
    required,
)
from ack_compute.sandbox.kube.store import Obj
from ack_compute.sandbox.kube.subresources import Subresource
from ack_compute.sandbox.kube.validation import (
    dns1123_label,
    dns1123_subdomain,
    label_key,
    max_len_error,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
NODE_PORT_RANGE = range(30000, 32768)
KUBELET_PORT = 10250
DEFAULT_CLIENT_IP_TIMEOUT = 10800
MAX_CLIENT_IP_TIMEOUT = 86400
PROTOCOLS = ["SCTP", "TCP", "UDP"]
SESSION_AFFINITIES = ["ClientIP", "None"]
SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"
_DNS1035_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035 = re.compile(_DNS1035_FMT)
_PORT_NAME_CHARS = re.compile(r"^[-a-z0-9]+$")
_IP_MESSAGE = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def _dns1035_name(name: str, prefix: bool) -> list[str]:
    """NameIsDNS1035Label: Service names must start with a letter."""
    if prefix and len(name) > 1 and name.endswith("-"):
        name = name[:-1] + "a"
    errors = []
    if len(name) > 63:
        errors.append(max_len_error(63))
    if not _DNS1035.fullmatch(name):
        errors.append(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
            "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
            f"validation is '{_DNS1035_FMT}')"
        )
    return errors


def _port_name_errors(name: str) -> list[str]:
    """IsValidPortName (targetPort given by name)."""
    errors = []
    if len(name) > 15:
        errors.append(max_len_error(15))
    if not _PORT_NAME_CHARS.match(name):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", name):
        errors.append("must contain at least one letter or number (a-z, 0-9)")
    if "--" in name:
        errors.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def _port_number_errors(port: Any) -> list[str]:
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        return ["must be between 1 and 65535, inclusive"]
    return []


def _ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        return None


def _special_ip_errors(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
    """validateNonSpecialIP (external IPs)."""
    if ip.is_unspecified:
        return [f"may not be unspecified ({ip})"]
    if ip.is_loopback:
        return ["may not be in the loopback range (127.0.0.0/8, ::1/128)"]
    if ip.is_link_local:
        return ["may not be in the link-local range (169.254.0.0/16, fe80::/10)"]
    if ip in ipaddress.ip_network("224.0.0.0/24") or ip in ipaddress.ip_network("ff02::/10"):
        return ["may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"]
    return []


def _go_service_port_key(protocol: str, port: int) -> GoLiteral:
    return GoLiteral(
        f'core.ServicePort{{Name:"", Protocol:"{protocol}", AppProtocol:(*string)(nil), Port:{port}, '
        'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
    )


def is_headless(spec: Mapping[str, Any]) -> bool:
    cluster_ips = spec.get("clusterIPs") or []
    return len(cluster_ips) == 1 and cluster_ips[0] == "None"


def _needs_node_ports(spec: Mapping[str, Any]) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


def _needs_health_check(spec: Mapping[str, Any]) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


# --- validation (ValidateService) --------------------------------------------------------------------------------


def _validate_port(port: Mapping[str, Any], require_name: bool, names: set[str], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    name = port.get("name") or ""
    if require_name and not name:
        errors.append(required(f"{path}.name"))
    elif name:
        errors.extend(invalid(f"{path}.name", name, msg) for msg in dns1123_label(name))
        if name in names:
            errors.append(duplicate(f"{path}.name", name))
        names.add(name)
    errors.extend(invalid(f"{path}.port", port.get("port") or 0, msg) for msg in _port_number_errors(port.get("port")))
    protocol = port.get("protocol") or ""
    if not protocol:
        errors.append(required(f"{path}.protocol"))
    elif protocol not in PROTOCOLS:
        errors.append(not_supported(f"{path}.protocol", protocol, PROTOCOLS))
    target = port.get("targetPort")
    if isinstance(target, str):
        errors.extend(invalid(f"{path}.targetPort", target, msg) for msg in _port_name_errors(target))
    else:
        errors.extend(invalid(f"{path}.targetPort", target or 0, msg) for msg in _port_number_errors(target))
    app_protocol = port.get("appProtocol")
    if app_protocol is not None:
        errors.extend(invalid(f"{path}.appProtocol", app_protocol, msg) for msg in label_key(str(app_protocol)))
    return errors


def _validate_cluster_ips(spec: Mapping[str, Any]) -> list[FieldError]:
    """validateServiceClusterIPsRelatedFields, single-stack."""
    if spec.get("type") == "ExternalName":
        return []
    errors: list[FieldError] = []
    cluster_ip = spec.get("clusterIP") or ""
    cluster_ips = list(spec.get("clusterIPs") or [])
    if cluster_ip:
        if not cluster_ips:
            errors.append(required("spec.clusterIPs"))
        elif cluster_ips[0] != cluster_ip:
            errors.append(invalid("spec.clusterIPs", go_strings(cluster_ips), "element [0] must match clusterIP"))
    elif cluster_ips:
        errors.append(invalid("spec.clusterIPs", go_strings(cluster_ips), "must be empty when clusterIP is empty"))
    bad = False
    for index, value in enumerate(cluster_ips):
        if index == 0 and value == "None":
            if len(cluster_ips) > 1:
                bad = True
                errors.append(
                    invalid("spec.clusterIPs", go_strings(cluster_ips), "'None' must be the first and only value")
                )
            continue
        if _ip(value) is None:
            bad = True
            errors.append(invalid(f"spec.clusterIPs[{index}]", value, _IP_MESSAGE))
    if len(cluster_ips) > 2:
        errors.append(invalid("spec.clusterIPs", go_strings(cluster_ips), "may only hold up to 2 values"))
    if not bad and len(cluster_ips) == 2:
        first, second = _ip(cluster_ips[0]), _ip(cluster_ips[1])
        if first is not None and second is not None and first.version == second.version:
            errors.append(
                invalid(
                    "spec.clusterIPs", go_strings(cluster_ips), "may specify no more than one IP for each IP family"
                )
            )
    return errors


def validate_service(service: Mapping[str, Any]) -> list[FieldError]:
    """ValidateService, in its order of checks."""
    errors = validate_object_meta(service["metadata"], namespaced=True, name_fn=_dns1035_name)
    spec = service.get("spec") or {}
    kind = spec.get("type") or ""
    ports = [p if isinstance(p, dict) else {} for p in spec.get("ports") or []]
    headless = is_headless(spec)
    if not ports and not headless and kind != "ExternalName":
        errors.append(required("spec.ports"))
    if kind == "LoadBalancer":
        for index, port in enumerate(ports):
            if port.get("port") == KUBELET_PORT:
                errors.append(
                    invalid(
                        f"spec.ports[{index}]",
                        KUBELET_PORT,
                        f"may not expose port {KUBELET_PORT} externally since it is used by kubelet",
                    )
                )
    if kind in ("LoadBalancer", "NodePort") and headless:
        errors.append(invalid("spec.clusterIPs[0]", "None", f"may not be set to 'None' for {kind} services"))
    if kind == "ExternalName":
        if spec.get("clusterIPs"):
            errors.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        for field in ("ipFamilies", "ipFamilyPolicy"):
            if spec.get(field):
                errors.append(forbidden(f"spec.{field}", "may not be set for ExternalName services"))
        cname = (spec.get("externalName") or "").removesuffix(".")
        if cname:
            errors.extend(invalid("spec.externalName", cname, msg) for msg in dns1123_subdomain(cname))
        else:
            errors.append(required("spec.externalName"))
    names: set[str] = set()
    for index, port in enumerate(ports):
        errors.extend(_validate_port(port, len(ports) > 1, names, f"spec.ports[{index}]"))
    if spec.get("selector") is not None:
        errors.extend(validate_labels(spec.get("selector"), "spec.selector"))
    affinity = spec.get("sessionAffinity") or ""
    if not affinity:
        errors.append(required("spec.sessionAffinity"))
    elif affinity not in SESSION_AFFINITIES:
        errors.append(not_supported("spec.sessionAffinity", affinity, SESSION_AFFINITIES))
    if affinity == "ClientIP":
        errors.extend(_validate_client_ip_config(spec.get("sessionAffinityConfig")))
    elif affinity == "None" and spec.get("sessionAffinityConfig") is not None:
        errors.append(forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None"))
    errors.extend(_validate_cluster_ips(spec))
    for index, value in enumerate(spec.get("externalIPs") or []):
        ip = _ip(value)
        messages = [_IP_MESSAGE] if ip is None else _special_ip_errors(ip)
        errors.extend(invalid(f"spec.externalIPs[{index}]", value, msg) for msg in messages)
    if not kind:
        errors.append(required("spec.type"))
    elif kind not in SERVICE_TYPES:
        errors.append(not_supported("spec.type", kind, SERVICE_TYPES))
    if kind == "ClusterIP":
        for index, port in enumerate(ports):
            if port.get("nodePort"):
                errors.append(forbidden(f"spec.ports[{index}].nodePort", "may not be used when `type` is 'ClusterIP'"))
    node_ports: set[tuple[str, int]] = set()
    for index, port in enumerate(ports):
        if port.get("nodePort"):
            key = (port.get("protocol") or "", port["nodePort"])
            if key in node_ports:
                errors.append(duplicate(f"spec.ports[{index}].nodePort", port["nodePort"]))
            node_ports.add(key)
    seen: set[tuple[str, Any]] = set()
    for index, port in enumerate(ports):
        key = (port.get("protocol") or "", port.get("port") or 0)
        if key in seen:
            errors.append(duplicate(f"spec.ports[{index}]", _go_service_port_key(*key)))
        seen.add(key)
    errors.extend(_validate_source_ranges(service, spec))
    policy = spec.get("externalTrafficPolicy") or ""
    if policy and policy not in ("Cluster", "Local"):
        errors.append(
            invalid("spec.externalTrafficPolicy", policy, "ExternalTrafficPolicy must be empty, Cluster or Local")
        )
    health = spec.get("healthCheckNodePort") or 0
    if health < 0:
        errors.append(invalid("spec.healthCheckNodePort", health, "HealthCheckNodePort must be not less than 0"))
    return errors


def _validate_client_ip_config(config: Any) -> list[FieldError]:
    path = "spec.sessionAffinityConfig"
    if not isinstance(config, dict):
        return [required(path, "when session affinity type is ClientIP")]
    client_ip = config.get("clientIP")
    if not isinstance(client_ip, dict):
        return [required(f"{path}.clientIP", "when session affinity type is ClientIP")]
    timeout = client_ip.get("timeoutSeconds")
    if timeout is None:
        return [required(f"{path}.clientIP.timeoutSeconds", "when session affinity type is ClientIP")]
    if not 0 < timeout <= MAX_CLIENT_IP_TIMEOUT:
        return [
            invalid(
                f"{path}.clientIP.timeoutSeconds",
                timeout,
                f"must be greater than 0 and less than {MAX_CLIENT_IP_TIMEOUT}",
            )
        ]
    return []


def _validate_source_ranges(service: Mapping[str, Any], spec: Mapping[str, Any]) -> list[FieldError]:
    ranges = spec.get("loadBalancerSourceRanges") or []
    annotation = (service["metadata"].get("annotations") or {}).get(SOURCE_RANGES_ANNOTATION)
    if not ranges and annotation is None:
        return []
    if ranges:
        path, value, items = "spec.LoadBalancerSourceRanges", "[" + " ".join(ranges) + "]", ranges
    else:
        path = f"metadata.annotations[{SOURCE_RANGES_ANNOTATION}]"
        value, items = annotation, [part.strip() for part in str(annotation).split(",") if part.strip()]
    errors: list[FieldError] = []
    if spec.get("type") != "LoadBalancer":
        errors.append(forbidden(path, "may only be used when `type` is 'LoadBalancer'"))
    for item in items:
        try:
            ipaddress.ip_network(str(item).strip(), strict=False)
        except ValueError:
            errors.append(
                invalid(path, value, "must be a list of IP ranges. For example, 10.240.0.0/24,10.250.0.0/24 ")
            )
            break
    return errors


def _validate_traffic_combination(service: Mapping[str, Any]) -> None:
    """ValidateServiceExternalTrafficFieldsCombination, checked after allocation like the registry does."""
    spec = service.get("spec") or {}
    errors: list[FieldError] = []
    if not _needs_node_ports(spec) and spec.get("externalTrafficPolicy"):
        errors.append(
            invalid(
                "spec.externalTrafficPolicy",
                spec["externalTrafficPolicy"],
                "ExternalTrafficPolicy can only be set on NodePort and LoadBalancer service",
            )
        )
    if not _needs_health_check(spec) and spec.get("healthCheckNodePort"):
        errors.append(
            invalid(
                "spec.healthCheckNodePort",
                spec["healthCheckNodePort"],
                "HealthCheckNodePort can only be set on LoadBalancer service with ExternalTrafficPolicy=Local",
            )
        )
    if errors:
        raise invalid_object("", "Service", service["metadata"].get("name") or "", errors)


# --- allocation -------------------------------------------------------------------------------------------------


class _Allocations:
    """What the stored Services hold, besides `exclude` (the Service being updated)."""

    def __init__(self, ctx: WriteContext, exclude: str | None) -> None:
        items, _ = ctx.store.list(SERVICE.key, None)
        self.ips: set[str] = set()
        self.node_ports: set[int] = set()
        for item in items:
            if exclude is not None and item["metadata"].get("uid") == exclude:
                continue
            spec = item.get("spec") or {}
            self.ips.update(ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip and ip != "None")
            self.node_ports.update(p.get("nodePort") for p in spec.get("ports") or [] if p.get("nodePort"))
            if spec.get("healthCheckNodePort"):
                self.node_ports.add(spec["healthCheckNodePort"])

    def cluster_ip(self, service: Obj, requested: str) -> str:
        """ipallocator Allocate / AllocateNext; the network's first host address is the `kubernetes` service's."""
        if requested:
            ip = _ip(requested)
            if ip is None or ip not in SERVICE_CIDR or ip in (SERVICE_CIDR.network_address, SERVICE_CIDR[-1]):
                problem = f"provided IP is not in the valid range. The range of valid IPs is {SERVICE_CIDR}"
            elif requested in self.ips or ip == SERVICE_CIDR[1]:
                problem = "provided IP is already allocated"
            else:
                self.ips.add(requested)
                return requested
            error = invalid(
                "spec.clusterIPs",
                go_strings(service["spec"].get("clusterIPs") or [requested]),
                f"failed to allocated ip:{requested} with error:{problem}",
            )
            raise invalid_object("", "Service", service["metadata"].get("name") or "", [error])
        size = SERVICE_CIDR.num_addresses
        for _ in range(64):
            candidate = str(SERVICE_CIDR[random.randrange(2, size - 1)])
            if candidate not in self.ips:
                self.ips.add(candidate)
                return candidate
        raise internal_error("failed to allocate a serviceIP: range is full")

    def node_port(self, service: Obj, index: int, requested: int, path: str | None = None) -> int:
        if requested:
            if requested not in NODE_PORT_RANGE:
                problem = (
                    "provided port is not in the valid range. The range of valid ports is "
                    f"{NODE_PORT_RANGE.start}-{NODE_PORT_RANGE.stop - 1}"
                )
            elif requested in self.node_ports:
                problem = "provided port is already allocated"
            else:
                self.node_ports.add(requested)
                return requested
            error = invalid(path or f"spec.ports[{index}].nodePort", requested, problem)
            raise invalid_object("", "Service", service["metadata"].get("name") or "", [error])
        free = [port for port in NODE_PORT_RANGE if port not in self.node_ports]
        if not free:
            raise internal_error("failed to allocate a nodePort: range is full")
        chosen = random.choice(free)
        self.node_ports.add(chosen)
        return chosen


def _init_node_ports(service: Obj, allocations: _Allocations) -> None:
    """initNodePorts: ports sharing a port number (TCP and UDP 53) share a node port."""
    by_port: dict[Any, int] = {}
    ports = service["spec"].get("ports") or []
    for index, port in enumerate(ports):
        number = port.get("port")
        shared = by_port.get(number)
        if shared is None:
            requested = next((p.get("nodePort") for p in ports if p.get("port") == number and p.get("nodePort")), 0)
            port["nodePort"] = by_port[number] = allocations.node_port(service, index, requested or 0)
        elif port.get("nodePort") and port["nodePort"] != shared:
            allocations.node_port(service, index, port["nodePort"])
        else:
            port["nodePort"] = shared


def _update_node_ports(old: Obj, service: Obj, allocations: _Allocations) -> None:
    """updateNodePorts: keep the old ones, allocate requested new ones and any left out."""
    old_numbers = {p.get("nodePort") for p in (old.get("spec") or {}).get("ports") or [] if p.get("nodePort")}
    allocations.node_ports -= old_numbers
    taken: set[int] = set()
    for index, port in enumerate(service["spec"].get("ports") or []):
        requested = port.get("nodePort") or 0
        if requested:
            if requested not in old_numbers and requested not in taken:
                allocations.node_port(service, index, requested)
            taken.add(requested)
            allocations.node_ports.add(requested)
        else:
            port["nodePort"] = allocations.node_port(service, index, 0)


def _allocate_health_check(service: Obj, allocations: _Allocations) -> None:
    spec = service["spec"]
    if _needs_health_check(spec):
        spec["healthCheckNodePort"] = allocations.node_port(
            service, 0, spec.get("healthCheckNodePort") or 0, "spec.healthCheckNodePort"
        )


def _set_cluster_ip(spec: dict[str, Any], ip: str) -> None:
    spec["clusterIP"] = ip
    spec["clusterIPs"] = [ip]


def _normalize_cluster_ips(old: Mapping[str, Any] | None, new: dict[str, Any]) -> None:
    """NormalizeClusterIPs: users manage clusterIP or clusterIPs; the other one follows."""
    spec = new.setdefault("spec", {})
    cluster_ip = spec.get("clusterIP") or ""
    if old is None:
        if cluster_ip and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [cluster_ip]
        return
    old_spec = old.get("spec") or {}
    if old_spec.get("clusterIPs") and not spec.get("clusterIPs") and old_spec.get("clusterIP") == cluster_ip:
        spec["clusterIPs"] = list(old_spec["clusterIPs"])
    if (old_spec.get("clusterIP") or "") != cluster_ip:
        same = list(old_spec.get("clusterIPs") or []) == list(spec.get("clusterIPs") or [])
        if old_spec.get("clusterIP") and not cluster_ip:
            if same:
                spec.pop("clusterIPs", None)
        elif same:
            spec["clusterIPs"] = [cluster_ip]


def _drop_type_dependent(old: Mapping[str, Any], new: dict[str, Any]) -> None:
    """dropTypeDependentFields: leaving NodePort/LoadBalancer or ClusterIP-ness clears what the user did not
    change on purpose."""
    old_spec, spec = old.get("spec") or {}, new["spec"]
    if old_spec.get("type") != "ExternalName" and spec.get("type") == "ExternalName":
        if old_spec.get("clusterIP") == spec.get("clusterIP") and old_spec.get("clusterIPs") == spec.get("clusterIPs"):
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        for field in ("ipFamilies", "ipFamilyPolicy"):
            if old_spec.get(field) == spec.get(field):
                spec.pop(field, None)
    if _needs_node_ports(old_spec) and not _needs_node_ports(spec):
        old_ports = [p.get("nodePort") for p in old_spec.get("ports") or []]
        new_ports = [p.get("nodePort") for p in spec.get("ports") or []]
        if old_ports == new_ports:
            for port in spec.get("ports") or []:
                port.pop("nodePort", None)
    if (
        _needs_health_check(old_spec)
        and not _needs_health_check(spec)
        and old_spec.get("healthCheckNodePort") == spec.get("healthCheckNodePort")
    ):
        spec.pop("healthCheckNodePort", None)


# --- the strategy -----------------------------------------------------------------------------------------------


class ServiceStrategy(Strategy):
    def default(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        """SetDefaults_Service (plus the fields later versions default)."""
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        if not spec.get("sessionAffinity"):
            spec["sessionAffinity"] = "None"
        if spec["sessionAffinity"] == "None":
            spec.pop("sessionAffinityConfig", None)
        elif spec["sessionAffinity"] == "ClientIP":
            config = spec.setdefault("sessionAffinityConfig", {})
            if isinstance(config, dict):
                client_ip = config.setdefault("clientIP", {})
                if isinstance(client_ip, dict) and client_ip.get("timeoutSeconds") is None:
                    client_ip["timeoutSeconds"] = DEFAULT_CLIENT_IP_TIMEOUT
        if not spec.get("type"):
            spec["type"] = "ClusterIP"
        for port in spec.get("ports") or []:
            if not isinstance(port, dict):
                continue
            if not port.get("protocol"):
                port["protocol"] = "TCP"
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
        if _needs_node_ports(spec) and not spec.get("externalTrafficPolicy"):
            spec["externalTrafficPolicy"] = "Cluster"
        if ctx.version.newer_than_emulated:
            if spec["type"] != "ExternalName":
                spec.setdefault("internalTrafficPolicy", "Cluster")
            if spec["type"] == "LoadBalancer":
                spec.setdefault("allocateLoadBalancerNodePorts", True)
        status = obj.get("status")
        if isinstance(status, dict):
            status.setdefault("loadBalancer", {})

    def prepare_for_create(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        obj["status"] = {"loadBalancer": {}}
        _normalize_cluster_ips(None, obj)
        if not ctx.version.newer_than_emulated:
            obj["spec"].pop("ipFamilies", None)
            obj["spec"].pop("ipFamilyPolicy", None)

    def validate(self, obj: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        """ValidateService, then (like the Service REST storage does after validating) the allocations."""
        errors = validate_service(obj)
        if errors:
            return errors
        spec = obj["spec"]
        allocations = _Allocations(ctx, None)
        if spec.get("type") != "ExternalName" and not is_headless(spec):
            _set_cluster_ip(spec, allocations.cluster_ip(obj, spec.get("clusterIP") or ""))
        if _needs_node_ports(spec) and spec.get("allocateLoadBalancerNodePorts", True) is not False:
            _init_node_ports(obj, allocations)
        _allocate_health_check(obj, allocations)
        _validate_traffic_combination(obj)
        self._ip_families(spec, ctx)
        return []

    @staticmethod
    def _ip_families(spec: dict[str, Any], ctx: WriteContext) -> None:
        """Since 1.21 (dual-stack beta) the registry records the families; single-stack IPv4 here."""
        if not ctx.version.newer_than_emulated or spec.get("type") == "ExternalName":
            return
        if is_headless(spec) and not spec.get("selector"):
            spec.setdefault("ipFamilyPolicy", "RequireDualStack")
            spec.setdefault("ipFamilies", ["IPv4", "IPv6"])
            return
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("ipFamilies", ["IPv4"])

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> None:
        new["status"] = old.get("status", {"loadBalancer": {}})
        _normalize_cluster_ips(old, new)
        _drop_type_dependent(old, new)

    def validate_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        errors = validate_object_meta_update(new["metadata"], old["metadata"])
        errors.extend(_validate_cluster_ip_change(old.get("spec") or {}, new.get("spec") or {}))
        errors.extend(validate_service(new))
        if errors:
            return errors
        old_spec, spec = old.get("spec") or {}, new["spec"]
        allocations = _Allocations(ctx, old["metadata"].get("uid"))
        if old_spec.get("type") == "ExternalName" and spec.get("type") != "ExternalName" and not is_headless(spec):
            _set_cluster_ip(spec, allocations.cluster_ip(new, spec.get("clusterIP") or ""))
        if _needs_node_ports(spec) and spec.get("allocateLoadBalancerNodePorts", True) is not False:
            _update_node_ports(old, new, allocations)
        if spec.get("type") != "LoadBalancer":
            new["status"] = {**(new.get("status") or {}), "loadBalancer": {}}
        if _needs_health_check(spec) and not spec.get("healthCheckNodePort"):
            _allocate_health_check(new, allocations)
        if _needs_node_ports(old_spec) and not _needs_node_ports(spec):
            spec.pop("externalTrafficPolicy", None)  # externalTrafficPolicyUpdate: ineffective without node ports
        _validate_traffic_combination(new)
        self._ip_families(spec, ctx)
        return []

    def prepare_for_status_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> None:
        new["spec"] = old.get("spec", {})

    def validate_status_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        errors = validate_object_meta_update(new["metadata"], old["metadata"])
        ingress = ((new.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        for index, entry in enumerate(ingress):
            ip = (entry or {}).get("ip")
            if ip and _ip(ip) is None:
                errors.append(invalid(f"status.loadBalancer.ingress[{index}].ip", ip, "must be a valid IP address"))
            hostname = (entry or {}).get("hostname")
            if hostname:
                errors.extend(
                    invalid(f"status.loadBalancer.ingress[{index}].hostname", hostname, msg)
                    for msg in dns1123_subdomain(hostname)
                )
        return errors

    def zero_object(self) -> dict[str, Any]:
        return {"metadata": {"creationTimestamp": None}, "spec": {}, "status": {"loadBalancer": {}}}


def _validate_cluster_ip_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldError]:
    """validateUpgradeDowngradeClusterIPs, single-stack: the primary address may not change once set."""
    if "ExternalName" in (old.get("type"), new.get("type")):
        return []
    if is_headless(old) and is_headless(new):
        return []
    old_ips, new_ips = list(old.get("clusterIPs") or []), list(new.get("clusterIPs") or [])
    if len(old_ips) == len(new_ips):
        return [
            invalid(f"spec.clusterIPs[{index}]", go_strings(new_ips), "may not change once set")
            for index, ip in enumerate(old_ips)
            if ip != new_ips[index]
        ]
    if len(old_ips) > len(new_ips):
        errors = []
        if not new_ips:
            errors.append(invalid("spec.clusterIPs[0]", go_strings(new_ips), "primary clusterIP can not be unset"))
        elif new_ips[0] != old_ips[0]:
            errors.append(invalid("spec.clusterIPs[0]", go_strings(new_ips), "may not change once set"))
        return errors
    if old_ips and new_ips[0] != old_ips[0]:
        return [invalid("spec.clusterIPs[0]", go_strings(new_ips), "may not change once set")]
    return []


SERVICE = Kind(
    group="",
    version="v1",
    resource="services",
    kind="Service",
    namespaced=True,
    strategy=ServiceStrategy(),
    short_names=("svc",),
    categories=("all",),
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    name_validator=_dns1035_name,
    status_subresource=True,
    storage_version_hash="0/CO1lhkEBI=",
    subresources=(Subresource("status", "Service", ("get", "patch", "update")),),
)
KINDS: tuple[Kind, ...] = (SERVICE,)
