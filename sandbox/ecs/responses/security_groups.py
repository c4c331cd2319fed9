"""ECS security groups (RPC): CreateSecurityGroup, DescribeSecurityGroups and DeleteSecurityGroup.

A group that a cluster or its nodes still use cannot be deleted; the groups ACK creates for clusters show
up here too, and disappear when their cluster is deleted.
"""

from __future__ import annotations

from typing import Any

from ack_compute.sandbox import ids
from ack_compute.sandbox.ecs.models.security_groups import GROUP_TYPES, NAME_PATTERN, security_groups_in_use
from ack_compute.sandbox.errors import ApiError
from ack_compute.sandbox.params import RpcParams, id_list, page, paged, required, rpc_region
from ack_compute.sandbox.router import ApiRequest
from ack_compute.sandbox.state import SandboxState
from ack_compute.sandbox.tagging import described, rpc_tags, tag_filter
from ack_compute.sandbox.world import SecurityGroup, World

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 50


def create_security_group(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    params = request.params
    region_id = _region(params, state)
    vpc_id = required(params, "VpcId")
    name = params.text("SecurityGroupName", "")
    if name and (NAME_PATTERN.fullmatch(name) is None or name.startswith(("http://", "https://"))):
        raise ApiError(400, "InvalidSecurityGroupName.Malformed", "Specified security group name is not valid.")
    description = params.text("Description", "")
    if len(description) > 256 or description.startswith(("http://", "https://")):
        raise ApiError(
            400, "InvalidSecurityGroupDiscription.Malformed", "Specified security group description is not valid."
        )
    group_type = params.text("SecurityGroupType", "normal")
    if group_type not in GROUP_TYPES:
        raise ApiError(
            400, "InvalidSecurityGroupType.ValueNotSupported", "The specified SecurityGroupType is not supported."
        )
    tags = rpc_tags(params)
    world = state.world
    with world.lock:
        vpc = world.live_vpc(vpc_id)
        if vpc is None or vpc.region_id != region_id:
            raise ApiError(404, "InvalidVpcId.NotFound", "Specified virtual private cloud does not exist.")
        group = SecurityGroup(
            security_group_id=ids.security_group_id(region_id),
            vpc_id=vpc_id,
            region_id=region_id,
            name=name,
            description=description,
            security_group_type="enterprise" if group_type == "enterprise" else "normal",
            tags=tags,
            created=world.clock.now(),
        )
        world.security_groups[group.security_group_id] = group
    return {"SecurityGroupId": group.security_group_id}


def describe_security_groups(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    params = request.params
    region_id = _region(params, state)
    number, size = page(params, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    wanted_ids = id_list(params.text("SecurityGroupIds")) + id_list(params.text("SecurityGroupId"))
    equal = {"region_id": region_id, "vpc_id": params.text("VpcId"), "name": params.text("SecurityGroupName")}
    equal["security_group_type"] = params.text("SecurityGroupType")
    wanted_tags = tag_filter(params)
    world = state.world
    with world.lock:
        found = described(world.security_groups.values(), "security_group_id", wanted_ids, wanted_tags, **equal)
        shown = paged(found, number, size, lambda group: _group_view(world, group), "SecurityGroups", "SecurityGroup")
    return {"RegionId": region_id, **shown}


def delete_security_group(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    params = request.params
    region_id = _region(params, state)
    group_id = required(params, "SecurityGroupId")
    world = state.world
    with world.lock:
        group = world.live_security_group(group_id)
        if group is None or group.region_id != region_id:
            raise ApiError(
                404, "InvalidSecurityGroupId.NotFound", "The SecurityGroupId provided does not exist in our records."
            )
        if group_id in security_groups_in_use(world):
            raise ApiError(403, "DependencyViolation", "There is still instance(s) in the specified security group.")
        group.deleted = world.clock.now()
    return {}


def _region(params: RpcParams, state: SandboxState) -> str:
    return rpc_region(params, state.catalog.regions)[0]


def _group_view(world: World, group: SecurityGroup) -> dict[str, Any]:
    return {
        "SecurityGroupId": group.security_group_id,
        "SecurityGroupName": group.name,
        "Description": group.description,
        "SecurityGroupType": group.security_group_type,
        "VpcId": group.vpc_id,
        "CreationTime": group.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "EcsCount": security_groups_in_use(world).get(group.security_group_id, 0),
        "ServiceManaged": False,
        "ResourceGroupId": "",
        "Tags": {"Tag": [{"TagKey": tag.key, "TagValue": tag.value} for tag in group.tags]},
    }
