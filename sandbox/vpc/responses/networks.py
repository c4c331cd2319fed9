"""VPC (RPC, 2016-04-28): CreateVpc, DescribeVpcs, CreateVSwitch, DescribeVSwitches, DeleteVSwitch, DeleteVpc.

VPCs and vSwitches start Pending and turn Available shortly after; deletion is refused with the real
DependencyViolation codes while anything still lives inside.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ack_compute.sandbox import cidr, ids
from ack_compute.sandbox.errors import ApiError
from ack_compute.sandbox.lifecycle import VPC_READY_SECONDS, VSWITCH_READY_SECONDS
from ack_compute.sandbox.params import RpcParams, id_list, page, paged, required, rpc_region
from ack_compute.sandbox.router import ApiRequest
from ack_compute.sandbox.state import SandboxState
from ack_compute.sandbox.tagging import described, rpc_tags, tag_filter
from ack_compute.sandbox.vpc.models.networks import (
    DEFAULT_VPC_CIDR,
    MAX_VPC_IDS,
    MAX_VSWITCHES_PER_VPC,
    VPC_PREFIX,
    VSWITCH_PREFIX,
    find_vpc,
    mark_available,
    vswitches_in_use,
)
from ack_compute.sandbox.world import Tag, Vpc, VSwitch, World

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 50


def create_vpc(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    params = request.params
    region_id = _region(params, state, required=True)
    assert region_id is not None
    block = cidr.parse(params.text("CidrBlock", DEFAULT_VPC_CIDR))
    if block is None or not cidr.private(block, *VPC_PREFIX):
        raise ApiError(400, "InvalidParameter", "Specified CIDR block is not valid")
    name, description, tags = _labels(params, "VpcName", "InvalidVpcName", "InvalidVpcDiscription", "VPC")
    world = state.world
    token = params.text("ClientToken")
    with world.lock:
        if (answer := world.replay("CreateVpc", token)) is not None:
            return answer
        vpc = Vpc(
            vpc_id=ids.vpc_id(region_id),
            region_id=region_id,
            cidr_block=str(block),
            name=name,
            description=description,
            vrouter_id=ids.vrouter_id(region_id),
            route_table_id=ids.route_table_id(region_id),
            resource_group_id=params.text("ResourceGroupId") or ids.resource_group_id(),
            tags=tags,
            created=world.clock.now(),
        )
        world.vpcs[vpc.vpc_id] = vpc
        state.lifecycle.network_ready_later(vpc.vpc_id, VPC_READY_SECONDS, lambda: mark_available(vpc))
        return world.remember(
            "CreateVpc",
            token,
            {
                "VpcId": vpc.vpc_id,
                "VRouterId": vpc.vrouter_id,
                "RouteTableId": vpc.route_table_id,
                "ResourceGroupId": vpc.resource_group_id,
            },
        )


def describe_vpcs(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    params = request.params
    region_id = _region(params, state, required=True)
    number, size = page(params, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    wanted_ids = id_list(params.text("VpcId"))
    if len(wanted_ids) > MAX_VPC_IDS:
        raise ApiError(400, "InvalidParameter", "The number of VpcId exceeds 20.")
    name, wanted_tags = params.text("VpcName"), tag_filter(params)
    world = state.world
    with world.lock:
        found = described(world.vpcs.values(), "vpc_id", wanted_ids, wanted_tags, region_id=region_id, name=name)
        return paged(found, number, size, lambda vpc: _vpc_view(world, vpc), "Vpcs", "Vpc")


def create_vswitch(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    params = request.params
    region_id = _region(params, state, required=False)
    vpc_id = required(params, "VpcId")
    zone_id = required(params, "ZoneId")
    block_text = required(params, "CidrBlock")
    name, description, tags = _labels(
        params, "VSwitchName", "InvalidVSwitchName", "InvalidVSwitchDiscription", "virtual switch"
    )
    world = state.world
    token = params.text("ClientToken")
    with world.lock:
        if (answer := world.replay("CreateVSwitch", token)) is not None:
            return answer
        vpc = find_vpc(world, vpc_id, region_id)
        if vpc.status != "Available":
            raise _incorrect_vpc_status()
        if zone_id not in state.catalog.regions[vpc.region_id].zones:
            raise ApiError(404, "InvalidZoneId.NotFound", "Specified zone does not exist.")  # CreateVSwitch error table
        block = cidr.parse(block_text)
        vpc_block = cidr.IPv4Network(vpc.cidr_block)
        low, high = VSWITCH_PREFIX
        if block is None or not low <= block.prefixlen <= high or not block.subnet_of(vpc_block):
            raise ApiError(400, "InvalidParameter", "Specified CIDR block is not valid in VPC.")
        siblings = [v for v in world.vswitches.values() if v.vpc_id == vpc_id and v.deleted is None]
        if cidr.overlaps_any(block, (cidr.IPv4Network(sibling.cidr_block) for sibling in siblings)):
            raise ApiError(400, "InvalidCidrBlock.Overlapped", "Specified CIDR block overlapped with other subnets.")
        if len(siblings) >= MAX_VSWITCHES_PER_VPC:
            raise ApiError(400, "QuotaExceeded.VSwitch", "Virtual switch quota exceeded.")
        vswitch = VSwitch(
            vswitch_id=ids.vswitch_id(vpc.region_id),
            vpc_id=vpc_id,
            region_id=vpc.region_id,
            zone_id=zone_id,
            cidr_block=str(block),
            name=name,
            description=description,
            tags=tags,
            created=world.clock.now(),
        )
        world.vswitches[vswitch.vswitch_id] = vswitch
        state.lifecycle.network_ready_later(vswitch.vswitch_id, VSWITCH_READY_SECONDS, lambda: mark_available(vswitch))
        return world.remember("CreateVSwitch", token, {"VSwitchId": vswitch.vswitch_id})


def describe_vswitches(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    params = request.params
    region_id = _region(params, state, required=False)
    number, size = page(params, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    wanted_ids = id_list(params.text("VSwitchId"))
    equal = {"vpc_id": params.text("VpcId"), "zone_id": params.text("ZoneId"), "name": params.text("VSwitchName")}
    wanted_tags = tag_filter(params)
    world = state.world
    with world.lock:
        found = described(world.vswitches.values(), "vswitch_id", wanted_ids, wanted_tags, region_id=region_id, **equal)
        return paged(found, number, size, lambda vswitch: _vswitch_view(world, vswitch), "VSwitches", "VSwitch")


def delete_vswitch(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    params = request.params
    region_id = _region(params, state, required=False)
    vswitch_id = required(params, "VSwitchId")
    world = state.world
    with world.lock:
        vswitch = world.live_vswitch(vswitch_id)
        if vswitch is None or region_id not in (None, vswitch.region_id):
            raise ApiError(404, "InvalidVSwitchId.NotFound", "Specified virtual switch does not exist.")
        if vswitch.status != "Available":
            raise ApiError(400, "IncorrectVSwitchStatus", "vpc subnet status not working.")
        if vswitch.used_ips or vswitch_id in vswitches_in_use(world):
            raise ApiError(400, "DependencyViolation", "Specified object has dependent resources.")
        world.cancel(vswitch_id)
        vswitch.deleted = world.clock.now()
    return {}


def delete_vpc(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    params = request.params
    region_id = _region(params, state, required=False)
    vpc_id = required(params, "VpcId")
    world = state.world
    with world.lock:
        vpc = find_vpc(world, vpc_id, region_id)
        if vpc.status != "Available":
            raise _incorrect_vpc_status()
        if any(vswitch.vpc_id == vpc_id and vswitch.deleted is None for vswitch in world.vswitches.values()):
            raise ApiError(400, "DependencyViolation.VSwitch", "Specified object has dependent resources")
        if any(group.vpc_id == vpc_id and group.deleted is None for group in world.security_groups.values()):
            raise ApiError(
                400, "DependencyViolation.SecurityGroup", "Specified object has dependent resources SecurityGroup."
            )
        world.cancel(vpc_id)
        vpc.deleted = world.clock.now()
    return {}


def _region(params: RpcParams, state: SandboxState, *, required: bool) -> str | None:
    if params.text("RegionId") is None and not required:
        return None
    return rpc_region(params, state.catalog.regions)[0]


def _labels(
    params: RpcParams, name_key: str, name_code: str, description_code: str, what: str
) -> tuple[str, str, list[Tag]]:
    """A Create call's optional name (128) and Description (256), each checked with its own `*.Malformed` code
    (the real spelling, `Discription` included), then its tags."""
    name = _text(params, name_key, 128, ApiError(400, f"{name_code}.Malformed", f"Specified {what} name is not valid."))
    description = _text(
        params,
        "Description",
        256,
        ApiError(400, f"{description_code}.Malformed", f"Specified {what} description is not valid."),
    )
    return name, description, rpc_tags(params)


def _text(params: RpcParams, name: str, limit: int, error: ApiError) -> str:
    """An optional name or description: at most `limit` characters, not starting with http:// or https://."""
    value = params.text(name, "")
    if len(value) > limit or value.startswith(("http://", "https://")):
        raise error
    return value


def _incorrect_vpc_status() -> ApiError:
    return ApiError(400, "IncorrectVpcStatus", "Current VPC status does not support this operation.")


def _vpc_view(world: World, vpc: Vpc) -> dict[str, Any]:
    vswitch_ids = [v.vswitch_id for v in world.vswitches.values() if v.vpc_id == vpc.vpc_id and v.deleted is None]
    return {
        "VpcId": vpc.vpc_id,
        "RegionId": vpc.region_id,
        "Status": vpc.status,
        "VpcName": vpc.name,
        "Description": vpc.description,
        "CidrBlock": vpc.cidr_block,
        "VRouterId": vpc.vrouter_id,
        "IsDefault": False,
        "ResourceGroupId": vpc.resource_group_id,
        "CreationTime": _rpc_time(vpc.created),
        "CenStatus": "Detached",
        "DhcpOptionsSetStatus": "Available",
        "DnsHostnameStatus": "DISABLED",
        "VSwitchIds": {"VSwitchId": vswitch_ids},
        "RouterTableIds": {"RouterTableIds": [vpc.route_table_id]},
        "UserCidrs": {"UserCidr": []},
        "NatGatewayIds": {"NatGatewayIds": []},
        "SecondaryCidrBlocks": {"SecondaryCidrBlock": []},
        "Tags": {"Tag": [{"Key": tag.key, "Value": tag.value} for tag in vpc.tags]},
    }


def _vswitch_view(world: World, vswitch: VSwitch) -> dict[str, Any]:
    vpc = world.vpcs[vswitch.vpc_id]
    free = cidr.usable_addresses(cidr.IPv4Network(vswitch.cidr_block)) - len(vswitch.used_ips)
    return {
        "VSwitchId": vswitch.vswitch_id,
        "VpcId": vswitch.vpc_id,
        "Status": vswitch.status,
        "CidrBlock": vswitch.cidr_block,
        "ZoneId": vswitch.zone_id,
        "AvailableIpAddressCount": free,
        "Description": vswitch.description,
        "VSwitchName": vswitch.name,
        "CreationTime": _rpc_time(vswitch.created),
        "IsDefault": False,
        "ResourceGroupId": vpc.resource_group_id,
        "NetworkAclId": "",
        "ShareType": "",
        "RouteTable": {"RouteTableId": vpc.route_table_id, "RouteTableType": "System"},
        "Tags": {"Tag": [{"Key": tag.key, "Value": tag.value} for tag in vswitch.tags]},
    }


def _rpc_time(moment: datetime) -> str:
    """RPC APIs report UTC as `2018-04-18T15:02:37Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
