"""Security groups through the real ECS SDK: creation rules, tags, listing, and refusal while a cluster uses one."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_tea_openapi.exceptions import ClientException

from ack_compute.sandbox import SandboxCloud

REGION = "cn-hangzhou"


def error_of(call: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value.status_code, raised.value.code


def create_group(ecs: EcsClient, vpc_id: str, **fields: object) -> str:
    request = ecs_models.CreateSecurityGroupRequest(region_id=REGION, vpc_id=vpc_id, **fields)  # type: ignore[arg-type]
    return ecs.create_security_group(request).body.security_group_id


def test_create_describe_and_delete_a_tagged_enterprise_group(ecs: EcsClient, cloud: SandboxCloud) -> None:
    vpc_id = cloud.plant_vpc("sg-home")
    tag = ecs_models.CreateSecurityGroupRequestTag(key="owner", value="ack-compute")
    group_id = create_group(ecs, vpc_id, security_group_name="acf-sg", security_group_type="enterprise", tag=[tag])

    assert group_id.startswith("sg-bp1")
    listed = ecs.describe_security_groups(ecs_models.DescribeSecurityGroupsRequest(region_id=REGION, vpc_id=vpc_id))
    (shown,) = listed.body.security_groups.security_group
    assert (shown.security_group_id, shown.security_group_name, shown.security_group_type) == (
        group_id,
        "acf-sg",
        "enterprise",
    )
    assert [(t.tag_key, t.tag_value) for t in shown.tags.tag] == [("owner", "ack-compute")]
    by_tag = ecs_models.DescribeSecurityGroupsRequest(
        region_id=REGION, tag=[ecs_models.DescribeSecurityGroupsRequestTag(key="owner", value="ack-compute")]
    )
    assert group_id in {
        g.security_group_id for g in ecs.describe_security_groups(by_tag).body.security_groups.security_group
    }

    ecs.delete_security_group(ecs_models.DeleteSecurityGroupRequest(region_id=REGION, security_group_id=group_id))
    assert [g.deleted is not None for g in cloud.security_groups() if g.security_group_id == group_id] == [True]
    again = ecs_models.DeleteSecurityGroupRequest(region_id=REGION, security_group_id=group_id)
    assert error_of(lambda: ecs.delete_security_group(again)) == (404, "InvalidSecurityGroupId.NotFound")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"security_group_type": "premium"}, (400, "InvalidSecurityGroupType.ValueNotSupported")),
        ({"security_group_name": "-bad"}, (400, "InvalidSecurityGroupName.Malformed")),
        ({"vpc_id": "vpc-bp1doesnotexist0000"}, (404, "InvalidVpcId.NotFound")),
    ],
)
def test_create_rules(
    ecs: EcsClient, cloud: SandboxCloud, fields: dict[str, object], expected: tuple[int, str]
) -> None:
    vpc_id = cloud.plant_vpc()
    assert error_of(lambda: create_group(ecs, **({"vpc_id": vpc_id} | fields))) == expected


def test_group_used_by_a_cluster_cannot_be_deleted(ecs: EcsClient, cloud: SandboxCloud) -> None:
    cluster_id = cloud.plant_cluster("sg-user", nodes=1)
    group_id = cloud.cluster(cluster_id).security_group_id
    assert group_id is not None

    request = ecs_models.DescribeSecurityGroupsRequest(region_id=REGION, security_group_id=group_id)
    (shown,) = ecs.describe_security_groups(request).body.security_groups.security_group
    assert shown.ecs_count == 1
    delete = ecs_models.DeleteSecurityGroupRequest(region_id=REGION, security_group_id=group_id)
    assert error_of(lambda: ecs.delete_security_group(delete)) == (403, "DependencyViolation")
    missing = ecs_models.DeleteSecurityGroupRequest(security_group_id=group_id)
    assert error_of(lambda: ecs.delete_security_group(missing)) == (400, "MissingRegionId")
