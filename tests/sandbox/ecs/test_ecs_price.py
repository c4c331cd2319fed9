"""DescribePrice through the real ECS SDK: totals follow the catalog, errors carry the real codes."""

from __future__ import annotations

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_tea_openapi.exceptions import ClientException

from ack_compute.sandbox.catalog import load_catalog

CATALOG = load_catalog()


def price_request(**fields: object) -> ecs_models.DescribePriceRequest:
    defaults: dict[str, object] = {"region_id": "cn-hangzhou", "instance_type": "ecs.g7.large", "price_unit": "Hour"}
    return ecs_models.DescribePriceRequest(**(defaults | fields))


def test_price_is_instance_plus_disks_times_amount(ecs: EcsClient) -> None:
    request = price_request(
        amount=3,
        system_disk=ecs_models.DescribePriceRequestSystemDisk(category="cloud_essd", size=40, performance_level="PL1"),
        data_disk=[
            ecs_models.DescribePriceRequestDataDisk(category="cloud_essd", size=100, performance_level="PL0"),
            ecs_models.DescribePriceRequestDataDisk(category="cloud_efficiency", size=200),
        ],
    )
    price = ecs.describe_price(request).body.price_info.price

    instance = CATALOG.instance_types["ecs.g7.large"].hourly_price * 3
    system = CATALOG.disk("cloud_essd", "PL1").hourly_price_per_gib * 40 * 3
    data = (
        CATALOG.disk("cloud_essd", "PL0").hourly_price_per_gib * 100
        + CATALOG.disk("cloud_efficiency", None).hourly_price_per_gib * 200
    ) * 3
    parts = {detail.resource: detail.trade_price for detail in price.detail_infos.detail_info}
    assert parts == pytest.approx({"instanceType": instance, "systemDisk": system, "dataDisk": data}, abs=1e-4)
    assert price.trade_price == pytest.approx(sum(parts.values()), abs=1e-9)
    assert price.original_price == price.trade_price
    assert price.discount_price == 0
    assert price.currency == "CNY"


def test_defaults_price_one_instance_with_a_40_gib_ultra_disk(ecs: EcsClient) -> None:
    price = ecs.describe_price(price_request(instance_type="ecs.c7.xlarge")).body.price_info.price

    parts = {detail.resource: detail.trade_price for detail in price.detail_infos.detail_info}
    assert parts == pytest.approx(
        {
            "instanceType": CATALOG.instance_types["ecs.c7.xlarge"].hourly_price,
            "systemDisk": CATALOG.disk("cloud_efficiency", None).hourly_price_per_gib * 40,
        },
        abs=1e-4,
    )


def test_region_multiplier_applies_to_every_part(ecs: EcsClient) -> None:
    home = ecs.describe_price(price_request()).body.price_info.price.trade_price
    singapore = ecs.describe_price(price_request(region_id="ap-southeast-1")).body.price_info.price.trade_price

    assert singapore == pytest.approx(home * CATALOG.regions["ap-southeast-1"].price_multiplier, abs=1e-3)


def test_sold_out_zone_is_still_priced(ecs: EcsClient) -> None:
    request = price_request(instance_type="ecs.gn7i-c8g1.2xlarge", zone_id="cn-hangzhou-k")

    assert ecs.describe_price(request).body.price_info.price.trade_price > 10


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"instance_type": "ecs.g7.huge"}, 400, "InvalidInstanceType.ValueNotSupported"),
        ({"instance_type": None}, 404, "InvalidInstanceType.Missing"),
        ({"region_id": "cn-atlantis"}, 404, "InvalidRegionId.NotFound"),
        ({"zone_id": "cn-hangzhou-z"}, 404, "InvalidZoneId.NotFound"),
        ({"amount": 1001}, 403, "InvalidAmount.Malformed"),
        ({"period": 2}, 400, "InvalidPeriod"),
        ({"price_unit": "Fortnight"}, 400, "InvalidPriceUnit.ValueNotSupported"),
        ({"resource_type": "spaceship"}, 400, "InvalidResourceType.ValueNotSupported"),
        (
            {"system_disk": ecs_models.DescribePriceRequestSystemDisk(category="cloud_floppy", size=40)},
            400,
            "InvalidSystemDiskCategory.ValueNotSupported",
        ),
        (
            {
                "system_disk": ecs_models.DescribePriceRequestSystemDisk(
                    category="cloud_essd", size=40, performance_level="PL9"
                )
            },
            400,
            "InvalidSystemDiskCategory.ValueNotSupported",
        ),
        (
            {"system_disk": ecs_models.DescribePriceRequestSystemDisk(category="cloud_essd", size=10)},
            404,
            "InvalidSystemDiskSize.LessThanMinSize",
        ),
        (
            {"system_disk": ecs_models.DescribePriceRequestSystemDisk(category="cloud_essd", size=4096)},
            404,
            "InvalidSystemDiskSize.MoreThanMaxSize",
        ),
        (
            {"data_disk": [ecs_models.DescribePriceRequestDataDisk(category="cloud_ssd", size=40000)]},
            400,
            "InvalidDataDiskSize.ValueNotSupported",
        ),
        (
            {"data_disk": [ecs_models.DescribePriceRequestDataDisk(category="tape", size=100)]},
            400,
            "InvalidDataDiskCategory.ValueNotSupported",
        ),
        (
            {"data_disk": [ecs_models.DescribePriceRequestDataDisk(category="cloud_ssd", size=20)] * 5},
            400,
            "InstanceDiskNumber.LimitExceed",
        ),
    ],
)
def test_invalid_requests_get_the_real_error(ecs: EcsClient, fields: dict[str, object], status: int, code: str) -> None:
    with pytest.raises(ClientException) as raised:
        ecs.describe_price(price_request(**fields))

    assert (raised.value.status_code, raised.value.code) == (status, code)
    assert raised.value.request_id


@pytest.mark.parametrize("strategy", ["SpotAsPriceGo", "SpotWithPriceLimit"])
def test_spot_is_priced_at_its_pay_as_you_go_ceiling(ecs: EcsClient, strategy: str) -> None:
    """The sandbox has no spot market: it answers the most a spot instance can cost, never an invented discount."""
    fields: dict[str, object] = {"instance_type": "ecs.gn7i-c8g1.2xlarge", "zone_id": "cn-hangzhou-i", "amount": 2}
    regular = ecs.describe_price(price_request(**fields)).body.price_info.price
    spot = ecs.describe_price(price_request(**fields, spot_strategy=strategy, spot_duration=1)).body.price_info.price

    parts = {detail.resource: detail.trade_price for detail in spot.detail_infos.detail_info}
    assert parts["instanceType"] == pytest.approx(CATALOG.instance_types["ecs.gn7i-c8g1.2xlarge"].hourly_price * 2)
    assert spot.trade_price == regular.trade_price
