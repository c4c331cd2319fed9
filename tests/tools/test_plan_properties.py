"""Plan normalisation, over every plan hypothesis can think of: a quote's digest is what a purchase is checked
against, so plans that mean the same must digest alike, and a plan that can cost more must never digest like a
cheaper one (else a cheap quote would pay for it)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ack_compute.tools.deploy_acs import costs_more
from ack_compute.tools.errors import InvalidPlan
from ack_compute.tools.plans import ECI_SPECS, AcsPlan, ClusterPlan, EciPlan, SystemDisk, normalise, plan_digest
from ack_compute.tools.purchase import bind_plan

REGIONS = st.sampled_from(["cn-hangzhou", "cn-shanghai", "cn-beijing", "ap-southeast-1", "us-west-1"])
QUARTERS = st.integers(1, 64).map(lambda n: n / 4)  # 0.25 .. 16 vCPU in steps of 0.25
HALVES = st.integers(1, 128).map(lambda n: n / 2)  # 0.5 .. 64 GiB in steps of 0.5
HOURS = st.sampled_from([0.001, 0.5, 1.0, 2.0, 24.0, 100.0])


@st.composite
def acs_plans(draw: st.DrawFn, region: bool | None = None) -> AcsPlan:
    gpu = draw(st.booleans())
    with_region = draw(st.booleans()) if region is None else region
    return AcsPlan(
        region=draw(REGIONS) if with_region else None,
        replicas=draw(st.integers(1, 20)),
        vcpu=draw(QUARTERS),
        memory_gib=draw(HALVES),
        compute_class="gpu" if gpu else "general-purpose",
        qos=draw(st.sampled_from(["default", "best-effort"])),
        gpu_model=draw(st.sampled_from(["A10", "L20"])) if gpu else None,
        gpu_count=draw(st.integers(1, 8)) if gpu else 0,
        hours=draw(HOURS),
    )


@st.composite
def eci_plans(draw: st.DrawFn) -> EciPlan:
    vcpu = draw(st.sampled_from(sorted(ECI_SPECS)))
    spot = draw(st.sampled_from([None, "SpotAsPriceGo", "SpotWithPriceLimit"]))
    return EciPlan(
        region=draw(REGIONS),
        replicas=draw(st.integers(1, 20)),
        vcpu=vcpu,
        memory_gib=draw(st.sampled_from(ECI_SPECS[vcpu])),
        spot_strategy=spot,
        spot_price_limit=draw(st.integers(1, 5000).map(lambda n: n / 1000)) if spot == "SpotWithPriceLimit" else None,
        hours=draw(HOURS),
    )


@st.composite
def cluster_plans(draw: st.DrawFn) -> ClusterPlan:
    types = draw(
        st.lists(
            st.sampled_from(["ecs.g7.xlarge", "ecs.c7.large", "ecs.g7.large", "ecs.r7.2xlarge"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    return ClusterPlan(
        region="cn-hangzhou",
        edition=draw(st.sampled_from(["basic", "pro"])),
        instance_types=types,
        node_count=draw(st.integers(0, 20)),
        system_disk=SystemDisk(size_gib=draw(st.integers(40, 500))),
        new_vpc_with_snat=draw(st.booleans()),
        hours=draw(HOURS),
    )


@given(acs_plans(region=False), REGIONS)
def test_a_plan_without_region_digests_like_the_same_plan_in_the_targets_region(plan: AcsPlan, region: str) -> None:
    explicit = plan.model_copy(update={"region": region})
    assert plan_digest(bind_plan(plan, region, "the cluster")) == plan_digest(bind_plan(explicit, region, "it"))
    assert plan_digest(normalise(plan, region)) == plan_digest(bind_plan(plan, region, "the cluster"))


@given(st.one_of(acs_plans(region=True), eci_plans()))
def test_binding_is_idempotent_and_survives_the_wire(plan: AcsPlan | EciPlan) -> None:
    assert plan.region is not None
    bound = bind_plan(plan, plan.region, "the cluster")
    again = type(bound).model_validate_json(bound.model_dump_json())
    assert plan_digest(bound) == plan_digest(bind_plan(again, plan.region, "the cluster")) == plan_digest(again)


@given(cluster_plans(), st.sampled_from([str.upper, str.title, lambda s: f"  {s} "]))
def test_instance_type_spelling_and_the_default_performance_level_digest_alike(plan: ClusterPlan, spell) -> None:  # type: ignore[no-untyped-def]
    respelled = ClusterPlan.model_validate(
        {**plan.model_dump(), "instance_types": [spell(t) for t in plan.instance_types]}
    )
    explicit_pl = ClusterPlan.model_validate(
        {**plan.model_dump(), "system_disk": {**plan.system_disk.model_dump(), "performance_level": "PL1"}}
    )
    assert plan_digest(respelled) == plan_digest(plan) == plan_digest(explicit_pl)


@given(acs_plans(region=True), REGIONS)
def test_a_plan_naming_another_region_is_refused_naming_both(plan: AcsPlan, region: str) -> None:
    assume(plan.region != region)
    with pytest.raises(InvalidPlan) as info:
        bind_plan(plan, region, "cluster c")
    assert info.value.field == "region" and f"{plan.region}" in info.value.text and region in info.value.text


@settings(max_examples=300)
@given(st.one_of(st.tuples(acs_plans(region=True), acs_plans(region=True)), st.tuples(eci_plans(), eci_plans())))
def test_a_plan_that_can_cost_more_never_digests_like_a_cheaper_one(pair: tuple[AcsPlan, AcsPlan]) -> None:
    cheap, dear = pair
    if costs_more(dear, cheap) or dear.hours > cheap.hours or dear.region != cheap.region:
        assert plan_digest(dear) != plan_digest(cheap)
    if plan_digest(dear) == plan_digest(cheap):
        assert dear.model_dump() == cheap.model_dump(), "one digest, one plan"


@given(acs_plans(region=True), st.sampled_from(["replicas", "vcpu", "memory_gib", "hours", "gpu_count"]))
def test_growing_any_priced_dimension_changes_the_digest(plan: AcsPlan, field: str) -> None:
    assume(field != "gpu_count" or plan.gpu_count)
    step = {"replicas": 1, "vcpu": 0.25, "memory_gib": 0.5, "hours": 1, "gpu_count": 1}[field]
    grown = AcsPlan.model_validate({**plan.model_dump(), field: getattr(plan, field) + step})
    assert costs_more(grown, plan) or field == "hours"
    assert plan_digest(grown) != plan_digest(plan)


@given(cluster_plans(), st.sampled_from(["node_count", "hours", "edition", "instance_types", "new_vpc_with_snat"]))
def test_a_dearer_cluster_never_digests_like_the_quoted_one(plan: ClusterPlan, field: str) -> None:
    change = {
        "node_count": plan.node_count + 1,
        "hours": plan.hours * 2,
        "edition": "pro",
        "instance_types": ["ecs.r7.2xlarge", *[t for t in plan.instance_types if t != "ecs.r7.2xlarge"]],
        "new_vpc_with_snat": True,
    }[field]
    dearer = ClusterPlan.model_validate({**plan.model_dump(), field: change})
    assume(dearer.model_dump() != plan.model_dump())
    assert plan_digest(dearer) != plan_digest(plan)
