"""VPC and vSwitch rules: CIDR sizes and limits, finding a live VPC, readiness, and which vSwitches clusters use."""

from __future__ import annotations

from ack_compute.sandbox.errors import ApiError
from ack_compute.sandbox.world import Vpc, VSwitch, World

DEFAULT_VPC_CIDR = "172.16.0.0/12"
VPC_PREFIX = (8, 28)
VSWITCH_PREFIX = (16, 29)
MAX_VSWITCHES_PER_VPC = 150
MAX_VPC_IDS = 20


def vswitches_in_use(world: World) -> set[str]:
    """vSwitches that a not-yet-deleted cluster or one of its node pools names."""
    used: set[str] = set()
    for cluster in world.active_clusters():
        used.update(cluster.vswitch_ids, cluster.pod_vswitch_ids)
        for pool in cluster.nodepools:
            if pool.state != "deleted":
                used.update(pool.vswitch_ids)
    return used


def mark_available(resource: Vpc | VSwitch) -> None:
    if resource.deleted is None:
        resource.status = "Available"


def find_vpc(world: World, vpc_id: str, region_id: str | None) -> Vpc:
    vpc = world.live_vpc(vpc_id)
    if vpc is None or region_id not in (None, vpc.region_id):
        raise ApiError(404, "InvalidVpcId.NotFound", "Specified VPC does not exist.")
    return vpc
