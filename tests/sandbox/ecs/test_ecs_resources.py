"""DescribeAvailableResource and DescribeInstanceTypes through the real ECS SDK."""

from __future__ import annotations

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_tea_openapi.exceptions import ClientException

from ack_compute.sandbox.catalog import load_catalog

GPU = "ecs.gn7i-c8g1.2xlarge"


def available(
    ecs: EcsClient, **fields: object
) -> dict[str, ecs_models.DescribeAvailableResourceResponseBodyAvailableZonesAvailableZone]:
    request = ecs_models.DescribeAvailableResourceRequest(region_id="cn-hangzhou", **fields)
    zones = ecs.describe_available_resource(request).body.available_zones.available_zone
    return {zone.zone_id: zone for zone in zones}


def test_gpu_type_is_sold_out_in_one_zone_and_not_offered_in_another(ecs: EcsClient) -> None:
    zones = available(ecs, destination_resource="InstanceType", instance_type=GPU)

    assert set(zones) == {"cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"}  # not offered in -h
    sold_out = zones["cn-hangzhou-k"]
    assert (sold_out.status, sold_out.status_category) == ("SoldOut", "WithoutStock")
    [resource] = sold_out.available_resources.available_resource
    [supported] = resource.supported_resources.supported_resource
    assert (resource.type, supported.value, supported.status) == ("InstanceType", GPU, "SoldOut")
    assert zones["cn-hangzhou-i"].status == "Available"


def test_instance_type_destination_lists_every_offered_type_of_a_zone(ecs: EcsClient) -> None:
    zones = available(ecs, destination_resource="InstanceType", zone_id="cn-hangzhou-h")

    [zone] = zones.values()
    offered = {r.value for r in zone.available_resources.available_resource[0].supported_resources.supported_resource}
    assert offered == set(load_catalog().instance_types) - {GPU, "ecs.gn7i-c16g1.4xlarge"}


def test_disk_destinations_give_size_ranges(ecs: EcsClient) -> None:
    zones = available(ecs, destination_resource="SystemDisk", instance_type="ecs.g7.large", zone_id="cn-hangzhou-i")

    disks = zones["cn-hangzhou-i"].available_resources.available_resource[0].supported_resources.supported_resource
    essd = next(disk for disk in disks if disk.value == "cloud_essd")
    assert (essd.min, essd.max, essd.unit, essd.status) == (20, 2048, "GiB", "Available")


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"region_id": "cn-atlantis", "destination_resource": "Zone"}, 404, "Invalid.RegionId"),
        ({}, 400, "Invalid.Param"),
        ({"destination_resource": "Rocket"}, 404, "Invalid.DestinationResource"),
        ({"destination_resource": "DataDisk"}, 400, "Invalid.Param"),
        ({"destination_resource": "Zone", "instance_charge_type": "Barter"}, 400, "Invalid.InstanceChargeType"),
    ],
)
def test_available_resource_errors(ecs: EcsClient, fields: dict[str, object], status: int, code: str) -> None:
    request = ecs_models.DescribeAvailableResourceRequest(**({"region_id": "cn-hangzhou"} | fields))
    with pytest.raises(ClientException) as raised:
        ecs.describe_available_resource(request)

    assert (raised.value.status_code, raised.value.code) == (status, code)


def test_instance_types_filter_and_fields(ecs: EcsClient) -> None:
    request = ecs_models.DescribeInstanceTypesRequest(
        instance_types=["ecs.gn7i-c16g1.4xlarge", "ecs.r7.2xlarge", "ecs.nope"]
    )
    types = {t.instance_type_id: t for t in ecs.describe_instance_types(request).body.instance_types.instance_type}

    assert set(types) == {"ecs.gn7i-c16g1.4xlarge", "ecs.r7.2xlarge"}
    gpu = types["ecs.gn7i-c16g1.4xlarge"]
    assert (gpu.instance_type_family, gpu.cpu_core_count, gpu.memory_size) == ("ecs.gn7i", 16, 60)
    assert (gpu.gpuamount, gpu.gpuspec, gpu.gpumemory_size) == (1, "NVIDIA A10", 24)
    memory = types["ecs.r7.2xlarge"]
    assert (memory.cpu_core_count, memory.memory_size, memory.gpuamount) == (8, 64, 0)


def test_instance_types_by_family_page_through_next_token(ecs: EcsClient) -> None:
    seen: list[str] = []
    token = None
    while True:
        request = ecs_models.DescribeInstanceTypesRequest(
            instance_type_family="ecs.g7", max_results=2, next_token=token
        )
        body = ecs.describe_instance_types(request).body
        seen += [t.instance_type_id for t in body.instance_types.instance_type]
        token = body.next_token
        if not token:
            break

    assert seen == [f"ecs.g7.{size}" for size in ("large", "xlarge", "2xlarge", "3xlarge", "4xlarge")]


@pytest.mark.parametrize(
    "request_fields",
    [{"max_results": 0}, {"next_token": "not-a-token"}, {"instance_types": [f"ecs.g7.t{i}" for i in range(11)]}],
)
def test_instance_types_reject_bad_paging_and_filters(ecs: EcsClient, request_fields: dict[str, object]) -> None:
    with pytest.raises(ClientException) as raised:
        ecs.describe_instance_types(ecs_models.DescribeInstanceTypesRequest(**request_fields))

    assert (raised.value.status_code, raised.value.code) == (400, "InvalidParameter")
