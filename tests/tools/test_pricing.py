"""Pricing through the real ECS/CS SDKs against the sandbox cloud (signatures verified)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from ack_compute.sandbox import Fault, SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.tools.errors import CloudFailure, InvalidPlan, PricingUnavailable
from ack_compute.tools.plans import AcsPlan, ClusterPlan, NodePoolPlan, ServerlessPlan, normalise
from ack_compute.tools.pricing import Pricer, RateTable


def cluster(**fields: object) -> ClusterPlan:
    plan = ClusterPlan.model_validate({"instance_types": ["ecs.g7.xlarge"], "node_count": 2, **fields})
    return normalise(plan, "cn-hangzhou")  # type: ignore[return-value]


def acs(**fields: object) -> AcsPlan:
    return normalise(AcsPlan.model_validate({"vcpu": 2, "memory_gib": 4, **fields}), "cn-hangzhou")  # type: ignore


def test_cluster_line_items_add_up(runtime: Runtime) -> None:
    pricing = runtime.pricer.price(cluster(edition="pro", node_count=3, data_disks=[{"size_gib": 200}], hours=4))
    by_unit = {i.item.split(":")[0]: i for i in pricing.line_items}
    nodes = by_unit["Worker nodes"]
    assert nodes.quantity == 3 and nodes.source.kind == "api"
    assert "4 vCPU, 16 GiB" in nodes.item
    assert nodes.unit_price * 3 == pytest.approx(nodes.hourly, abs=Decimal("0.0003"))
    assert {"System disks", "Data disks"} <= set(by_unit)
    fee = by_unit["ACK Pro management fee (ack.pro.small)"]
    assert fee.hourly == Decimal("0.64") and fee.source.kind == "rate_table" and fee.source.as_of
    assert pricing.hourly_total == sum(i.hourly for i in pricing.line_items)
    assert pricing.total == (pricing.hourly_total * 4).quantize(Decimal("0.0001"))
    assert pricing.currency == "CNY"


def test_price_scales_with_nodes_and_edition(runtime: Runtime) -> None:
    two = runtime.pricer.price(cluster(node_count=2)).hourly_total
    four = runtime.pricer.price(cluster(node_count=4)).hourly_total
    assert four == pytest.approx(two * 2, abs=Decimal("0.0002"))
    pro = runtime.pricer.price(cluster(node_count=2, edition="pro")).hourly_total
    assert pro - two == Decimal("0.64")
    empty = runtime.pricer.price(cluster(node_count=0, edition="pro"))
    assert empty.hourly_total == Decimal("0.64"), "a node-less Pro cluster costs only the management fee"


def test_quote_is_an_upper_bound_over_preferred_types(runtime: Runtime) -> None:
    cheap_first = runtime.pricer.price(cluster(instance_types=["ecs.c7.xlarge", "ecs.g7.xlarge"]))
    only_g7 = runtime.pricer.price(cluster(instance_types=["ecs.g7.xlarge"]))
    only_c7 = runtime.pricer.price(cluster(instance_types=["ecs.c7.xlarge"]))
    assert only_c7.hourly_total < only_g7.hourly_total
    assert cheap_first.hourly_total == only_g7.hourly_total
    assert "ecs.g7.xlarge" in cheap_first.line_items[0].item
    assert any("upper bound" in a and "ecs.c7.xlarge" in a for a in cheap_first.assumptions)
    assert not any("upper bound" in a for a in only_g7.assumptions), "one type: nothing to bound"


def test_repeated_estimate_makes_no_api_call(runtime: Runtime, cloud: SandboxCloud) -> None:
    plan = cluster(edition="pro", zone="cn-hangzhou-h", instance_types=["ecs.g7.xlarge", "ecs.c7.xlarge"])
    first = runtime.pricer.price(plan)
    calls = cloud.counts()
    assert calls.get("DescribePrice") == 2 and calls.get("DescribeAvailableResource") == 1
    again = runtime.pricer.price(plan)
    assert cloud.counts() == calls
    assert again == first


def test_unknown_instance_type_is_named_and_nothing_priced(runtime: Runtime, cloud: SandboxCloud) -> None:
    with pytest.raises(InvalidPlan) as info:
        runtime.pricer.price(cluster(instance_types=["ecs.g7.xlarge", "ecs.g7.huge"]))
    assert info.value.field == "instance_types" and "ecs.g7.huge" in info.value.text
    assert "DescribePrice" not in cloud.counts()


def test_sold_out_zone(runtime: Runtime) -> None:
    with pytest.raises(InvalidPlan) as info:
        runtime.pricer.price(cluster(instance_types=["ecs.gn7i-c8g1.2xlarge"], zone="cn-hangzhou-k"))
    assert "sold out" in info.value.text and "cn-hangzhou-k" in info.value.text


def test_partly_available_types_priced_with_a_note(runtime: Runtime) -> None:
    pricing = runtime.pricer.price(
        cluster(instance_types=["ecs.gn7i-c8g1.2xlarge", "ecs.g7.xlarge"], zone="cn-hangzhou-k")
    )
    assert "ecs.g7.xlarge" in pricing.line_items[0].item
    assert any("ecs.gn7i-c8g1.2xlarge" in a and "not priced" in a for a in pricing.assumptions)


def test_unknown_region_lists_valid_ones(runtime: Runtime, cloud: SandboxCloud) -> None:
    plan = ClusterPlan(region="xx-nowhere", instance_types=["ecs.g7.xlarge"])
    with pytest.raises(InvalidPlan) as info:
        runtime.pricer.price(plan)
    assert info.value.field == "region" and "cn-hangzhou" in info.value.text
    assert set(cloud.counts()) == {"DescribeRegions"}


def test_throttling_is_retried_honouring_retry_after(runtime: Runtime, cloud: SandboxCloud) -> None:
    cloud.inject("DescribePrice", Fault.throttle(retry_after_ms=150), times=2)
    pricing = runtime.pricer.price(cluster())
    assert pricing.hourly_total > 0
    assert cloud.counts()["DescribePrice"] == 3


def test_persistent_5xx_gives_up_with_a_clear_error(runtime: Runtime, cloud: SandboxCloud) -> None:
    cloud.inject("DescribePrice", Fault.server_error(status=503), times=50)
    with pytest.raises(CloudFailure) as info:
        runtime.pricer.price(cluster())
    text = info.value.text
    assert "DescribePrice failed after 4 attempts" in text and "503" in text and "retry" in text
    assert cloud.counts()["DescribePrice"] == 4, "retries are bounded"


def test_wrong_credentials_say_what_to_check(make_runtime: Callable[..., Runtime]) -> None:
    bad = make_runtime(secret="not-the-secret-000")
    with pytest.raises(CloudFailure) as info:
        bad.pricer.price(cluster())
    assert "SignatureDoesNotMatch" in info.value.text and "credentials" in info.value.text
    assert "not-the-secret-000" not in info.value.text


def test_acs_priced_from_the_dated_rate_table(runtime: Runtime, cloud: SandboxCloud) -> None:
    pricing = runtime.pricer.price(acs(replicas=4, vcpu=2, memory_gib=4, hours=8))
    vcpu, mem = pricing.line_items
    assert (vcpu.quantity, vcpu.unit_price, vcpu.unit) == (8, Decimal("0.06"), "vCPU-hour")
    assert (mem.quantity, mem.unit_price, mem.unit) == (16, Decimal("0.03"), "GiB-hour")
    assert pricing.hourly_total == Decimal("0.96") and pricing.total == Decimal("7.68")
    assert vcpu.source.kind == "rate_table" and vcpu.source.as_of == "2026-11-01"
    assert set(cloud.counts()) == {"DescribeRegions"}


def test_best_effort_is_an_upper_bound(runtime: Runtime) -> None:
    default = runtime.pricer.price(acs())
    best_effort = runtime.pricer.price(acs(qos="best-effort"))
    assert best_effort.hourly_total == default.hourly_total
    assert any("upper bound" in a for a in best_effort.assumptions)


def test_gpu_without_a_rate_is_refused_then_priced_from_an_operator_table(runtime: Runtime) -> None:
    plan = acs(compute_class="gpu", gpu_model="A10", gpu_count=1)
    with pytest.raises(PricingUnavailable, match="A10"):
        runtime.pricer.price(plan)
    table = RateTable.load().model_dump()
    table["acs_gpu"] = [{"site": "china", "area": "mainland", "currency": "CNY", "gpu_model": "a10", "gpu_hour": "9.5"}]
    pricer = Pricer(runtime.pricer._ecs, runtime.pricer._cs, RateTable.model_validate(table))
    pricing = pricer.price(plan)
    assert pricing.line_items[-1].unit == "GPU-hour" and pricing.line_items[-1].hourly == Decimal("9.5")


def test_snat_without_a_rate_in_the_quote_currency_is_refused(runtime: Runtime) -> None:
    """The built-in table has no CNY network rate: quoting without the NAT gateway and EIP would hide them."""
    with pytest.raises(PricingUnavailable) as refused:
        runtime.pricer.price(cluster(new_vpc_with_snat=True))
    assert refused.value.message == (
        "new_vpc_with_snat buys a NAT gateway and an EIP, billed every hour they exist, and this server has no CNY "
        "rate for nat gateway or eip, so it cannot quote them."
    )
    assert "Set new_vpc_with_snat to false" in refused.value.next_step
    assert "network.nat_gateway and network.eip CNY rates" in refused.value.next_step


def test_snat_network_is_a_line_item_in_the_hourly_total(runtime: Runtime) -> None:
    """On the international site the built-in dated USD rates price the NAT gateway and the EIP."""
    pricer = Pricer(runtime.pricer._ecs, runtime.pricer._cs, RateTable.load(), site="international")
    plain = pricer.price(serverless(edition="pro", hours=2))
    snat = pricer.price(serverless(edition="pro", hours=2, new_vpc_with_snat=True))
    assert snat.currency == "USD"
    network = snat.line_items[len(plain.line_items) :]
    assert [(i.item, i.hourly, i.source.as_of) for i in network] == [
        ("NAT gateway (SNAT for the new VPC), instance fee", Decimal("0.043"), "2026-12-03"),
        ("EIP bound to the NAT gateway", Decimal("0.009"), "2026-12-03"),
    ]
    assert snat.hourly_total == plain.hourly_total + Decimal("0.052")
    assert snat.total == plain.total + Decimal("0.104")
    assert any(
        "NAT gateway and an EIP, billed hourly" in a and "billing-of-internet-nat-gateways" in a
        for a in snat.assumptions
    )
    assert any("capacity units" in e and "per GB" in e for e in snat.exclusions)


def serverless(**fields: object) -> ServerlessPlan:
    return normalise(ServerlessPlan.model_validate(fields), "cn-hangzhou")


def test_serverless_basic_costs_nothing_per_hour_and_says_why(runtime: Runtime, cloud: SandboxCloud) -> None:
    pricing = runtime.pricer.price(serverless(hours=5))
    assert pricing.line_items == [] and pricing.hourly_total == 0 and pricing.total == 0
    assert pricing.currency == "CNY"
    text = " ".join(pricing.assumptions)
    assert "no node costs" in text and "no management fee" in text
    assert "per vCPU-second and GiB-second" in text and "acs plan" in text
    assert any("Pods" in e and "not included" in e for e in pricing.exclusions)
    assert set(cloud.counts()) == {"DescribeRegions"}, "no node prices to ask for"


def test_serverless_pro_is_the_management_fee(runtime: Runtime) -> None:
    pricing = runtime.pricer.price(serverless(edition="pro", hours=3))
    (fee,) = pricing.line_items
    assert fee.item == "ACK Serverless Pro management fee (ack.pro.small)" and fee.unit == "cluster-hour"
    assert fee.hourly == Decimal("0.64") and fee.source.kind == "rate_table"
    assert pricing.hourly_total == Decimal("0.64") and pricing.total == Decimal("1.92")
    assert any("no node costs" in a for a in pricing.assumptions)


def test_serverless_network_and_zone_are_checked_like_a_cluster(runtime: Runtime) -> None:
    with pytest.raises(PricingUnavailable, match="new_vpc_with_snat"):
        runtime.pricer.price(serverless(new_vpc_with_snat=True))
    table = RateTable.load().model_dump()
    table["network"] = {"nat_gateway": {"CNY": "0.25"}, "eip": {"CNY": "0.02"}}
    pricer = Pricer(runtime.pricer._ecs, runtime.pricer._cs, RateTable.model_validate(table))
    priced = pricer.price(serverless(new_vpc_with_snat=True))
    assert [i.item for i in priced.line_items] == [
        "NAT gateway (SNAT for the new VPC), instance fee",
        "EIP bound to the NAT gateway",
    ]
    assert priced.hourly_total == Decimal("0.27")
    with pytest.raises(InvalidPlan) as info:
        runtime.pricer.price(serverless(zone="cn-hangzhou-zz"))
    assert info.value.field == "zone" and "cn-hangzhou-zz" in info.value.text
    assert runtime.pricer.price(serverless(zone="cn-hangzhou-h")).hourly_total == 0


def pool(**fields: object) -> NodePoolPlan:
    plan = NodePoolPlan.model_validate({"instance_types": ["ecs.gn7i-c8g1.2xlarge"], "node_count": 2, **fields})
    return normalise(plan, "cn-hangzhou")  # type: ignore[return-value]


def test_a_gpu_node_pool_is_priced_per_node_with_its_disks_and_no_fee(runtime: Runtime) -> None:
    pricing = runtime.pricer.price(pool(data_disks=[{"size_gib": 200}], hours=3, cluster="team-shared"))
    by_unit = {i.item.split(":")[0]: i for i in pricing.line_items}
    nodes = by_unit["Pool nodes"]
    assert nodes.quantity == 2 and nodes.source.name == "ECS DescribePrice"
    assert "ecs.gn7i-c8g1.2xlarge" in nodes.item and "1 x NVIDIA A10" in nodes.item
    assert {"Pool nodes", "System disks", "Data disks"} == set(by_unit)  # no management fee for a pool
    assert pricing.hourly_total == sum(i.hourly for i in pricing.line_items)
    assert pricing.total == (pricing.hourly_total * 3).quantize(Decimal("0.0001"))
    # The same nodes as a cluster's workers cost the same: one price source for both.
    same = runtime.pricer.price(cluster(instance_types=["ecs.gn7i-c8g1.2xlarge"], data_disks=[{"size_gib": 200}]))
    assert same.line_items[0].hourly == nodes.hourly


def test_spot_pool_quotes_pay_as_you_go_as_its_ceiling_and_states_the_spot_price(runtime: Runtime) -> None:
    on_demand = runtime.pricer.price(pool())
    spot = runtime.pricer.price(pool(spot_strategy="SpotAsPriceGo"))
    assert spot.hourly_total == on_demand.hourly_total
    said = " ".join(spot.assumptions)
    assert "market price, now" in said and "upper bound" in said and "reclaimed" in said
    with pytest.raises(ValueError, match="SpotAsPriceGo only"):
        pool(spot_strategy="SpotWithPriceLimit")
