"""ECI DescribeContainerGroupPrice: the price of one elastic container instance of a vCPU/memory spec.

The API answers `PriceInfo.Price.TradePrice` per second for one instance: the documented example, 0.00012252 for
2 vCPU / 4 GiB, is 2 x 0.000049 CNY/vCPU-second + 4 x 0.00000613 CNY/GiB-second, the published ECI unit prices
(ECI bills per second; the per-second price is the hourly price / 3600). This module converts it to per hour, so
nothing above it has to know. Responses are read through `to_map()` so no SDK type leaves this module.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ack_compute.cloud.clients import OpenApiClients

SECONDS_PER_HOUR = Decimal(3600)
SpotStrategy = Literal["SpotAsPriceGo", "SpotWithPriceLimit"]


class EciPrice(BaseModel):
    """Pay-as-you-go price of one ECI instance of (vcpu, memory_gib) for one hour, in the API's currency."""

    model_config = ConfigDict(frozen=True)

    region: str
    vcpu: float
    memory_gib: float
    instance_type: str | None = None
    currency: str
    trade_price_per_hour: Decimal
    original_price_per_hour: Decimal
    # Per second as the API answered it, kept so a reader can check the conversion.
    trade_price_per_second: Decimal


def _dec(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0))


class EciPrices:
    def __init__(self, clients: OpenApiClients) -> None:
        self._clients = clients

    def container_group_price(
        self,
        region: str,
        cpu: float,
        memory_gib: float,
        *,
        zone: str | None = None,
        instance_type: str | None = None,
        spot_strategy: SpotStrategy | None = None,
        spot_price_limit: float | None = None,
    ) -> EciPrice:
        """The per-hour price of one instance (of `instance_type` when given: the API then ignores cpu/memory);
        the spot fields are passed through so the cloud validates them."""
        from alibabacloud_eci20180808 import models as m

        request = m.DescribeContainerGroupPriceRequest(
            region_id=region,
            zone_id=zone,
            cpu=cpu,
            memory=memory_gib,
            instance_type=instance_type,
            spot_strategy=spot_strategy,
            spot_price_limit=spot_price_limit,
        )
        client = self._clients.client("eci", region)
        body = self._clients.call(
            "DescribeContainerGroupPrice", lambda: client.describe_container_group_price(request).body.to_map()
        )
        price = (body.get("PriceInfo") or {}).get("Price") or {}
        per_second = _dec(price.get("TradePrice"))
        return EciPrice(
            region=region,
            vcpu=cpu,
            memory_gib=memory_gib,
            instance_type=instance_type,
            currency=price.get("Currency") or "CNY",
            trade_price_per_hour=per_second * SECONDS_PER_HOUR,
            original_price_per_hour=_dec(price.get("OriginalPrice")) * SECONDS_PER_HOUR,
            trade_price_per_second=per_second,
        )
