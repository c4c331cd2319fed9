"""DescribeClustersV1 and DescribeClusterDetail: filters, paging across pages, and planted clusters as seen by CS."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from alibabacloud_cs20151215 import models as cs_models
from alibabacloud_cs20151215.client import Client as CsClient
from alibabacloud_tea_openapi.exceptions import ClientException

from ack_compute.sandbox import SandboxCloud

if TYPE_CHECKING:
    pass


@pytest.fixture(autouse=True, scope="module")
def _fast_clock(cloud: SandboxCloud) -> Iterator[None]:
    before, cloud.time_scale = cloud.time_scale, 1000.0
    yield
    cloud.time_scale = before


def listing(cs: CsClient, **query: object) -> cs_models.DescribeClustersV1ResponseBody:
    return cs.describe_clusters_v1(cs_models.DescribeClustersV1Request(**query)).body  # type: ignore[arg-type]


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


def test_filters_by_spec_profile_region_and_type(cs: CsClient, cloud: SandboxCloud) -> None:
    prefix = f"filter-{uuid.uuid4().hex[:6]}"
    pro = cloud.plant_cluster(f"{prefix}-pro", cluster_spec="ack.pro.small", nodes=0)
    serverless = cloud.plant_cluster(f"{prefix}-ask", profile="Serverless", nodes=0)
    beijing = cloud.plant_cluster(f"{prefix}-bj", region_id="cn-beijing", nodes=0)

    def ids(**query: object) -> set[str]:
        return {cluster.cluster_id for cluster in listing(cs, name=prefix, **query).clusters}

    assert ids() == {pro, serverless, beijing}
    assert ids(cluster_spec="ack.pro.small") == {pro}
    assert ids(profile="Serverless") == {serverless}
    assert ids(region_id="cn-beijing") == {beijing}
    assert ids(cluster_type="ManagedKubernetes") == {pro, serverless, beijing}
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
