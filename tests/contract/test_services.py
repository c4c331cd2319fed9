"""Services: defaults, ClusterIP and NodePort allocation, validation and the updates that move between types.

The two backends allocate from different ranges (the real plane from 10.96.0.0/24, the emulator from
10.96.0.0/12) and at random, so addresses and node ports are compared as placeholders; their ranges are
asserted on each backend.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.contract.conftest import Namespace

pytestmark = pytest.mark.contract

SERVICE_RANGE = ipaddress.ip_network("10.96.0.0/12")
_IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?:/\d+)?\b")
_NODE_PORT_VALUE = re.compile(r"\b3\d{4}(?=: provided port)")


def masked(value: Any, key: str = "") -> Any:
    """Allocated addresses and node ports as placeholders ("None" stays: it is not allocated)."""
    if isinstance(value, dict):
        return {k: masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, key) for v in value]
    if key in ("clusterIP", "clusterIPs") and value != "None":
        return "<ip>"
    if key in ("nodePort", "healthCheckNodePort"):
        return "<nodePort>"
    if isinstance(value, str):
        value = _NODE_PORT_VALUE.sub("<nodePort>", value)
        return _IPV4.sub(lambda m: "<cidr>" if "/" in m.group(0) else "<ip>", value)
    return value


def managed_without_ports(service: dict[str, Any]) -> list[dict[str, Any]]:
    """managedFields minus spec.ports, whose keys the emulator spells differently (see the README)."""
    entries = []
    for entry in service["metadata"].get("managedFields") or []:
        fields = {**entry["fieldsV1"]}
        if "f:spec" in fields:
            fields["f:spec"] = {k: v for k, v in fields["f:spec"].items() if k != "f:ports"}
        entries.append({**entry, "fieldsV1": fields})
    return entries


def view(obs: Any, service: dict[str, Any]) -> dict[str, Any]:
    body = {**service, "metadata": {**service["metadata"], "managedFields": managed_without_ports(service)}}
    return masked(obs(body))


def allocated(service: dict[str, Any]) -> dict[str, Any]:
    """Facts about what was allocated, checked on each backend."""
    spec = service["spec"]
    ip = spec.get("clusterIP")
    return {
        "ip_in_range": ip in (None, "None") or ipaddress.ip_address(ip) in SERVICE_RANGE,
        "ips_match": spec.get("clusterIPs", [ip] if ip else None) == ([ip] if ip else None),
        "node_ports": [30000 <= p["nodePort"] <= 32767 for p in spec.get("ports") or [] if "nodePort" in p],
    }


SERVICES = [
    {"metadata": {"name": "plain"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
    {
        "metadata": {"name": "node-port"},
        "spec": {
            "type": "NodePort",
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http"},
                {"name": "dns", "port": 53, "protocol": "UDP"},
            ],
        },
    },
    {
        "metadata": {"name": "balancer"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 443, "targetPort": 8443}], "sessionAffinity": "ClientIP"},
    },
    {
        "metadata": {"name": "headless"},
        "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 80}]},
    },
    {"metadata": {"name": "external"}, "spec": {"type": "ExternalName", "externalName": "example.com"}},
]


def test_service_defaults_and_allocation(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "svc") as ns:
            out: dict[str, Any] = {}
            for body in SERVICES:
                created = helpers.call(core.create_namespaced_service, ns, body)
                typed = core.read_namespaced_service(body["metadata"]["name"], ns)
                assert typed.spec.type == created["spec"]["type"]
                out[body["metadata"]["name"]] = {"created": view(obs, created), "allocated": allocated(created)}
            listed = helpers.call(core.list_namespaced_service, ns)
            out["listed"] = sorted(item["metadata"]["name"] for item in listed["items"])
            return out

    result = contract.run(scenario)
    for name in ("plain", "node-port", "balancer", "headless", "external"):
        facts = result[name]["allocated"]
        assert facts["ip_in_range"] and facts["ips_match"] and all(facts["node_ports"]), name
    plain = result["plain"]["created"]
    assert plain["spec"] == {
        "ports": [{"protocol": "TCP", "port": 80, "targetPort": 80}],
        "selector": {"app": "web"},
        "clusterIP": "<ip>",
        "clusterIPs": ["<ip>"],
        "type": "ClusterIP",
        "sessionAffinity": "None",
    }
    assert plain["status"] == {"loadBalancer": {}}
    node_port = result["node-port"]["created"]["spec"]
    assert node_port["externalTrafficPolicy"] == "Cluster"
    assert [p["targetPort"] for p in node_port["ports"]] == ["http", 53]
    assert result["node-port"]["allocated"]["node_ports"] == [True, True]
    balancer = result["balancer"]["created"]
    assert balancer["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    assert balancer["status"] == {"loadBalancer": {}}
    assert result["headless"]["created"]["spec"]["clusterIPs"] == ["None"]
    assert "clusterIP" not in result["external"]["created"]["spec"]
    assert result["listed"] == ["balancer", "external", "headless", "node-port", "plain"]


INVALID_SERVICES = [
    {
        "metadata": {"name": "ports"},
        "spec": {
            "ports": [
                {"port": 80, "nodePort": 30080},
                {"port": 0, "protocol": "ICMP", "targetPort": "Bad_Name", "name": "Bad"},
                {"port": 70000, "name": "a"},
                {"port": 80, "name": "a"},
            ],
            "type": "Weird",
            "sessionAffinity": "Sticky",
        },
    },
    {"metadata": {"name": "no-ports"}, "spec": {"clusterIP": "abc", "ports": []}},
    {
        "metadata": {"name": "balancer"},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "None",
            "ports": [{"port": 10250}],
            "externalTrafficPolicy": "Sometimes",
        },
    },
    {
        "metadata": {"name": "external"},
        "spec": {"type": "ExternalName", "externalName": "Bad_Name", "clusterIP": "10.96.0.5"},
    },
    {
        "metadata": {"name": "dupes"},
        "spec": {
            "ports": [{"port": 80, "protocol": "UDP"}, {"port": 80, "protocol": "UDP", "name": "x"}],
            "selector": {"app": "-bad-"},
            "externalIPs": ["1.2.3"],
        },
    },
    {"metadata": {"name": "Bad-Name"}, "spec": {"ports": [{"port": 80}]}},
    {"metadata": {"name": "range"}, "spec": {"clusterIP": "1.2.3.4", "ports": [{"port": 80}]}},
    {"metadata": {"name": "low-port"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}},
]


def test_service_validation_and_allocation_errors(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "svc-invalid") as ns:
            path = f"/api/v1/namespaces/{ns}/services"
            out = helpers.post_each(backend, path, INVALID_SERVICES, lambda answer: masked(obs(answer)))
            first = helpers.call(
                core.create_namespaced_service,
                ns,
                {"metadata": {"name": "first"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}},
            )
            taken_ip, taken_port = first["spec"]["clusterIP"], first["spec"]["ports"][0]["nodePort"]
            for name, spec in {
                "same-ip": {"clusterIP": taken_ip, "ports": [{"port": 80}]},
                "same-port": {"type": "NodePort", "ports": [{"port": 81, "nodePort": taken_port}]},
            }.items():
                with pytest.raises(ApiException) as caught:
                    core.create_namespaced_service(ns, {"metadata": {"name": name}, "spec": spec})
                out[name] = masked(obs(helpers.status_of(caught.value)))
            return out

    result = contract.run(scenario)
    for name, answer in result.items():
        assert answer["http"] == 422 and answer["body"]["reason"] == "Invalid", name
    assert [c["field"] for c in result["ports"]["body"]["details"]["causes"]][-1] == "spec.ports[3]"
    assert result["same-ip"]["body"]["message"] == (
        'Service "same-ip" is invalid: spec.clusterIPs: Invalid value: []string{"<ip>"}: failed to allocated '
        "ip:<ip> with error:provided IP is already allocated"
    )
    assert result["same-port"]["body"]["message"] == (
        'Service "same-port" is invalid: spec.ports[0].nodePort: Invalid value: <nodePort>: provided port is already '
        "allocated"
    )
    assert result["range"]["body"]["message"].endswith(
        "provided IP is not in the valid range. The range of valid IPs is <cidr>"
    )


def test_service_updates_between_types(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "svc-update") as ns:
            created = helpers.call(
                core.create_namespaced_service,
                ns,
                {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
            )
            to_node_port = helpers.call(core.patch_namespaced_service, "web", ns, {"spec": {"type": "NodePort"}})
            relabelled = helpers.call(core.patch_namespaced_service, "web", ns, {"spec": {"selector": {"app": "web2"}}})
            back = helpers.call(core.patch_namespaced_service, "web", ns, {"spec": {"type": "ClusterIP"}})
            without_ip = {
                **back,
                "spec": {k: v for k, v in back["spec"].items() if k not in ("clusterIP", "clusterIPs")},
            }
            with pytest.raises(ApiException) as unset:
                core.replace_namespaced_service("web", ns, without_ip)
            deleted = helpers.call(core.delete_namespaced_service, "web", ns)
            return {
                "created_ip_kept": to_node_port["spec"]["clusterIP"] == created["spec"]["clusterIP"]
                and back["spec"]["clusterIP"] == created["spec"]["clusterIP"],
                "to_node_port": masked(obs(to_node_port["spec"])),
                "node_port_allocated": allocated(to_node_port)["node_ports"],
                "relabelled": relabelled["spec"]["selector"],
                "back": masked(obs(back["spec"])),
                "unset": masked(obs(helpers.status_of(unset.value))),
                "deleted": masked(obs(deleted)),
            }

    result = contract.run(scenario)
    assert result["created_ip_kept"] is True and result["node_port_allocated"] == [True]
    assert result["to_node_port"]["externalTrafficPolicy"] == "Cluster"
    assert result["relabelled"] == {"app": "web2"}
    assert "externalTrafficPolicy" not in result["back"] and "nodePort" not in result["back"]["ports"][0]
    assert result["unset"]["body"]["message"] == (
        'Service "web" is invalid: spec.clusterIPs[0]: Invalid value: []string(nil): primary clusterIP can not be unset'
    )
    assert result["deleted"]["status"] == "Success" and result["deleted"]["details"]["kind"] == "services"
