"""ACK Serverless clusters through the real CS SDK: the Serverless CreateCluster body, virtual nodes, no node pools."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml
from alibabacloud_cs20151215 import models as cs_models
from alibabacloud_cs20151215.client import Client as CsClient
from alibabacloud_tea_openapi.exceptions import ClientException
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from ack_compute.sandbox import SandboxCloud
from tests.helpers.planting import plant_network
from tests.helpers.waiting import eventually

REGION = "cn-hangzhou"
SCALE = 2000.0
VIRTUAL_NODES = ["virtual-kubelet-cn-hangzhou-h", "virtual-kubelet-cn-hangzhou-k"]


pytestmark = pytest.mark.usefixtures("fast_clock")  # at SCALE (tests/sandbox/conftest.py)


@pytest.fixture
def network(cloud: SandboxCloud) -> tuple[str, list[str]]:
    return plant_network(
        cloud, "serverless", "10.0.0.0/8", ("cn-hangzhou-h", "10.1.0.0/24"), ("cn-hangzhou-k", "10.2.0.0/24")
    )


def serverless_request(network: tuple[str, list[str]], **overrides: Any) -> cs_models.CreateClusterRequest:
    """The body the ACK Serverless CreateCluster reference documents: no worker fields at all."""
    vpc_id, vswitch_ids = network
    fields: dict[str, Any] = {
        "name": "acf-serverless",
        "cluster_type": "ManagedKubernetes",
        "profile": "Serverless",
        "cluster_spec": "ack.pro.small",
        "region_id": REGION,
        "vpcid": vpc_id,
        "vswitch_ids": vswitch_ids,
        "service_cidr": "172.19.0.0/20",
        "addons": [cs_models.Addon(name="coredns")],  # service_discovery_types is deprecated (SDK mark)
        "endpoint_public_access": True,
        "snat_entry": True,
        "deletion_protection": False,
        "tags": [cs_models.Tag(key="ack-compute/owner", value="test")],
    }
    return cs_models.CreateClusterRequest(**(fields | overrides))


def state(cs: CsClient, cluster_id: str) -> str:
    return str(cs.describe_cluster_detail(cluster_id).body.state)


def addons(cs: CsClient, cluster_id: str) -> dict[str, tuple[str, str]]:
    body = cs.list_cluster_addon_instances(cluster_id).body
    return {str(addon.name): (str(addon.version), str(addon.state)) for addon in body.addons}


def error_of(call: Callable[[], object]) -> tuple[int, str, str]:
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value.status_code, raised.value.code, str(raised.value.message)


def test_serverless_cluster_runs_with_virtual_nodes_and_no_node_pools(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, list[str]]
) -> None:
    created = cs.create_cluster(serverless_request(network)).body
    cluster_id = created.cluster_id

    assert created.task_id.startswith("T-") and cloud.cluster(cluster_id).virtual_nodes == []
    eventually(lambda: state(cs, cluster_id) == "running")
    detail = cs.describe_cluster_detail(cluster_id).body
    assert (detail.cluster_type, detail.profile, detail.cluster_spec, detail.size) == (
        "ManagedKubernetes",
        "Serverless",
        "ack.pro.small",
        0,
    )
    assert (detail.vswitch_ids, detail.service_cidr, detail.container_cidr) == (network[1], "172.19.0.0/20", "")
    request = cs_models.DescribeClustersForRegionRequest(profile="Serverless", name="acf-serverless")
    listing = cs.describe_clusters_for_region("cn-hangzhou", request)
    assert cluster_id in {cluster.cluster_id for cluster in listing.body.clusters}
    assert {cluster.profile for cluster in listing.body.clusters} == {"Serverless"}
    pools = cs.describe_cluster_node_pools(cluster_id, cs_models.DescribeClusterNodePoolsRequest()).body
    assert pools.nodepools == []
    record = cloud.cluster(cluster_id)
    assert (record.nodepools, record.nodes, record.virtual_nodes) == ([], [], VIRTUAL_NODES)
    installed = addons(cs, cluster_id)
    assert set(installed) == {"coredns", "metrics-server", "ack-virtual-node"}
    assert installed["ack-virtual-node"] == ("v2.15.8", "active")


def test_serverless_virtual_nodes_are_visible_through_the_kubeconfig(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, list[str]]
) -> None:
    cluster_id = cs.create_cluster(serverless_request(network, name="acf-serverless-kube")).body.cluster_id
    eventually(lambda: state(cs, cluster_id) == "running")

    request = cs_models.DescribeClusterUserKubeconfigRequest(private_ip_address=True)
    text = cs.describe_cluster_user_kubeconfig(cluster_id, request).body.config
    configuration = k8s.Configuration()
    k8s_config.load_kube_config_from_dict(yaml.safe_load(text), client_configuration=configuration)
    with k8s.ApiClient(configuration) as api:
        core = k8s.CoreV1Api(api)
        eventually(lambda: {n.metadata.name for n in core.list_node().items} >= set(VIRTUAL_NODES))
        node = core.read_node(VIRTUAL_NODES[0])
    assert node.metadata.labels["type"] == "virtual-kubelet"
    assert node.metadata.labels["topology.kubernetes.io/zone"] == "cn-hangzhou-h"
    assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [
        ("virtual-kubelet.io/provider", "alibabacloud", "NoSchedule")
    ]


def test_coredns_can_be_disabled_as_an_addon(cs: CsClient, network: tuple[str, list[str]]) -> None:
    request = serverless_request(
        network, name="acf-serverless-pz", addons=[cs_models.Addon(name="coredns", disabled=True)]
    )
    cluster_id = cs.create_cluster(request).body.cluster_id

    assert set(addons(cs, cluster_id)) == {"metrics-server", "ack-virtual-node"}


def test_serverless_cluster_takes_no_node_pool(cs: CsClient, cloud: SandboxCloud) -> None:
    cluster_id = cloud.plant_cluster("serverless-pools", profile="Serverless", nodes=0)

    request = cs_models.CreateClusterNodePoolRequest(
        nodepool_info=cs_models.CreateClusterNodePoolRequestNodepoolInfo(name="workers"),
        scaling_group=cs_models.CreateClusterNodePoolRequestScalingGroup(
            instance_types=["ecs.g7.xlarge"], desired_size=1, key_pair="keys"
        ),
    )
    assert error_of(lambda: cs.create_cluster_node_pool(cluster_id, request))[:2] == (400, "InvalidParameter")
    assert cs.describe_cluster_node_pools(cluster_id, cs_models.DescribeClusterNodePoolsRequest()).body.nodepools == []
    assert cloud.cluster(cluster_id).virtual_nodes == [f"virtual-kubelet-{cloud.cluster(cluster_id).zone_id}"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"worker_instance_types": ["ecs.g7.xlarge"]}, "worker_instance_types is deprecated"),
        ({"num_of_nodes": 2}, "num_of_nodes is deprecated"),
        ({"nodepools": [cs_models.Nodepool(nodepool_info=cs_models.NodepoolNodepoolInfo(name="w"))]}, "no worker"),
        ({"vswitch_ids": []}, "vswitch_ids must list 1 to 3"),
        ({"vpcid": None}, "vpcid is required"),
        ({"service_discovery_types": ["Consul"]}, "service_discovery_types is deprecated"),
        ({"logging_type": "ES"}, "logging_type is deprecated"),
        ({"zone_id": "cn-beijing-a"}, "zone_id is deprecated"),
        ({"profile": "Edgy"}, "profile"),
        ({"addons": [cs_models.Addon(name="flannel")]}, "does not apply to Serverless"),
        ({"addons": [cs_models.Addon(name="ack-virtual-node", version="v2.12.0")]}, "v2.13.0 or later"),
        ({"service_cidr": "10.3.0.0/20"}, "overlaps the VPC"),
    ],
)
def test_bad_serverless_bodies_are_refused(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, list[str]], overrides: dict[str, Any], message: str
) -> None:
    before = len(cloud.clusters())

    status, code, text = error_of(lambda: cs.create_cluster(serverless_request(network, **overrides)))
    assert (status, code) == (400, "InvalidParameter") and message in text, text
    assert len(cloud.clusters()) == before
