"""ECI DescribeContainerGroupPrice: per-second prices of an elastic container instance, from illustrative rates.

Like the real API, `Price` is the pay-as-you-go price of one instance per second (vCPU x rate + GiB x rate); only
the vCPU/memory specs ECI supports are priced, and the spot fields are validated and answered with `SpotPrices`
(per hour, as in the documented example). Rates live in data/eci_prices.json and are illustrative.
"""

from __future__ import annotations

from typing import Any

from ack_compute.sandbox.eci.models.rates import SPOT_STRATEGIES, load_rates
from ack_compute.sandbox.errors import ApiError, invalid_parameter, missing_parameter
from ack_compute.sandbox.params import RpcParams, rpc_region
from ack_compute.sandbox.router import ApiRequest
from ack_compute.sandbox.state import SandboxState

DECIMALS = 8
HOURLY_DECIMALS = 4


def _number(params: RpcParams, name: str) -> float | None:
    text = params.text(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise invalid_parameter(name) from None
    if value <= 0:
        raise invalid_parameter(name)
    return value


def _unsupported_spec(cpu: float, memory: float) -> ApiError:
    return ApiError(
        400,
        "InvalidParameter",
        f"The specified Cpu ({cpu:g}) and Memory ({memory:g} GiB) are not a supported specification.",
    )


def describe_container_group_price(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    params = request.params
    rates = load_rates()
    _, region = rpc_region(params, state.catalog.regions)
    zone_id = params.text("ZoneId")
    if zone_id is not None and zone_id not in region.zones:
        raise ApiError(404, "InvalidZoneId.NotFound", "The specified zone does not exist.")
    strategy = params.text("SpotStrategy", "NoSpot")
    if strategy not in SPOT_STRATEGIES:
        raise invalid_parameter("SpotStrategy")
    limit = _number(params, "SpotPriceLimit")
    if strategy == "SpotWithPriceLimit" and limit is None:
        raise missing_parameter("SpotPriceLimit")

    type_id = params.text("InstanceType")
    if type_id is not None:
        instance_type = state.catalog.instance_types.get(type_id)
        if instance_type is None:
            raise invalid_parameter("InstanceType")
        per_second = instance_type.hourly_price * region.price_multiplier / 3600
        parts = {"instanceType": per_second}
    else:
        cpu, memory = _number(params, "Cpu"), _number(params, "Memory")
        if cpu is None:
            raise missing_parameter("Cpu")
        if memory is None:
            raise missing_parameter("Memory")
        if memory not in rates.specs.get(cpu, ()):
            raise _unsupported_spec(cpu, memory)
        parts = {
            "cpu": cpu * rates.vcpu_second * region.price_multiplier,
            "memory": memory * rates.gib_second * region.price_multiplier,
        }
    details = [_price_fields(price) | {"Resource": name, "Rules": {"Rule": []}} for name, price in parts.items()]
    total = sum(parts.values())
    reply: dict[str, Any] = {
        "PriceInfo": {
            "Price": _price_fields(total) | {"Currency": rates.currency, "DetailInfos": {"DetailInfo": details}},
            "Rules": {"Rule": []},
        }
    }
    if strategy != "NoSpot":
        hourly = total * 3600
        zones = [zone_id] if zone_id else sorted(region.zones)
        reply["PriceInfo"]["SpotPrices"] = {
            "SpotPrice": [
                {
                    "ZoneId": zone,
                    "InstanceType": type_id or "",
                    "SpotPrice": round(hourly * rates.spot_discount, HOURLY_DECIMALS),
                    "OriginPrice": round(hourly, HOURLY_DECIMALS),
                }
                for zone in zones
            ]
        }
    return reply


def _price_fields(price: float) -> dict[str, Any]:
    """List prices carry no discount: the trade price is the original price."""
    rounded = round(price, DECIMALS)
    return {"OriginalPrice": rounded, "DiscountPrice": 0.0, "TradePrice": rounded}
