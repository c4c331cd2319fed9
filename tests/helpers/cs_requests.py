"""CreateCluster bodies for the real CS SDK as the sandbox tests send them: the fields they share, in one place."""

from __future__ import annotations

from typing import Any

from alibabacloud_cs20151215 import models as cs_models

REGION = "cn-hangzhou"


def worker_pool(name: str, scaling: cs_models.NodepoolScalingGroup) -> cs_models.Nodepool:
    """A CreateCluster node pool called `name`: the SDK nests the name and the scaling group in two models."""
    return cs_models.Nodepool(nodepool_info=cs_models.NodepoolNodepoolInfo(name=name), scaling_group=scaling)


def managed_cluster_request(
    name: str, vpc_id: str, vswitch_ids: list[str], nodepools: list[cs_models.Nodepool], /, **overrides: Any
) -> cs_models.CreateClusterRequest:
    """A ManagedKubernetes cluster in cn-hangzhou on the given network with the usual pod and service CIDRs, so a test
    writes only the fields it is about (`overrides`, by the SDK's names, win: `name=` or `nodepools=` too)."""
    fields: dict[str, Any] = {
        "name": name,
        "region_id": REGION,
        "cluster_type": "ManagedKubernetes",
        "vpcid": vpc_id,
        "vswitch_ids": vswitch_ids,
        "container_cidr": "172.20.0.0/16",
        "service_cidr": "172.21.0.0/20",
        "nodepools": nodepools,
    }
    return cs_models.CreateClusterRequest(**(fields | overrides))
