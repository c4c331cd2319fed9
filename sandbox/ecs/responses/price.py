"""ECS DescribePrice: list prices from the catalog, with the real API's parameters, defaults and error codes."""

from __future__ import annotations

from typing import Any

from ack_compute.sandbox.catalog import Catalog, Disk
from ack_compute.sandbox.ecs.models.price import (
    DEFAULT_SYSTEM_DISK,
    HOURS_PER_UNIT,
    MAX_AMOUNT,
    MAX_DATA_DISKS,
    PERIODS,
)
from ack_compute.sandbox.errors import ApiError, missing_parameter
from ack_compute.sandbox.params import RpcParams, rpc_region
from ack_compute.sandbox.router import ApiRequest
from ack_compute.sandbox.state import SandboxState

DECIMALS = 4


def _invalid_period() -> ApiError:
    return ApiError(400, "InvalidPeriod", "The specified period is not valid.")


def _invalid_amount() -> ApiError:
    return ApiError(403, "InvalidAmount.Malformed", "The specified parameter Amount is not valid.")


def describe_price(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    """Pay-as-you-go when PriceUnit=Hour; longer units are the hourly price times the hours, undiscounted.

    With a SpotStrategy (SpotAsPriceGo, SpotWithPriceLimit) the real API prices the instance type at the zone's spot
    market price, which moves with supply and demand; disks keep their pay-as-you-go prices (Alibaba ECS,
    "Preemptible instances" billing: the spot price applies to the instance type only). The sandbox has no market
    and invents no discount: it answers the pay-as-you-go price, the most a SpotAsPriceGo instance can be charged
    (its bid "has an upper limit ... the price of the corresponding Pay-As-You-Go instance", Alibaba ECS,
    "Preemptible instances" overview, doc-detail/52088). A spot quote made on the sandbox is that ceiling.
    """
    params = request.params
    catalog = state.catalog
    _, region = rpc_region(params, catalog.regions)
    if params.text("ResourceType", "instance") != "instance":
        raise ApiError(
            400, "InvalidResourceType.ValueNotSupported", "The specified parameter ResourceType is not valid."
        )
    type_id = params.text("InstanceType")
    if type_id is None:
        raise ApiError(
            404,
            "InvalidInstanceType.Missing",
            "The InstanceType parameter that is mandatory for processing the request is not provided.",
        )
    instance_type = catalog.instance_types.get(type_id)
    if instance_type is None:
        raise ApiError(
            400,
            "InvalidInstanceType.ValueNotSupported",
            "The specified InstanceType does not exist or beyond the permitted range.",
        )
    zone_id = params.text("ZoneId")
    if zone_id is not None and zone_id not in region.zones:
        raise ApiError(404, "InvalidZoneId.NotFound", "The specified zone does not exist.")
    unit = params.text("PriceUnit", "Hour")
    if unit not in HOURS_PER_UNIT:
        raise ApiError(400, "InvalidPriceUnit.ValueNotSupported", "The specified parameter PriceUnit is not valid.")
    period = params.integer("Period", 1, _invalid_period())
    if period not in PERIODS[unit]:
        raise _invalid_period()
    amount = params.integer("Amount", 1, _invalid_amount())
    if not 1 <= amount <= MAX_AMOUNT:
        raise _invalid_amount()

    scale = amount * HOURS_PER_UNIT[unit] * period * region.price_multiplier
    system_disk, system_size = _system_disk(params, catalog)
    parts = {
        "instanceType": instance_type.hourly_price * scale,
        "systemDisk": system_disk.hourly_price_per_gib * system_size * scale,
    }
    data_disks = _data_disks(params, catalog)
    if data_disks:
        parts["dataDisk"] = sum(disk.hourly_price_per_gib * size for disk, size in data_disks) * scale
    details = [
        _price_fields(price) | {"Resource": resource, "SubRules": {"Rule": []}} for resource, price in parts.items()
    ]
    total = sum(detail["TradePrice"] for detail in details)
    return {
        "PriceInfo": {
            "Price": _price_fields(total) | {"Currency": catalog.currency, "DetailInfos": {"DetailInfo": details}},
            "Rules": {"Rule": []},
        }
    }


def _price_fields(price: float) -> dict[str, Any]:
    """List prices carry no discount: the trade price is the original price."""
    rounded = round(price, DECIMALS)
    return {"OriginalPrice": rounded, "DiscountPrice": 0.0, "TradePrice": rounded}


def _system_disk(params: RpcParams, catalog: Catalog) -> tuple[Disk, int]:
    category = params.text("SystemDisk.Category", DEFAULT_SYSTEM_DISK[0])
    disk = catalog.disk(category, params.text("SystemDisk.PerformanceLevel"))
    if disk is None:
        raise ApiError(
            400,
            "InvalidSystemDiskCategory.ValueNotSupported",
            'The specified parameter "SystemDisk.Category" (or its PerformanceLevel) is not valid.',
        )
    invalid_size = ApiError(
        400, "InvalidSystemDiskSize.ValueNotSupported", "The specified parameter SystemDisk.Size is invalid."
    )
    size = params.integer("SystemDisk.Size", DEFAULT_SYSTEM_DISK[1], invalid_size)
    if size < disk.system_gib.min:
        raise ApiError(
            404,
            "InvalidSystemDiskSize.LessThanMinSize",
            f"The specified parameter SystemDisk.Size is less than the minimum size ({disk.system_gib.min} GiB).",
        )
    if size > disk.system_gib.max:
        raise ApiError(
            404,
            "InvalidSystemDiskSize.MoreThanMaxSize",
            f"The specified parameter SystemDisk.Size is more than the maximum size ({disk.system_gib.max} GiB).",
        )
    return disk, size


def _data_disks(params: RpcParams, catalog: Catalog) -> list[tuple[Disk, int]]:
    groups = params.groups("DataDisk")
    if any(index > MAX_DATA_DISKS for index in groups):
        raise ApiError(
            400, "InstanceDiskNumber.LimitExceed", "The total number of specified disk in an instance exceeds."
        )
    disks = []
    for index, fields in groups.items():
        name = f"DataDisk.{index}"
        category = fields.text("Category")
        if category is None:
            raise ApiError(
                404,
                "InvalidDiskCategory.Missing",
                f"The {name}.Category parameter that is mandatory for processing the request is not provided.",
            )
        disk = catalog.disk(category, fields.text("PerformanceLevel"))
        if disk is None:
            raise ApiError(
                400,
                "InvalidDataDiskCategory.ValueNotSupported",
                f'The specified parameter "{name}.Category" (or its PerformanceLevel) is not valid.',
            )
        if fields.text("Size") is None:
            raise missing_parameter(f"{name}.Size")
        invalid_size = ApiError(
            400,
            "InvalidDataDiskSize.ValueNotSupported",
            f"The specified {name}.Size is beyond the permitted range "
            f"({disk.data_gib.min}-{disk.data_gib.max} GiB for {category}).",
        )
        size = fields.integer("Size", 0, invalid_size)
        if not disk.data_gib.min <= size <= disk.data_gib.max:
            raise invalid_size
        disks.append((disk, size))
    return disks
