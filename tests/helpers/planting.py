"""Planting a network in the sandbox, as someone else would have made it: a VPC and its vSwitches."""

from __future__ import annotations

from ack_compute.sandbox import SandboxCloud


def plant_network(cloud: SandboxCloud, name: str, cidr: str, *switches: tuple[str, str]) -> tuple[str, list[str]]:
    """A VPC `name` of `cidr` with one vSwitch per (zone, cidr); its id and theirs, in that order."""
    vpc_id = cloud.plant_vpc(name, cidr_block=cidr)
    return vpc_id, [cloud.plant_vswitch(vpc_id, zone_id=zone, cidr_block=block) for zone, block in switches]
