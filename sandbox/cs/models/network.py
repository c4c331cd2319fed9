"""Where a cluster may live: its region, its vSwitches, and pod and service CIDRs apart from everything else."""

from __future__ import annotations

from ack_compute.sandbox import cidr
from ack_compute.sandbox.cs.exceptions import cs_invalid
from ack_compute.sandbox.cs.models.bodies import CreateClusterIn
from ack_compute.sandbox.world import (
    VSwitch,
    World,
)

CONTAINER_CIDR_PREFIX = (8, 24)
SERVICE_CIDR_PREFIX = (16, 24)
DEFAULT_SERVICE_CIDR = "172.21.0.0/20"


def check_region(region_id: str | None, world: World) -> str:
    if not region_id:
        raise cs_invalid("region_id is required")
    if region_id not in world.catalog.regions:
        raise cs_invalid(f"region_id {region_id} is not a region ACK serves")
    return region_id


def check_vswitch(world: World, vswitch_id: str, vpc_id: str, field: str) -> VSwitch:
    vswitch = world.live_vswitch(vswitch_id)
    if vswitch is None or vswitch.vpc_id != vpc_id:
        raise cs_invalid(f"{field}: vswitch {vswitch_id} does not exist in vpc {vpc_id}")
    if vswitch.status != "Available":
        raise cs_invalid(f"{field}: vswitch {vswitch_id} is {vswitch.status}, wait until it is Available")
    return vswitch


def cluster_cidrs(
    body: CreateClusterIn, profile: str, terway: bool, vpc_id: str, vpc_block: cidr.IPv4Network, world: World
) -> tuple[str | None, str]:
    """Pod and service CIDRs: private, apart from each other, the VPC and every other cluster in the VPC."""
    neighbours = [
        block
        for other in world.active_clusters()
        if other.vpc_id == vpc_id
        for text in (other.container_cidr, other.service_cidr)
        if (block := cidr.parse(text)) is not None
    ]
    container = None
    if body.container_cidr is not None or (profile == "Default" and not terway):
        if body.container_cidr is None:
            raise cs_invalid("container_cidr is required for Flannel clusters (no pod_vswitch_ids)")
        container = cidr.parse(body.container_cidr)
        if container is None or not cidr.private(container, *CONTAINER_CIDR_PREFIX):
            raise cs_invalid(
                f"container_cidr {body.container_cidr} must be a private block (10.0.0.0/8, 172.16.0.0/12, "
                f"192.168.0.0/16 or a subnet) with a mask of /{CONTAINER_CIDR_PREFIX[0]} to /{CONTAINER_CIDR_PREFIX[1]}"
            )
    if body.service_cidr is None and profile == "Default":
        raise cs_invalid("service_cidr is required")
    service_text = body.service_cidr or DEFAULT_SERVICE_CIDR
    service = cidr.parse(service_text)
    if service is None or not cidr.private(service, *SERVICE_CIDR_PREFIX):
        raise cs_invalid(
            f"service_cidr {service_text} must be a private block with a mask of "
            f"/{SERVICE_CIDR_PREFIX[0]} to /{SERVICE_CIDR_PREFIX[1]}"
        )
    if container is not None:
        if container.overlaps(vpc_block):
            raise cs_invalid(f"container_cidr {container} overlaps the VPC CIDR block {vpc_block}")
        if container.overlaps(service):
            raise cs_invalid(f"container_cidr {container} overlaps service_cidr {service}")
        if cidr.overlaps_any(container, neighbours):
            raise cs_invalid(f"container_cidr {container} overlaps the CIDR of another cluster in the VPC")
    if service.overlaps(vpc_block):
        raise cs_invalid(f"service_cidr {service} overlaps the VPC CIDR block {vpc_block}")
    if cidr.overlaps_any(service, neighbours):
        raise cs_invalid(f"service_cidr {service} overlaps the CIDR of another cluster in the VPC")
    return (str(container) if container is not None else None), str(service)
