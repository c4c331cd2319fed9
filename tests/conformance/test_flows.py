"""The main flows, recorded on the wire: no decommissioned API is called, no deprecated or empty field is sent."""

from __future__ import annotations

from typing import Any

from ack_compute.sandbox import sdk_marks
from ack_compute.sandbox.cs.urls import DECOMMISSIONED


def empties(value: Any, path: str = "") -> list[str]:
    """Paths of None, empty lists and empty objects in a JSON body (Terraform's omitempty never sends them)."""
    if value is None or value == [] or value == {}:
        return [path or "(body)"]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in empties(item, f"{path}.{key}" if path else key)]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in empties(item, f"{path}[{index}]")]
    return []


def test_every_flow_went_through_the_proxy(flows) -> None:  # type: ignore[no-untyped-def]
    spans = {name: [e.action for e in flows.of(name)] for name in flows.spans}
    assert "CreateCluster" in spans["create a cluster"]
    assert "CreateCluster" in spans["create an ACK Serverless cluster"]
    assert "DescribeClustersForRegion" in spans["reuse by name"]
    assert "DescribeClustersForRegion" in spans["run_job by cluster name"]
    assert "DeleteCluster" in spans["cleanup"]
    addon_first = spans["deploy_acs installing ack-virtual-node first"]
    assert addon_first.count("InstallClusterAddons") == 1 and addon_first.index("ListAddons") < addon_first.index(
        "InstallClusterAddons"
    )
    print(f"\nrecorded {len(flows.exchanges)} OpenAPI requests in {len(spans)} flows")


def test_no_decommissioned_api_is_called(flows) -> None:  # type: ignore[no-untyped-def]
    """Alibaba's 2026 announcement decommissions these; the product must not depend on them."""
    called = {e.action for e in flows.exchanges}
    assert not called & set(DECOMMISSIONED)
    assert all(e.status != 404 or e.action not in DECOMMISSIONED for e in flows.exchanges)


def test_create_cluster_bodies_carry_no_deprecated_or_empty_field(flows) -> None:  # type: ignore[no-untyped-def]
    bodies = [e.json_body() for e in flows.exchanges if e.action == "CreateCluster"]
    assert len(bodies) == 2  # one ACK managed cluster, one ACK Serverless
    for body in bodies:
        found = sdk_marks.check_body(sdk_marks.CS_PACKAGE, "CreateClusterRequest", body)
        assert found == [], found
        assert empties(body) == []
        assert "zone_id" not in body and "service_discovery_types" not in body
    managed, serverless = bodies
    assert managed["nodepools"][0]["scaling_group"]["desired_size"] == 1
    assert serverless["profile"] == "Serverless" and serverless["addons"] == [{"name": "coredns"}]
    assert all(e.status == 200 for e in flows.exchanges if e.action == "CreateCluster")
