"""The CreateCluster spec for a plan: what ensure_cluster sends, apart from how it decides and waits.

cloud/cs.py's ClusterSpec says which fields exist and why (no deprecated field, nothing empty on the wire).
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from pydantic import SecretStr

from ack_compute.cloud.cs import AddonSpec, ClusterSpec, DataDiskSpec, NodePoolSpec, ScalingGroupSpec
from ack_compute.tools.network import NetworkChoice
from ack_compute.tools.ownership import NAME_PREFIX
from ack_compute.tools.plans import ClusterPlan, ServerlessPlan


def login_password(length: int = 20) -> str:
    """Random, with the three character classes CreateCluster demands; never returned or logged."""
    alphabet = string.ascii_letters + string.digits + "!@#%^*_+-="
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        classes = [
            any(c.islower() for c in candidate),
            any(c.isupper() for c in candidate),
            any(c.isdigit() for c in candidate),
            any(not c.isalnum() for c in candidate),
        ]
        if sum(classes) >= 3:
            return candidate


def create_spec(
    name: str,
    region: str,
    plan: ClusterPlan | ServerlessPlan,
    net: NetworkChoice,
    tags: dict[str, str],
    client_token: str,
    security_group_id: str | None = None,
) -> ClusterSpec:
    """The CreateCluster spec (cloud/cs.py says which fields and why). Without a given security group ACK
    creates an enterprise one and releases it with the cluster, so nothing is left to clean up for it."""
    # What a managed and a Serverless cluster both send: edition, place, network, endpoint, idempotency.
    both: dict[str, Any] = {
        "name": name,
        "cluster_spec": "ack.pro.small" if plan.edition == "pro" else "ack.standard",
        "region_id": region,
        "vpcid": net.vpc_id,
        "vswitch_ids": [net.vswitch_id],
        "service_cidr": net.service_cidr,
        "snat_entry": plan.new_vpc_with_snat,
        "endpoint_public_access": True,
        "security_group_id": security_group_id,
        "client_token": client_token,
        "tags": tags,
    }
    if isinstance(plan, ServerlessPlan):
        return _serverless(both)
    disk = plan.system_disk
    pool = NodePoolSpec(
        name=f"{NAME_PREFIX}default",
        scaling_group=ScalingGroupSpec(
            vswitch_ids=[net.vswitch_id],
            instance_types=plan.instance_types,
            desired_size=plan.node_count,
            system_disk_category=disk.category,
            system_disk_size=disk.size_gib,
            system_disk_performance_level=disk.performance_level,
            data_disks=[
                DataDiskSpec(category=d.category, size=d.size_gib, performance_level=d.performance_level)
                for d in plan.data_disks
            ],
            login_password=SecretStr(login_password()),
        ),
    )
    return ClusterSpec(
        **both,
        container_cidr=net.container_cidr,
        is_enterprise_security_group=None if security_group_id else True,
        nodepools=[pool],
    )


def _serverless(both: dict[str, Any]) -> ClusterSpec:
    """CreateCluster for ACK Serverless (the documented body of "create an ACK Serverless cluster"):
    profile Serverless, no node pools, no pod CIDR (pods take vSwitch IPs, one ENI each), ack-virtual-node
    built in. Without a given security group ACK creates one for the pods and releases it with the cluster;
    `is_enterprise_security_group` is not a Serverless field, so it is not sent. CoreDNS is asked for as the
    `coredns` add-on (the deprecated `service_discovery_types` was the old way) because the API's default
    is no in-cluster service discovery at all."""
    return ClusterSpec(**both, profile="Serverless", addons=[AddonSpec(name="coredns")])
