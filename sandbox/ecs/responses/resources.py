"""ECS DescribeAvailableResource and DescribeInstanceTypes: what can be bought where, and what it is."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ack_compute.sandbox.catalog import Catalog, Family, InstanceType, StockCategory, Zone, stock_status
from ack_compute.sandbox.ecs.models.resources import CHARGE_TYPES, DESTINATIONS, MAX_FILTER_TYPES, sells
from ack_compute.sandbox.errors import ApiError, invalid_parameter
from ack_compute.sandbox.params import rpc_region
from ack_compute.sandbox.router import ApiRequest
from ack_compute.sandbox.state import SandboxState

MAX_RESULTS = 1600


def describe_available_resource(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    """Zones of the region that offer the destination resource, each with its stock status."""
    params = request.params
    catalog = state.catalog
    region_id, region = rpc_region(params, catalog.regions, "Invalid.RegionId")
    destination = params.text("DestinationResource")
    if destination is None:
        raise _mandatory("DestinationResource")
    if destination not in DESTINATIONS:
        raise ApiError(404, "Invalid.DestinationResource", "The specified DestinationResource is not valid.")
    if params.text("InstanceChargeType", "PostPaid") not in CHARGE_TYPES:
        raise ApiError(400, "Invalid.InstanceChargeType", "The specified InstanceChargeType is not valid.")
    type_id = params.text("InstanceType")
    if type_id is None and destination in ("SystemDisk", "DataDisk"):
        raise _mandatory("InstanceType")
    zone_filter = params.text("ZoneId")

    zones = []
    for zone_id, zone in region.zones.items():
        if zone_filter not in (None, zone_id) or (type_id is not None and not sells(catalog, zone, type_id)):
            continue
        category: StockCategory = zone.stock_of(type_id) if type_id else "WithStock"
        resources = _supported(catalog, destination, zone_id, zone, type_id, category)
        zones.append(
            {
                "RegionId": region_id,
                "ZoneId": zone_id,
                **_status(category),
                "AvailableResources": {
                    "AvailableResource": [{"Type": destination, "SupportedResources": {"SupportedResource": resources}}]
                },
            }
        )
    return {"AvailableZones": {"AvailableZone": zones}}


def describe_instance_types(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    """The catalog's instance types, filtered by id and family, paged by MaxResults and NextToken."""
    params = request.params
    wanted = params.numbered("InstanceTypes")
    if len(wanted) > MAX_FILTER_TYPES:
        raise invalid_parameter("InstanceTypes")
    family = params.text("InstanceTypeFamily")
    max_results = params.integer("MaxResults", MAX_RESULTS, invalid_parameter("MaxResults"))
    if not 1 <= max_results <= MAX_RESULTS:
        raise invalid_parameter("MaxResults")
    offset = _decode_token(params.text("NextToken"))
    matches = [
        (type_id, spec)
        for type_id, spec in state.catalog.instance_types.items()
        if (not wanted or type_id in wanted) and family in (None, spec.family)
    ]
    page = matches[offset : offset + max_results]
    body: dict[str, Any] = {
        "InstanceTypes": {
            "InstanceType": [
                _describe_type(type_id, spec, state.catalog.families[spec.family]) for type_id, spec in page
            ]
        }
    }
    if offset + max_results < len(matches):
        body["NextToken"] = _encode_token(offset + max_results)
    return body


def _supported(
    catalog: Catalog, destination: str, zone_id: str, zone: Zone, type_id: str | None, category: StockCategory
) -> list[dict[str, Any]]:
    if destination == "Zone":
        return [{"Value": zone_id, **_status(category)}]
    if destination == "InstanceType":
        return [
            {"Value": offered, **_status(zone.stock_of(offered))}
            for offered in catalog.instance_types
            if zone.offers(offered) and type_id in (None, offered)
        ]
    ranges: dict[str, tuple[int, int]] = {}
    for disk in catalog.disks:
        size = disk.system_gib if destination == "SystemDisk" else disk.data_gib
        low, high = ranges.get(disk.category, (size.min, size.max))
        ranges[disk.category] = (min(low, size.min), max(high, size.max))
    return [
        {"Value": name, **_status("WithStock"), "Min": low, "Max": high, "Unit": "GiB"}
        for name, (low, high) in ranges.items()
    ]


def _status(category: StockCategory) -> dict[str, str]:
    return {"Status": stock_status(category), "StatusCategory": category}


def _describe_type(type_id: str, spec: InstanceType, family: Family) -> dict[str, Any]:
    described: dict[str, Any] = {
        "InstanceTypeId": type_id,
        "InstanceTypeFamily": spec.family,
        "InstanceCategory": family.category,
        "InstanceFamilyLevel": family.level,
        "CpuArchitecture": family.architecture,
        "PhysicalProcessorModel": family.processor,
        "CpuCoreCount": spec.vcpu,
        "MemorySize": spec.memory_gib,
        "GPUAmount": spec.gpu_amount,
        "GPUSpec": spec.gpu_spec,
        "GPUMemorySize": spec.gpu_memory_gib,
        "EniQuantity": spec.eni_quantity,
    }
    if spec.baseline_credit is not None:
        described["BaselineCredit"] = spec.baseline_credit
    if spec.initial_credit is not None:
        described["InitialCredit"] = spec.initial_credit
    return described


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_token(token: str | None) -> int:
    if token is None:
        return 0
    try:
        label, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if label == "offset" and offset.isdigit():
            return int(offset)
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise invalid_parameter("NextToken")


def _mandatory(name: str) -> ApiError:
    return ApiError(
        400,
        "Invalid.Param",
        f"The input parameter {name} that is mandatory for processing this request is not supplied.",
    )
