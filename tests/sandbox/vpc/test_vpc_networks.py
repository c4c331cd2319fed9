"""VPCs and vSwitches through the real VPC SDK: creation, filters, paging, tags and the dependency rules."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_vpc20160428 import models as vpc_models
from alibabacloud_vpc20160428.client import Client as VpcClient

from ack_compute.sandbox import SandboxCloud
from tests.helpers.waiting import eventually

if TYPE_CHECKING:
    from conftest import Clients

REGION = "cn-hangzhou"


SCALE = 1000.0
pytestmark = pytest.mark.usefixtures("fast_clock")  # at SCALE (tests/sandbox/conftest.py)


@pytest.fixture
def vpc(clients: Clients) -> VpcClient:
    return clients.vpc()


def create_vpc(vpc: VpcClient, cidr_block: str = "192.168.0.0/16", **fields: object) -> str:
    request = vpc_models.CreateVpcRequest(region_id=REGION, cidr_block=cidr_block, **fields)  # type: ignore[arg-type]
    vpc_id = vpc.create_vpc(request).body.vpc_id
    eventually(lambda: describe_vpc(vpc, vpc_id).status == "Available")
    return vpc_id


def describe_vpc(vpc: VpcClient, vpc_id: str) -> vpc_models.DescribeVpcsResponseBodyVpcsVpc:
    (found,) = vpc.describe_vpcs(vpc_models.DescribeVpcsRequest(region_id=REGION, vpc_id=vpc_id)).body.vpcs.vpc
    return found


def create_vswitch(
    vpc: VpcClient, vpc_id: str, cidr_block: str, zone_id: str = "cn-hangzhou-h", **fields: object
) -> str:
    request = vpc_models.CreateVSwitchRequest(vpc_id=vpc_id, zone_id=zone_id, cidr_block=cidr_block, **fields)  # type: ignore[arg-type]
    return vpc.create_vswitch(request).body.v_switch_id


def vswitch_status(vpc: VpcClient, vswitch_id: str) -> str:
    request = vpc_models.DescribeVSwitchesRequest(v_switch_id=vswitch_id)
    (found,) = vpc.describe_vswitches(request).body.v_switches.v_switch
    return found.status


def error_of(call: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value.status_code, raised.value.code


def test_vpc_starts_pending_then_becomes_available_with_its_router_and_tags(vpc: VpcClient) -> None:
    tag = vpc_models.CreateVpcRequestTag(key="owner", value="ack-compute")
    created = vpc.create_vpc(
        vpc_models.CreateVpcRequest(region_id=REGION, cidr_block="10.8.0.0/16", vpc_name="acf-vpc", tag=[tag])
    ).body

    assert created.vpc_id.startswith("vpc-bp1") and created.vrouter_id.startswith("vrt-")
    assert created.route_table_id.startswith("vtb-") and created.request_id
    eventually(lambda: describe_vpc(vpc, created.vpc_id).status == "Available")
    shown = describe_vpc(vpc, created.vpc_id)
    assert (shown.vpc_name, shown.cidr_block, shown.vrouter_id) == ("acf-vpc", "10.8.0.0/16", created.vrouter_id)
    assert [(t.key, t.value) for t in shown.tags.tag] == [("owner", "ack-compute")]
    assert shown.router_table_ids.router_table_ids == [created.route_table_id]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"cidr_block": "8.8.0.0/16"}, "InvalidParameter"),
        ({"cidr_block": "192.168.0.0/30"}, "InvalidParameter"),
        ({"cidr_block": "192.168.1.0/16"}, "InvalidParameter"),
        ({"vpc_name": "http://example"}, "InvalidVpcName.Malformed"),
        ({"description": "x" * 257}, "InvalidVpcDiscription.Malformed"),
        ({"tag": [vpc_models.CreateVpcRequestTag(key="aliyun-x", value="v")]}, "InvalidTagKey.Malformed"),
    ],
)
def test_create_vpc_rules(vpc: VpcClient, fields: dict[str, object], code: str) -> None:
    request = vpc_models.CreateVpcRequest(region_id=REGION, **fields)  # type: ignore[arg-type]
    assert error_of(lambda: vpc.create_vpc(request)) == (400, code)


def test_create_vpc_needs_a_known_region(vpc: VpcClient) -> None:
    assert error_of(lambda: vpc.create_vpc(vpc_models.CreateVpcRequest(region_id="mars-1"))) == (
        404,
        "InvalidRegionId.NotFound",
    )


def test_describe_vpcs_filters_by_name_and_tag_and_pages(vpc: VpcClient) -> None:
    label = f"team-{uuid.uuid4().hex[:8]}"
    ids = [
        create_vpc(vpc, f"10.{20 + i}.0.0/16", tag=[vpc_models.CreateVpcRequestTag(key="team", value=label)])
        for i in range(3)
    ]
    by_tag = vpc_models.DescribeVpcsRequestTag(key="team", value=label)

    first = vpc.describe_vpcs(vpc_models.DescribeVpcsRequest(region_id=REGION, tag=[by_tag], page_size=2)).body
    second = vpc.describe_vpcs(
        vpc_models.DescribeVpcsRequest(region_id=REGION, tag=[by_tag], page_size=2, page_number=2)
    ).body
    assert (first.total_count, len(first.vpcs.vpc), len(second.vpcs.vpc)) == (3, 2, 1)
    assert {v.vpc_id for v in first.vpcs.vpc + second.vpcs.vpc} == set(ids)
    several = vpc.describe_vpcs(vpc_models.DescribeVpcsRequest(region_id=REGION, vpc_id=",".join(ids[:2]))).body
    assert {v.vpc_id for v in several.vpcs.vpc} == set(ids[:2])
    assert vpc.describe_vpcs(vpc_models.DescribeVpcsRequest(region_id=REGION, vpc_name=label)).body.total_count == 0
    assert error_of(lambda: vpc.describe_vpcs(vpc_models.DescribeVpcsRequest(region_id=REGION, page_size=51))) == (
        400,
        "InvalidParameter",
    )


def test_vswitch_must_fit_the_vpc_and_not_overlap_its_siblings(vpc: VpcClient) -> None:
    vpc_id = create_vpc(vpc, "192.168.0.0/16")
    first = create_vswitch(vpc, vpc_id, "192.168.1.0/24", v_switch_name="nodes")

    assert first.startswith("vsw-bp1")
    assert error_of(lambda: create_vswitch(vpc, vpc_id, "192.168.1.128/25")) == (400, "InvalidCidrBlock.Overlapped")
    assert error_of(lambda: create_vswitch(vpc, vpc_id, "10.0.0.0/24")) == (400, "InvalidParameter")
    assert error_of(lambda: create_vswitch(vpc, vpc_id, "192.168.2.0/30")) == (400, "InvalidParameter")
    assert error_of(lambda: create_vswitch(vpc, vpc_id, "192.168.3.0/24", zone_id="cn-beijing-h")) == (
        404,  # CreateVSwitch's error table: 404 InvalidZoneId.NotFound
        "InvalidZoneId.NotFound",
    )
    assert error_of(lambda: create_vswitch(vpc, "vpc-bp1doesnotexist0000", "192.168.3.0/24")) == (
        404,
        "InvalidVpcId.NotFound",
    )
    missing_zone = vpc_models.CreateVSwitchRequest(vpc_id=vpc_id, cidr_block="192.168.3.0/24")
    assert error_of(lambda: vpc.create_vswitch(missing_zone)) == (400, "MissingParameter")


def test_vswitch_in_a_pending_vpc_is_refused(vpc: VpcClient, cloud: SandboxCloud) -> None:
    cloud.time_scale = 1.0
    try:
        vpc_id = vpc.create_vpc(vpc_models.CreateVpcRequest(region_id=REGION, cidr_block="192.168.0.0/16")).body.vpc_id
        assert error_of(lambda: create_vswitch(vpc, vpc_id, "192.168.1.0/24")) == (400, "IncorrectVpcStatus")
        assert error_of(lambda: vpc.delete_vpc(vpc_models.DeleteVpcRequest(vpc_id=vpc_id))) == (
            400,
            "IncorrectVpcStatus",
        )
    finally:
        cloud.time_scale = 1000.0


def test_describe_vswitches_reports_free_addresses_and_filters(vpc: VpcClient) -> None:
    vpc_id = create_vpc(vpc, "172.16.0.0/12")
    tag = vpc_models.CreateVSwitchRequestTag(key="tier", value="nodes")
    small = create_vswitch(vpc, vpc_id, "172.16.0.0/28", v_switch_name="small", tag=[tag])
    create_vswitch(vpc, vpc_id, "172.17.0.0/16", zone_id="cn-hangzhou-i")
    eventually(
        lambda: all(
            v.status == "Available"
            for v in vpc.describe_vswitches(vpc_models.DescribeVSwitchesRequest(vpc_id=vpc_id)).body.v_switches.v_switch
        )
    )

    in_zone = vpc.describe_vswitches(vpc_models.DescribeVSwitchesRequest(vpc_id=vpc_id, zone_id="cn-hangzhou-h")).body
    (shown,) = in_zone.v_switches.v_switch
    assert (shown.v_switch_id, shown.v_switch_name, shown.available_ip_address_count) == (small, "small", 12)
    assert [(t.key, t.value) for t in shown.tags.tag] == [("tier", "nodes")]
    by_name = vpc_models.DescribeVSwitchesRequest(region_id=REGION, v_switch_name="small", vpc_id=vpc_id)
    assert vpc.describe_vswitches(by_name).body.total_count == 1
    by_id = vpc_models.DescribeVSwitchesRequest(region_id=REGION, v_switch_id=small)
    assert [v.vpc_id for v in vpc.describe_vswitches(by_id).body.v_switches.v_switch] == [vpc_id]


def test_vpc_cannot_go_while_vswitches_or_security_groups_remain(vpc: VpcClient, clients: Clients) -> None:
    ecs = clients.ecs()
    vpc_id = create_vpc(vpc, "192.168.0.0/16")
    vswitch_id = create_vswitch(vpc, vpc_id, "192.168.5.0/24")
    group_id = ecs.create_security_group(
        ecs_models.CreateSecurityGroupRequest(region_id=REGION, vpc_id=vpc_id, security_group_name="acf-sg")
    ).body.security_group_id
    eventually(lambda: vswitch_status(vpc, vswitch_id) == "Available")

    delete = vpc_models.DeleteVpcRequest(vpc_id=vpc_id)
    assert error_of(lambda: vpc.delete_vpc(delete)) == (400, "DependencyViolation.VSwitch")
    vpc.delete_vswitch(vpc_models.DeleteVSwitchRequest(v_switch_id=vswitch_id))
    assert error_of(lambda: vpc.delete_vpc(delete)) == (400, "DependencyViolation.SecurityGroup")
    ecs.delete_security_group(ecs_models.DeleteSecurityGroupRequest(region_id=REGION, security_group_id=group_id))
    vpc.delete_vpc(delete)

    assert vpc.describe_vpcs(vpc_models.DescribeVpcsRequest(region_id=REGION, vpc_id=vpc_id)).body.total_count == 0
    assert error_of(lambda: vpc.delete_vpc(delete)) == (404, "InvalidVpcId.NotFound")
    again = vpc_models.DeleteVSwitchRequest(v_switch_id=vswitch_id)
    assert error_of(lambda: vpc.delete_vswitch(again)) == (404, "InvalidVSwitchId.NotFound")


def test_deleted_network_stays_in_the_admin_view(vpc: VpcClient, cloud: SandboxCloud) -> None:
    vpc_id = create_vpc(vpc, "192.168.0.0/16", vpc_name="gone-soon")
    vpc.delete_vpc(vpc_models.DeleteVpcRequest(vpc_id=vpc_id))

    (record,) = [v for v in cloud.vpcs() if v.vpc_id == vpc_id]
    assert record.deleted is not None and not record.planted and record.name == "gone-soon"
