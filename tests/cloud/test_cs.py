"""ContainerService against the sandbox: clusters are listed per region on that region's own CS endpoint."""

from __future__ import annotations

import uuid

from ack_compute.cloud.config import CloudConfig, product_endpoint
from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime


def test_list_clusters_pages_through_describe_clusters_for_region(runtime: Runtime, cloud: SandboxCloud) -> None:
    prefix = f"lc-{uuid.uuid4().hex[:6]}"
    planted = {cloud.plant_cluster(f"{prefix}-{i:03d}", nodes=0) for i in range(105)}
    elsewhere = cloud.plant_cluster(f"{prefix}-bj", region_id="cn-beijing", nodes=0)

    listed = runtime.cs.list_clusters(name=prefix, region="cn-hangzhou")

    assert {c.cluster_id for c in listed} == planted  # two pages of 100, one region only
    assert {c.region_id for c in listed} == {"cn-hangzhou"}
    assert cloud.counts()["DescribeClustersForRegion"] == 2
    assert "DescribeClustersV1" not in cloud.counts()
    (beijing,) = runtime.cs.list_clusters(name=f"{prefix}-bj", region="cn-beijing")
    assert (beijing.cluster_id, beijing.vswitch_ids) == (elsewhere, cloud.cluster(elsewhere).vswitch_ids)


def test_each_region_is_asked_on_its_own_endpoint(runtime: Runtime) -> None:
    """cs.{region}.aliyuncs.com (Alibaba's CS endpoint list); a mismatched endpoint is slower (2024 announcement)."""
    runtime.cs.list_clusters(region="cn-beijing")
    runtime.cs.list_clusters(region="cn-shanghai")

    built = runtime.cs._clients._clients  # the per-(product, region) client cache
    assert {("cs", "cn-beijing"), ("cs", "cn-shanghai")} <= set(built)
    assert built[("cs", "cn-beijing")]._region_id == "cn-beijing"
    public = CloudConfig(region="cn-beijing")
    assert product_endpoint("cs", public) == "cs.cn-beijing.aliyuncs.com"
