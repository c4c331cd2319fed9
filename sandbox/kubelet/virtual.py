"""Virtual nodes (the ACK Virtual Node add-on's `virtual-kubelet-<zone>`) and what they do to their pods.

A virtual node carries the labels and the NoSchedule taint the add-on gives it; a pod bound to one becomes an
ACS instance when it asks for ACS compute (label `alibabacloud.com/acs: "true"`, or a compute class) and an ECI
instance otherwise, and the pod's annotations say which, with the instance spec its resources rounded up to.
"""

from __future__ import annotations

import math
import re
import secrets
import string
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ack_compute.sandbox.kube.quantity import parse_quantity

VIRTUAL_NODE_PREFIX = "virtual-kubelet-"
VIRTUAL_TAINT = {"key": "virtual-kubelet.io/provider", "value": "alibabacloud", "effect": "NoSchedule"}
# A virtual node stands for a zone's pool, so its capacity is large. It offers nvidia.com/gpu because ACS GPU
# pods, which Alibaba's docs declare with nvidia.com/gpu limits, are placed on it by the default scheduler, whose
# resource filter counts extended resources; the figures are the sandbox's, not published ones.
VIRTUAL_CAPACITY = {
    "cpu": "1000",
    "memory": "4Ti",
    "pods": "1000",
    "ephemeral-storage": "10Ti",
    "nvidia.com/gpu": "1000",
}
ACS_LABEL = "alibabacloud.com/acs"
COMPUTE_CLASS_LABEL = "alibabacloud.com/compute-class"
ECI_USE_SPECS = "k8s.aliyun.com/eci-use-specs"
EPHEMERAL_STORAGE = "30Gi"
# With no resources at all, an ACS or ECI pod gets 2 vCPU and 4 GiB; a cpu without memory gets 2 GiB per vCPU.
DEFAULT_CPU, DEFAULT_MEMORY_PER_CPU = Decimal(2), Decimal(2)
# ACS general-purpose sizes (vCPU), each allowing 1 to 8 GiB per vCPU in whole GiB (the small ones in halves).
_CPUS = (0.25, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 10, 12, 14, 16, 24, 32, 48, 64)
_SMALL_MEMORY = {0.25: (0.5, 1, 2), 0.5: (1, 2, 3, 4)}
_ID_ALPHABET = string.ascii_lowercase + string.digits


def zone_of(node_name: str) -> str:
    return node_name.removeprefix(VIRTUAL_NODE_PREFIX)


def region_of(zone: str) -> str:
    """cn-hangzhou-k -> cn-hangzhou, ap-southeast-1a -> ap-southeast-1."""
    if re.search(r"-[a-z]$", zone):
        return zone[:-2]
    if re.search(r"\d[a-z]$", zone):
        return zone[:-1]
    return zone


def virtual_node_labels(zone: str, region: str) -> dict[str, str]:
    """The labels the add-on puts on its node (seed 003)."""
    return {
        "kubernetes.io/role": "agent",
        "service.alibabacloud.com/exclude-node": "true",
        "topology.diskplugin.csi.alibabacloud.com/zone": zone,
        "topology.kubernetes.io/region": region,
        "topology.kubernetes.io/zone": zone,
        "failure-domain.beta.kubernetes.io/region": region,
        "failure-domain.beta.kubernetes.io/zone": zone,
        "type": "virtual-kubelet",
        "alibabacloud.com/virtual-node": "true",
    }


def _format(number: float) -> str:
    return f"{number:g}"


def _pod_resources(pod: Mapping[str, Any]) -> tuple[Decimal | None, Decimal | None]:
    """vCPU and GiB the pod asks for: per container the larger of request and limit, summed (init containers
    run one at a time, so the largest of them counts)."""

    def amount(container: Mapping[str, Any], name: str) -> Decimal | None:
        resources = container.get("resources") or {}
        given = ((resources.get("requests") or {}).get(name), (resources.get("limits") or {}).get(name))
        values = [parse_quantity(value) for value in given if value is not None]
        return max(values) if values else None

    spec = pod.get("spec") or {}
    totals: list[Decimal | None] = []
    for name, unit in (("cpu", Decimal(1)), ("memory", Decimal(2**30))):
        main = [a for a in (amount(c, name) for c in spec.get("containers") or []) if a is not None]
        init = [a for a in (amount(c, name) for c in spec.get("initContainers") or []) if a is not None]
        if not main and not init:
            totals.append(None)
            continue
        totals.append(max(sum(main, Decimal(0)), max(init, default=Decimal(0))) / unit)
    return totals[0], totals[1]


def instance_spec(pod: Mapping[str, Any]) -> tuple[float, float]:
    """The smallest supported (vCPU, GiB) that covers what the pod asks for."""
    cpu, memory = _pod_resources(pod)
    if cpu is None and memory is None:
        cpu, memory = DEFAULT_CPU, DEFAULT_CPU * DEFAULT_MEMORY_PER_CPU
    elif memory is None:
        memory = (cpu or DEFAULT_CPU) * DEFAULT_MEMORY_PER_CPU
    cpu = cpu or Decimal(0)
    for size in _CPUS:
        if Decimal(str(size)) < cpu:
            continue
        options = _SMALL_MEMORY.get(size) or tuple(range(max(1, math.ceil(size)), int(size * 8) + 1))
        fitting = [m for m in options if Decimal(str(m)) >= memory]
        if fitting:
            return size, fitting[0]
    return _CPUS[-1], float(_CPUS[-1] * 8)


def _instance_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(20))


def wants_acs(pod: Mapping[str, Any]) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return labels.get(ACS_LABEL) == "true" or bool(labels.get(COMPUTE_CLASS_LABEL))


def provider_annotations(pod: Mapping[str, Any], region: str, stream_port: int) -> dict[str, str]:
    """What the virtual node writes on a pod it takes: an ACS instance's annotations, or an ECI one's."""
    cpu, memory = instance_spec(pod)
    common = {
        "ProviderCreate": "done",
        "kubernetes.io/pod-stream-port": str(stream_port),
        "topology.kubernetes.io/region": region,
    }
    if wants_acs(pod):
        return {
            **common,
            "alibabacloud.com/instance-id": _instance_id("acs-"),
            "alibabacloud.com/pod-use-spec": f"{_format(cpu)}-{_format(memory)}Gi",
            "alibabacloud.com/pod-ephemeral-storage": EPHEMERAL_STORAGE,
            "alibabacloud.com/schedule-result": "finished",
            "kubernetes.io/resource-type": "serverless",
            "network.alibabacloud.com/enable-dns-cache": "false",
        }
    wanted = ((pod.get("metadata") or {}).get("annotations") or {}).get(ECI_USE_SPECS, "")
    first = wanted.split(",")[0].strip()
    spec = first if first.startswith("ecs.") else f"{cpu:.1f}-{memory:.1f}Gi"
    return {
        **common,
        "k8s.aliyun.com/eci-instance-id": _instance_id("eci-"),
        "k8s.aliyun.com/eci-instance-spec": spec,
    }
