"""ECS catalog calls the estimator needs: prices, instance type facts, zone stock.

Returns plain pydantic models; responses are read through `to_map()` so nothing above this
module sees an SDK type.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ack_compute.cloud.clients import OpenApiClients

SpotStrategy = Literal["NoSpot", "SpotAsPriceGo", "SpotWithPriceLimit"]
# DescribePrice SpotStrategy values (SDK DescribePriceRequest doc); NoSpot is the API's default.
SPOT_STRATEGIES: tuple[str, ...] = ("NoSpot", "SpotAsPriceGo", "SpotWithPriceLimit")


class DiskQuery(BaseModel):
    model_config = ConfigDict(frozen=True)  # hashable: it is part of the price cache key

    category: str
    size_gib: int
    performance_level: str | None = None


class InstancePrice(BaseModel):
    """Pay-as-you-go price of `amount` instances with their disks, for one hour."""

    instance_type: str
    amount: int
    currency: str
    trade_price: Decimal
    original_price: Decimal
    # By resource: instanceType / systemDisk / dataDisk, each for all `amount` instances.
    parts: dict[str, Decimal]


class InstanceTypeInfo(BaseModel):
    instance_type: str
    family: str
    vcpu: int
    memory_gib: float
    gpu_amount: int = 0
    gpu_spec: str | None = None


class ZoneStock(BaseModel):
    zone: str
    available: set[str]
    sold_out: set[str]


def _dec(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0))


class EcsCatalog:
    def __init__(self, clients: OpenApiClients) -> None:
        self._clients = clients

    def describe_price(
        self,
        region: str,
        instance_type: str,
        amount: int,
        system_disk: DiskQuery,
        data_disks: list[DiskQuery],
        zone: str | None = None,
        spot_strategy: SpotStrategy = "NoSpot",
    ) -> InstancePrice:
        """The hourly price; with a spot strategy, the spot price (DescribePrice `SpotStrategy`).

        NoSpot sends no SpotStrategy at all (the API's default, so the request is unchanged). The SDK's
        DescribePriceRequest doc: spot prices differ by zone, so pass `zone` when pricing spot.
        """
        from alibabacloud_ecs20140526 import models as m

        if spot_strategy not in SPOT_STRATEGIES:
            raise ValueError(f"spot_strategy {spot_strategy!r} is not one of {', '.join(SPOT_STRATEGIES)}")
        request = m.DescribePriceRequest(
            region_id=region,
            zone_id=zone,
            resource_type="instance",
            instance_type=instance_type,
            price_unit="Hour",
            period=1,
            amount=amount,
            system_disk=m.DescribePriceRequestSystemDisk(
                category=system_disk.category,
                size=system_disk.size_gib,
                performance_level=system_disk.performance_level,
            ),
            data_disk=[
                m.DescribePriceRequestDataDisk(
                    category=d.category, size=d.size_gib, performance_level=d.performance_level
                )
                for d in data_disks
            ]
            or None,
            spot_strategy=None if spot_strategy == "NoSpot" else spot_strategy,
        )
        client = self._clients.client("ecs", region)
        body = self._clients.call("DescribePrice", lambda: client.describe_price(request).body.to_map())
        price = body["PriceInfo"]["Price"]
        parts: dict[str, Decimal] = {}
        for detail in price.get("DetailInfos", {}).get("DetailInfo", []):
            resource = detail.get("Resource", "other")
            parts[resource] = parts.get(resource, Decimal(0)) + _dec(detail.get("TradePrice"))
        return InstancePrice(
            instance_type=instance_type,
            amount=amount,
            currency=price.get("Currency", "CNY"),
            trade_price=_dec(price.get("TradePrice")),
            original_price=_dec(price.get("OriginalPrice")),
            parts=parts,
        )

    def describe_instance_types(self, region: str, instance_types: list[str]) -> dict[str, InstanceTypeInfo]:
        """Facts for the given types; types the cloud does not know are absent from the result."""
        from alibabacloud_ecs20140526 import models as m

        client = self._clients.client("ecs", region)
        found: dict[str, InstanceTypeInfo] = {}
        for start in range(0, len(instance_types), 10):  # the API filters at most 10 types per call
            request = m.DescribeInstanceTypesRequest(instance_types=instance_types[start : start + 10])
            body = self._clients.call(
                "DescribeInstanceTypes", lambda r=request: client.describe_instance_types(r).body.to_map()
            )
            for item in body.get("InstanceTypes", {}).get("InstanceType", []):
                info = InstanceTypeInfo(
                    instance_type=item["InstanceTypeId"],
                    family=item.get("InstanceTypeFamily", ""),
                    vcpu=int(item.get("CpuCoreCount", 0)),
                    memory_gib=float(item.get("MemorySize", 0)),
                    gpu_amount=int(item.get("GPUAmount", 0) or 0),
                    gpu_spec=item.get("GPUSpec") or None,
                )
                found[info.instance_type] = info
        return found

    def zone_stock(self, region: str, zone: str) -> ZoneStock:
        """Which instance types a zone sells pay-as-you-go right now."""
        from alibabacloud_ecs20140526 import models as m

        request = m.DescribeAvailableResourceRequest(
            region_id=region,
            zone_id=zone,
            destination_resource="InstanceType",
            instance_charge_type="PostPaid",
        )
        client = self._clients.client("ecs", region)
        body = self._clients.call(
            "DescribeAvailableResource", lambda: client.describe_available_resource(request).body.to_map()
        )
        available: set[str] = set()
        sold_out: set[str] = set()
        for z in body.get("AvailableZones", {}).get("AvailableZone", []):
            if z.get("ZoneId") != zone:
                continue
            for res in z.get("AvailableResources", {}).get("AvailableResource", []):
                for sup in res.get("SupportedResources", {}).get("SupportedResource", []):
                    target = available if sup.get("Status") == "Available" else sold_out
                    target.add(sup.get("Value", ""))
        return ZoneStock(zone=zone, available=available, sold_out=sold_out - available)

    def zones_with_stock(self, region: str, instance_type: str) -> list[str]:
        """Zones of the region selling `instance_type` pay-as-you-go now, in the API's order."""
        from alibabacloud_ecs20140526 import models as m

        request = m.DescribeAvailableResourceRequest(
            region_id=region,
            destination_resource="InstanceType",
            instance_charge_type="PostPaid",
            instance_type=instance_type,
        )
        client = self._clients.client("ecs", region)
        body = self._clients.call(
            "DescribeAvailableResource", lambda: client.describe_available_resource(request).body.to_map()
        )
        zones = []
        for z in body.get("AvailableZones", {}).get("AvailableZone", []):
            for res in z.get("AvailableResources", {}).get("AvailableResource", []):
                if any(
                    s.get("Value") == instance_type and s.get("Status") == "Available"
                    for s in res.get("SupportedResources", {}).get("SupportedResource", [])
                ):
                    zones.append(z["ZoneId"])
                    break
        return zones
