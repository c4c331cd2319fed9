"""ECI plans priced through the real ECI SDK against the sandbox (signatures verified): per-second API prices become
per-hour quotes, spot plans are bounded, and specs ECI does not offer are refused before any call."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from ack_compute.cloud.eci import EciPrices
from ack_compute.cloud.errors import CloudError
from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.plans import EciPlan, normalise

# The sandbox's illustrative rates: 0.000049 per vCPU-second, 0.00000613 per GiB-second (2 vCPU + 4 GiB =
# 0.00012252 per second, the documented API example).
POD_2_4_HOUR = Decimal("0.00012252") * 3600


def eci(**fields: object) -> EciPlan:
    return normalise(EciPlan.model_validate({"vcpu": 2, "memory_gib": 4, **fields}), "cn-hangzhou")  # type: ignore


def test_the_api_answers_per_second_and_the_cloud_layer_converts_to_hours(runtime: Runtime) -> None:
    price = EciPrices(runtime.clients).container_group_price("cn-hangzhou", 2, 4)
    assert price.trade_price_per_second == Decimal("0.00012252")
    assert price.trade_price_per_hour == POD_2_4_HOUR and price.currency == "CNY"


def test_an_eci_plan_gets_a_quote_priced_by_the_eci_api(runtime: Runtime, cloud: SandboxCloud) -> None:
    est = estimate_cost(
        EciPlan(vcpu=2, memory_gib=4, replicas=3, hours=2),
        default_region="cn-hangzhou",
        pricer=runtime.pricer,
        quotes=runtime.quotes,
    )
    assert est.quote_token and "deploy_acs" in est.next_step and "Serverless" in est.next_step
    (item,) = est.line_items
    assert item.source.kind == "api" and item.source.name == "ECI DescribeContainerGroupPrice"
    assert item.unit == "pod-hour" and item.quantity == 3 and item.unit_price == POD_2_4_HOUR
    assert est.hourly_total == (POD_2_4_HOUR * 3).quantize(Decimal("0.0001"))
    assert est.total == (est.hourly_total * 2).quantize(Decimal("0.0001"))
    assert any("per second" in a for a in est.assumptions)
    calls = cloud.counts()
    assert calls.get("DescribeContainerGroupPrice") == 1
    runtime.pricer.price(eci(replicas=3, hours=2))
    assert cloud.counts() == calls, "a repeated estimate is served from the cache"


def test_an_unsupported_spec_is_refused_with_the_nearest_before_any_call(cloud: SandboxCloud) -> None:
    with pytest.raises(ValidationError, match=r"no 3 vCPU / 6 GiB spec; nearest supported: 4 vCPU/8 GiB"):
        EciPlan(vcpu=3, memory_gib=6)
    with pytest.raises(ValidationError, match="use_specs: ECI has no 4-3Gi spec"):
        EciPlan(vcpu=2, memory_gib=4, use_specs=["4-3Gi"])
    assert "DescribeContainerGroupPrice" not in cloud.counts()


def test_the_sandbox_refuses_unsupported_specs_and_a_missing_limit_like_the_api(runtime: Runtime) -> None:
    prices = EciPrices(runtime.clients)
    with pytest.raises(CloudError) as bad_spec:
        prices.container_group_price("cn-hangzhou", 3, 6)
    assert bad_spec.value.code == "InvalidParameter" and bad_spec.value.status == 400
    with pytest.raises(CloudError) as no_limit:
        prices.container_group_price("cn-hangzhou", 2, 4, spot_strategy="SpotWithPriceLimit")
    assert no_limit.value.code == "MissingParameter"


def test_spot_with_a_price_limit_is_quoted_at_the_limit(runtime: Runtime) -> None:
    pricing = runtime.pricer.price(eci(replicas=2, spot_strategy="SpotWithPriceLimit", spot_price_limit=0.2))
    (item,) = pricing.line_items
    assert item.unit_price == Decimal("0.2") and pricing.hourly_total == Decimal("0.4000")
    assert "spot" in item.item and any("SpotWithPriceLimit" in a and "upper bound" in a for a in pricing.assumptions)
    above = runtime.pricer.price(eci(spot_strategy="SpotWithPriceLimit", spot_price_limit=5))
    assert above.line_items[0].unit_price == POD_2_4_HOUR, "a limit above pay-as-you-go is capped at it"


def test_spot_as_price_go_is_capped_at_the_pay_as_you_go_price(runtime: Runtime) -> None:
    pricing = runtime.pricer.price(eci(spot_strategy="SpotAsPriceGo"))
    assert pricing.line_items[0].unit_price == POD_2_4_HOUR
    assert any("SpotAsPriceGo" in a and "pay-as-you-go price as the upper bound" in a for a in pricing.assumptions)


def test_fallback_specs_quote_the_dearest(runtime: Runtime) -> None:
    pricing = runtime.pricer.price(eci(use_specs=["4-8Gi", "ecs.c7.xlarge"], image_cache=True))
    assert "4-8Gi" in pricing.line_items[0].item
    assert pricing.line_items[0].unit_price == POD_2_4_HOUR * 2
    assert any("dearest" in a and "2-4Gi" in a for a in pricing.assumptions)
    assert any("Image caches" in e for e in pricing.exclusions)
