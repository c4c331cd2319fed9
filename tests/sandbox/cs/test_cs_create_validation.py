"""CreateCluster's rules through the real CS SDK: each broken rule is refused with a ROA error and creates nothing."""

from __future__ import annotations

from typing import Any

import pytest
from alibabacloud_cs20151215 import models as cs_models
from alibabacloud_cs20151215.client import Client as CsClient
from alibabacloud_tea_openapi.exceptions import ClientException

from ack_compute.sandbox import SandboxCloud
from tests.helpers.cs_requests import managed_cluster_request, worker_pool
from tests.helpers.planting import plant_network

PASSWORD = "Hello@1234"


SCALE = 1000.0
pytestmark = pytest.mark.usefixtures("fast_clock")  # at SCALE (tests/sandbox/conftest.py)


@pytest.fixture
def network(cloud: SandboxCloud) -> tuple[str, str]:
    vpc_id, (vswitch_id,) = plant_network(cloud, "validation", "192.168.0.0/16", ("cn-hangzhou-h", "192.168.1.0/24"))
    return vpc_id, vswitch_id


def pool(vswitch_id: str, **scaling: Any) -> cs_models.Nodepool:
    group: dict[str, Any] = {
        "vswitch_ids": [vswitch_id],
        "instance_types": ["ecs.g7.xlarge"],
        "desired_size": 2,
        "system_disk_category": "cloud_essd",
        "system_disk_size": 120,
        "login_password": PASSWORD,
    }
    return worker_pool("workers", cs_models.NodepoolScalingGroup(**(group | scaling)))


def cluster_request(network: tuple[str, str], **overrides: Any) -> cs_models.CreateClusterRequest:
    vpc_id, vswitch_id = network
    return managed_cluster_request("acf-validation", vpc_id, [vswitch_id], [pool(vswitch_id)], **overrides)


def refused(cs: CsClient, cloud: SandboxCloud, request: cs_models.CreateClusterRequest) -> str:
    """The InvalidParameter message, after checking that nothing was created."""
    before = len(cloud.clusters())
    with pytest.raises(ClientException) as raised:
        cs.create_cluster(request)
    assert (raised.value.status_code, raised.value.code) == (400, "InvalidParameter")
    assert raised.value.request_id
    assert len(cloud.clusters()) == before
    return str(raised.value.message)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"name": None}, "name is required"),
        ({"name": "-starts-with-hyphen"}, "name"),
        ({"name": "has_underscore"}, "name"),
        ({"name": "x" * 64}, "name"),
        ({"cluster_type": "Kubernetes"}, "cluster_type"),
        ({"cluster_spec": "ack.pro.huge"}, "cluster_spec"),
        ({"profile": "Edge"}, "profile"),
        ({"region_id": None}, "region_id"),
        ({"region_id": "mars-1"}, "region_id"),
        ({"kubernetes_version": "1.20.4-aliyun.1"}, "kubernetes_version"),
        ({"vpcid": None}, "vpcid"),
        ({"vpcid": "vpc-bp1doesnotexist0000"}, "vpc"),
        ({"vswitch_ids": []}, "vswitch_ids"),
        ({"vswitch_ids": ["vsw-bp1doesnotexist0000"]}, "vswitch"),
        ({"container_cidr": "192.168.128.0/20"}, "overlaps the VPC"),
        ({"container_cidr": "172.21.0.0/16"}, "overlaps service_cidr"),
        ({"container_cidr": "8.8.0.0/16"}, "container_cidr"),
        ({"container_cidr": None}, "container_cidr is required"),
        ({"service_cidr": "192.168.200.0/24"}, "service_cidr"),
        ({"service_cidr": None}, "service_cidr is required"),
        ({"security_group_id": "sg-bp1doesnotexist00"}, "security_group_id"),
        ({"tags": [cs_models.Tag(key="aliyun:owner", value="x")]}, "tag key"),
        ({"tags": [cs_models.Tag(key=f"k{i}", value="v") for i in range(21)]}, "at most 20"),
    ],
)
def test_cluster_rules(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, str], overrides: dict[str, Any], fragment: str
) -> None:
    assert fragment in refused(cs, cloud, cluster_request(network, **overrides))


@pytest.mark.parametrize(
    ("scaling", "fragment"),
    [
        ({"desired_size": 101}, "desired_size"),
        ({"desired_size": -1}, "desired_size"),
        ({"system_disk_size": 39}, "system_disk_size"),
        ({"system_disk_size": 501}, "system_disk_size"),
        ({"system_disk_category": "cloud_magic"}, "system_disk_category"),
        ({"instance_types": ["ecs.x9.colossal"]}, "instance type"),
        ({"instance_types": []}, "instance_types"),
        ({"vswitch_ids": ["vsw-bp1doesnotexist0000"]}, "vswitch"),
        ({"login_password": "Sh0rt!"}, "login_password"),
        ({"login_password": "onlylowercase123"}, "login_password"),
        ({"login_password": "x" * 28 + "A1!"}, "login_password"),
        ({"key_pair": "my-keys"}, "mutually exclusive"),
        ({"login_password": None}, "login_password or key_pair"),
    ],
)
def test_node_pool_rules(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, str], scaling: dict[str, Any], fragment: str
) -> None:
    request = cluster_request(network, nodepools=[pool(network[1], **scaling)])
    assert fragment in refused(cs, cloud, request)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"zone_id": "cn-hangzhou-h"}, "zone_id is deprecated and no longer accepted. Use the `zone_ids` parameter"),
        ({"num_of_nodes": 2}, "num_of_nodes is deprecated and no longer accepted. Use the desired_size parameter"),
        ({"worker_instance_types": ["ecs.g7.large"]}, "worker_instance_types is deprecated"),
        ({"worker_system_disk_size": 120}, "worker_system_disk_size is deprecated"),
        ({"login_password": PASSWORD}, "login_password is deprecated"),
        ({"key_pair": "my-keys"}, "key_pair is deprecated"),
        ({"taints": []}, "taints is deprecated and no longer accepted. For node pool configuration, use the taints"),
        ({"service_discovery_types": ["CoreDNS"]}, "service_discovery_types is deprecated"),
        ({"auto_renew": True}, "auto_renew is deprecated and no longer accepted. Leave it out."),
        ({"zone_id": "cn-hangzhou-h", "num_of_nodes": 2}, "(also deprecated: zone_id)"),
    ],
)
def test_fields_the_sdk_marks_deprecated_are_refused(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, str], overrides: dict[str, Any], fragment: str
) -> None:
    """Alibaba's 2026 announcement: deprecated CreateCluster parameters are invalid or a 400, even empty ones."""
    assert fragment in refused(cs, cloud, cluster_request(network, **overrides))


def test_deprecated_fields_inside_node_pools_are_refused(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, str]
) -> None:
    legacy = pool(network[1])
    legacy.count = 2  # Nodepool.count: "**[Deprecated]** Use `desired_size` instead."
    assert "nodepools[0].count is deprecated" in refused(cs, cloud, cluster_request(network, nodepools=[legacy]))


def test_vswitch_of_another_vpc_and_too_many_vswitches(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, str]
) -> None:
    elsewhere = cloud.plant_vswitch(cloud.plant_vpc("elsewhere", cidr_block="10.0.0.0/16"))
    assert "does not exist in vpc" in refused(cs, cloud, cluster_request(network, vswitch_ids=[elsewhere]))
    vpc_id, vswitch_id = network
    extra = [cloud.plant_vswitch(vpc_id) for _ in range(3)]
    assert "1 to 3" in refused(cs, cloud, cluster_request(network, vswitch_ids=[vswitch_id, *extra]))


def test_cidrs_must_not_overlap_another_cluster_in_the_vpc(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, str]
) -> None:
    cs.create_cluster(cluster_request(network, name="first"))
    again = cluster_request(network, name="second", service_cidr="172.22.0.0/20")
    assert "another cluster" in refused(cs, cloud, again)


def test_chinese_names_key_pairs_and_pro_clusters_are_accepted(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, str]
) -> None:
    request = cluster_request(
        network,
        name="托管集群-1",
        cluster_spec="ack.pro.small",
        nodepools=[pool(network[1], login_password=None, key_pair="my-keys")],
    )
    created = cs.create_cluster(request).body
    assert created.cluster_id.startswith("c") and len(created.cluster_id) == 33
    assert created.task_id.startswith("T-") and created.request_id
    assert cloud.cluster(created.cluster_id).cluster_spec == "ack.pro.small"


def test_body_that_is_not_an_object_is_refused(signer: Any) -> None:
    headers = signer.headers("CreateCluster", {}, version="2015-12-15", path="/clusters", body=b"[1, 2]")
    response = signer.send({}, headers, path="/clusters", body=b"[1, 2]")

    body = response.json()
    assert (response.status_code, body["code"], body["status"]) == (400, "InvalidParameter", 400)
    assert body["requestId"] == response.headers["x-acs-request-id"]
