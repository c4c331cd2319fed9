"""EcsCatalog.describe_price against the sandbox: the default is the pay-as-you-go price as before, and a spot
strategy is sent as DescribePrice's SpotStrategy (the sandbox answers the pay-as-you-go ceiling for it)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ack_compute.cloud.ecs import DiskQuery, EcsCatalog
from ack_compute.sandbox import SandboxCloud
from ack_compute.sandbox.catalog import load_catalog
from ack_compute.server.runtime import Runtime

GPU_TYPE = "ecs.gn7i-c8g1.2xlarge"
DISK = DiskQuery(category="cloud_essd", size_gib=120, performance_level="PL0")


@pytest.mark.parametrize("strategy", ["SpotAsPriceGo", "SpotWithPriceLimit"])
def test_spot_prices_are_asked_with_the_spot_strategy(runtime: Runtime, cloud: SandboxCloud, strategy: str) -> None:
    ecs = EcsCatalog(runtime.clients)
    regular = ecs.describe_price("cn-hangzhou", GPU_TYPE, 2, DISK, [], zone="cn-hangzhou-i")
    spot = ecs.describe_price("cn-hangzhou", GPU_TYPE, 2, DISK, [], zone="cn-hangzhou-i", spot_strategy=strategy)

    hourly = Decimal(str(load_catalog().instance_types[GPU_TYPE].hourly_price))
    assert regular.parts["instanceType"] == pytest.approx(hourly * 2)
    assert (spot.trade_price, spot.parts) == (regular.trade_price, regular.parts)  # the sandbox's ceiling
    assert cloud.counts()["DescribePrice"] == 2


def test_a_spot_strategy_the_api_does_not_know_is_refused_before_any_call(
    runtime: Runtime, cloud: SandboxCloud
) -> None:
    with pytest.raises(ValueError, match="spot_strategy 'Cheapest' is not one of NoSpot, SpotAsPriceGo"):
        EcsCatalog(runtime.clients).describe_price("cn-hangzhou", GPU_TYPE, 1, DISK, [], spot_strategy="Cheapest")  # type: ignore[arg-type]
    assert "DescribePrice" not in cloud.counts()
