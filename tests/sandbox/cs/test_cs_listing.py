"""DescribeClustersForRegion and DescribeClusterDetail: filters, paging, planted clusters as CS sees them; and the
listing APIs Alibaba decommissioned in 2026 answer as APIs that no longer exist."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import pytest
from alibabacloud_cs20151215 import models as cs_models
from alibabacloud_cs20151215.client import Client as CsClient
from alibabacloud_tea_openapi.exceptions import ClientException

from ack_compute.sandbox import SandboxCloud
from ack_compute.sandbox.cs.urls import DECOMMISSIONED

if TYPE_CHECKING:
    from conftest import RawSigner


SCALE = 1000.0
pytestmark = pytest.mark.usefixtures("fast_clock")  # at SCALE (tests/sandbox/conftest.py)


def listing(
    cs: CsClient, region: str = "cn-hangzhou", **query: object
) -> cs_models.DescribeClustersForRegionResponseBody:
    request = cs_models.DescribeClustersForRegionRequest(**query)  # type: ignore[arg-type]
    return cs.describe_clusters_for_region(region, request).body


def test_23_clusters_page_by_ten_newest_first(cs: CsClient, cloud: SandboxCloud) -> None:
    prefix = f"page-{uuid.uuid4().hex[:6]}"
    vswitch_id = cloud.plant_vswitch(cloud.plant_vpc(f"{prefix}-vpc"))
    planted = [cloud.plant_cluster(f"{prefix}-{i:02d}", nodes=0, vswitch_id=vswitch_id) for i in range(23)]

    pages = [listing(cs, name=prefix, page_size=10, page_number=number) for number in (1, 2, 3, 4)]
    assert [len(page.clusters) for page in pages] == [10, 10, 3, 0]
    assert {page.page_info.total_count for page in pages} == {23}
    assert [page.page_info.page_number for page in pages] == [1, 2, 3, 4]
    seen = [cluster.cluster_id for page in pages for cluster in page.clusters]
    assert seen == list(reversed(planted))
    default = listing(cs, name=prefix)
    assert (default.page_info.page_size, len(default.clusters)) == (10, 10)


def test_items_carry_vswitch_ids_and_no_zone(cloud: SandboxCloud, signer: RawSigner) -> None:
    """The SDK's DescribeClustersForRegionResponseBodyClusters has vswitch_ids and no zone_id or master_url."""
    cluster_id = cloud.plant_cluster(f"items-{uuid.uuid4().hex[:6]}", nodes=0)
    path, query = "/regions/cn-hangzhou/clusters", {"page_size": "100"}
    headers = signer.headers("DescribeClustersForRegion", query, version="2015-12-15", method="GET", path=path)
    raw = signer.send(query, headers, method="GET", path=path).json()
    (item,) = [c for c in raw["clusters"] if c["cluster_id"] == cluster_id]
    assert item["vswitch_ids"] == cloud.cluster(cluster_id).vswitch_ids
    assert not {"zone_id", "vswitch_id", "master_url", "meta_data"} & set(item)


@pytest.mark.parametrize("action", DECOMMISSIONED)
def test_decommissioned_listing_and_upgrade_apis_are_refused(cs: CsClient, action: str) -> None:
    """Alibaba's 2026 announcement: no longer callable. The SDK still has the methods; the gateway says 404."""
    calls = {
        "DescribeClusters": lambda: cs.describe_clusters(cs_models.DescribeClustersRequest()),
        "DescribeClustersV1": lambda: cs.describe_clusters_v1(cs_models.DescribeClustersV1Request()),
        "GetUpgradeStatus": lambda: cs.get_upgrade_status("c0000"),
        "PauseClusterUpgrade": lambda: cs.pause_cluster_upgrade("c0000"),
        "CancelClusterUpgrade": lambda: cs.cancel_cluster_upgrade("c0000"),
        "ResumeUpgradeCluster": lambda: cs.resume_upgrade_cluster("c0000"),
    }
    with pytest.raises(ClientException) as raised:
        calls[action]()
    error = raised.value
    assert (error.status_code, error.code) == (404, "InvalidAction.NotFound")
    assert "Specified api is not found, please check your url and method." in error.message


def test_filters_by_spec_profile_region_and_type(cs: CsClient, cloud: SandboxCloud) -> None:
    prefix = f"filter-{uuid.uuid4().hex[:6]}"
    pro = cloud.plant_cluster(f"{prefix}-pro", cluster_spec="ack.pro.small", nodes=0)
    serverless = cloud.plant_cluster(f"{prefix}-ask", profile="Serverless", nodes=0)
    beijing = cloud.plant_cluster(f"{prefix}-bj", region_id="cn-beijing", nodes=0)

    def ids(**query: object) -> set[str]:
        return {cluster.cluster_id for cluster in listing(cs, name=prefix, **query).clusters}

    assert ids() == {pro, serverless}
    assert ids(cluster_spec="ack.pro.small") == {pro}
    assert ids(profile="Serverless") == {serverless}
    assert {c.cluster_id for c in listing(cs, "cn-beijing", name=prefix).clusters} == {beijing}
    assert ids(cluster_type="ManagedKubernetes") == {pro, serverless}
    assert ids(cluster_type="ExternalKubernetes") == set()
    assert ids(cluster_id=pro) == {pro}


def test_page_size_above_the_maximum_is_refused(cs: CsClient) -> None:
    with pytest.raises(ClientException) as raised:
        listing(cs, page_size=101)
    assert (raised.value.status_code, raised.value.code) == (400, "InvalidParameter")


def test_detail_of_a_planted_cluster(cs: CsClient, cloud: SandboxCloud) -> None:
    cluster_id = cloud.plant_cluster("someone-elses", nodes=3, tags={"team": "data"}, deletion_protection=True)

    detail = cs.describe_cluster_detail(cluster_id).body
    record = cloud.cluster(cluster_id)
    assert (detail.cluster_id, detail.name, detail.state, detail.size) == (cluster_id, "someone-elses", "running", 3)
    assert (detail.vpc_id, detail.vswitch_ids, detail.security_group_id) == (
        record.vpc_id,
        record.vswitch_ids,
        record.security_group_id,
    )
    assert (detail.container_cidr, detail.service_cidr) == (record.container_cidr, record.service_cidr)
    assert detail.deletion_protection is True and detail.current_version.endswith("-aliyun.1")
    assert [(tag.key, tag.value) for tag in detail.tags] == [("team", "data")]
    assert "intranet_api_server_endpoint" in json.loads(detail.master_url)
    assert detail.created.endswith("+08:00") and record.planted


def test_planted_failed_and_initial_clusters(cs: CsClient, cloud: SandboxCloud) -> None:
    failed = cloud.plant_cluster("broken", state="failed")
    starting = cloud.plant_cluster("starting", state="initial", nodes=1)

    assert cs.describe_cluster_detail(failed).body.state == "failed"
    assert cs.describe_cluster_detail(starting).body.state in ("initial", "running")
    (create_task,) = [task for task in cloud.tasks() if task.cluster_id == failed]
    assert (create_task.state, create_task.error is not None) == ("fail", True)
