"""Plans validate every field before any cloud call and normalise to one digest."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from ack_compute.tools.plans import AcsPlan, ClusterPlan, Plan, ServerlessPlan, normalise, plan_digest

plan_adapter: TypeAdapter[ClusterPlan | AcsPlan | ServerlessPlan] = TypeAdapter(Plan)


def refused(raw: dict[str, object], field: str, words: str) -> None:
    """The plan is refused, and the refusal names the field and says these words."""
    with pytest.raises(ValidationError) as info:
        plan_adapter.validate_python(raw)
    text = str(info.value)
    assert field in text and words in text, text


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"kind": "cluster", "node_count": 101}, "node_count", "less than or equal to 100"),
        ({"kind": "cluster", "node_count": -1}, "node_count", "greater than or equal to 0"),
        ({"kind": "cluster", "system_disk": {"size_gib": 39}}, "size_gib", "greater than or equal to 40"),
        ({"kind": "cluster", "system_disk": {"size_gib": 501}}, "size_gib", "less than or equal to 500"),
        (
            {"kind": "cluster", "system_disk": {"category": "cloud_ssd", "performance_level": "PL1"}},
            "system_disk",
            "applies only to cloud_essd",
        ),
        ({"kind": "cluster", "system_disk": {"size_gib": 100, "performance_level": "PL2"}}, "system_disk", "461"),
        ({"kind": "cluster", "instance_types": []}, "instance_types", "at least 1"),
        ({"kind": "cluster", "instance_types": ["g7.xlarge"]}, "instance_types", "pattern"),
        ({"kind": "cluster", "instance_types": ["ecs.g7.xlarge", "ECS.G7.XLARGE"]}, "instance_types", "twice"),
        ({"kind": "cluster", "region": "cn-hangzhou", "zone": "cn-beijing-a"}, "zone", "not in region"),
        ({"kind": "cluster", "edition": "ultimate"}, "edition", "'basic' or 'pro'"),
        ({"kind": "cluster", "hours": 0}, "hours", "greater than 0"),
        ({"kind": "cluster", "surprise": 1}, "surprise", "Extra inputs"),
        ({"kind": "acs", "vcpu": 2, "memory_gib": 4, "replicas": 0}, "replicas", "greater than or equal to 1"),
        ({"kind": "acs", "vcpu": 0.3, "memory_gib": 4}, "vcpu", "multiple of 0.25"),
        ({"kind": "acs", "vcpu": 2, "memory_gib": 4, "compute_class": "gpu"}, "acs", "gpu_model"),
        ({"kind": "acs", "vcpu": 2, "memory_gib": 4, "gpu_count": 1}, "acs", "compute_class gpu"),
        ({"kind": "vm"}, "kind", "does not match any of the expected tags"),
    ],
)
def test_invalid_fields_are_named(raw: dict[str, object], field: str, words: str) -> None:
    refused(raw, field, words)


def test_normalisation_gives_one_digest_per_plan() -> None:
    a = normalise(
        plan_adapter.validate_python({"kind": "cluster", "instance_types": [" ECS.G7.XLARGE "]}), "cn-hangzhou"
    )
    b = normalise(
        plan_adapter.validate_python(
            {
                "kind": "cluster",
                "instance_types": ["ecs.g7.xlarge"],
                "region": "cn-hangzhou",
                "system_disk": {"category": "cloud_essd", "size_gib": 120, "performance_level": "PL1"},
                "hours": 1,
            }
        ),
        "cn-hangzhou",
    )
    assert a == b and plan_digest(a) == plan_digest(b)
    assert a.region == "cn-hangzhou" and a.system_disk.performance_level == "PL1"
    c = normalise(plan_adapter.validate_python({"kind": "cluster", "instance_types": ["ecs.g7.xlarge"]}), "cn-beijing")
    assert plan_digest(c) != plan_digest(a), "the default region is part of what is paid for"


def test_default_region_must_agree_with_zone() -> None:
    plan = plan_adapter.validate_python({"kind": "cluster", "zone": "cn-beijing-a"})
    with pytest.raises(ValidationError, match="not in region"):
        normalise(plan, "cn-hangzhou")


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"kind": "serverless", "instance_types": ["ecs.g7.xlarge"]}, "instance_types", "Extra inputs"),
        ({"kind": "serverless", "node_count": 2}, "node_count", "Extra inputs"),
        ({"kind": "serverless", "edition": "ultimate"}, "edition", "'basic' or 'pro'"),
        ({"kind": "serverless", "region": "cn-hangzhou", "zone": "cn-beijing-a"}, "zone", "not in region"),
        ({"kind": "serverless", "hours": 0}, "hours", "greater than 0"),
    ],
)
def test_serverless_plan_takes_no_node_fields(raw: dict[str, object], field: str, words: str) -> None:
    refused(raw, field, words)


def test_serverless_plan_normalises_and_digests_apart_from_a_cluster_plan() -> None:
    plan = plan_adapter.validate_python({"kind": "serverless", "edition": "pro"})
    assert isinstance(plan, ServerlessPlan)
    a = normalise(plan, "cn-hangzhou")
    b = normalise(ServerlessPlan(edition="pro", region="cn-hangzhou", hours=1), "cn-beijing")
    assert a == b and plan_digest(a) == plan_digest(b) and a.region == "cn-hangzhou"
    assert a.model_dump() == {
        "region": "cn-hangzhou",
        "hours": 1.0,
        "kind": "serverless",
        "edition": "pro",
        "zone": None,
        "new_vpc_with_snat": False,
    }
    cluster = normalise(ClusterPlan(edition="pro", node_count=0), "cn-hangzhou")
    assert plan_digest(cluster) != plan_digest(a), "a node-less cluster is not a Serverless cluster"
    with pytest.raises(ValidationError, match="not in region"):
        normalise(ServerlessPlan(zone="cn-beijing-a"), "cn-hangzhou")
