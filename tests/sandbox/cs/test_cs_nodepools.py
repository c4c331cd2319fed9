"""ACK node pools through the real CS SDK: create, detail, resize both ways, remove nodes, delete, list nodes, and
the refusals, with the pool's nodes seen in the cluster's Kubernetes API through the real `kubernetes` client."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import yaml
from alibabacloud_cs20151215 import models as m
from alibabacloud_cs20151215.client import Client as CsClient
from alibabacloud_tea_openapi.exceptions import ClientException
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from ack_compute.sandbox import SandboxCloud
from tests.helpers.planting import plant_network
from tests.helpers.waiting import eventually

SCALE = 2000.0
GPU_TYPE = "ecs.gn7i-c8g1.2xlarge"
TAINT = ("nvidia.com/gpu", "true", "NoSchedule")


pytestmark = pytest.mark.usefixtures("fast_clock")  # at SCALE (tests/sandbox/conftest.py)


@pytest.fixture
def cluster_id(cloud: SandboxCloud) -> str:
    _, (vswitch_id,) = plant_network(cloud, "pools", "192.168.0.0/16", ("cn-hangzhou-i", "192.168.4.0/24"))
    return cloud.plant_cluster("pools", nodes=1, vswitch_id=vswitch_id)


def error_of(call: Callable[[], object]) -> tuple[int, str, str]:
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value.status_code, raised.value.code, str(raised.value.message)


def gpu_pool_request(cloud: SandboxCloud, cluster_id: str, size: int = 2) -> m.CreateClusterNodePoolRequest:
    return m.CreateClusterNodePoolRequest(
        nodepool_info=m.CreateClusterNodePoolRequestNodepoolInfo(name="gpu"),
        scaling_group=m.CreateClusterNodePoolRequestScalingGroup(
            vswitch_ids=cloud.cluster(cluster_id).vswitch_ids,
            instance_types=[GPU_TYPE],
            desired_size=size,
            key_pair="team-keys",
            spot_strategy="SpotAsPriceGo",
        ),
        kubernetes_config=m.CreateClusterNodePoolRequestKubernetesConfig(
            labels=[m.Tag(key="ack-compute/pool", value="gpu")],
            taints=[m.Taint(key=TAINT[0], value=TAINT[1], effect=TAINT[2])],
        ),
    )


def detail(cs: CsClient, cluster_id: str, pool_id: str) -> m.DescribeClusterNodePoolDetailResponseBody:
    return cs.describe_cluster_node_pool_detail(cluster_id, pool_id).body


def pool_state(cs: CsClient, cluster_id: str, pool_id: str) -> tuple[str, int, int]:
    status = detail(cs, cluster_id, pool_id).status
    return str(status.state), int(status.total_nodes), int(status.healthy_nodes)


def pool_nodes(
    cs: CsClient, cluster_id: str, pool_id: str, **query: str
) -> list[m.DescribeClusterNodesResponseBodyNodes]:
    request = m.DescribeClusterNodesRequest(nodepool_id=pool_id, page_size="100", **query)
    return list(cs.describe_cluster_nodes(cluster_id, request).body.nodes)


def resize(cs: CsClient, cluster_id: str, pool_id: str, size: int) -> str:
    request = m.ModifyClusterNodePoolRequest(
        scaling_group=m.ModifyClusterNodePoolRequestScalingGroup(desired_size=size)
    )
    return str(cs.modify_cluster_node_pool(cluster_id, pool_id, request).body.task_id)


def task_state(cs: CsClient, task_id: str) -> str:
    return str(cs.describe_task_info(task_id).body.state)


def kube_nodes(cs: CsClient, cluster_id: str) -> dict[str, k8s.V1Node]:
    text = cs.describe_cluster_user_kubeconfig(cluster_id, m.DescribeClusterUserKubeconfigRequest()).body.config
    configuration = k8s.Configuration()
    k8s_config.load_kube_config_from_dict(yaml.safe_load(text), client_configuration=configuration)
    with k8s.ApiClient(configuration) as api:
        return {node.metadata.name: node for node in k8s.CoreV1Api(api).list_node().items}


def test_a_gpu_pool_is_created_and_its_nodes_join_ready_with_labels_taints_and_gpus(
    cs: CsClient, cloud: SandboxCloud, cluster_id: str
) -> None:
    created = cs.create_cluster_node_pool(cluster_id, gpu_pool_request(cloud, cluster_id)).body
    pool_id = created.nodepool_id

    assert pool_state(cs, cluster_id, pool_id)[0] == "initial"
    eventually(lambda: pool_state(cs, cluster_id, pool_id) == ("active", 2, 2), timeout=10.0)
    assert task_state(cs, created.task_id) == "success"
    body = detail(cs, cluster_id, pool_id)
    assert (body.nodepool_info.name, body.scaling_group.desired_size, body.scaling_group.spot_strategy) == (
        "gpu",
        2,
        "SpotAsPriceGo",
    )
    assert [(t.key, t.value, t.effect) for t in body.kubernetes_config.taints] == [TAINT]
    nodes = pool_nodes(cs, cluster_id, pool_id)
    assert [(n.state, n.node_status, n.instance_type, n.nodepool_id) for n in nodes] == [
        ("running", "Ready", GPU_TYPE, pool_id)
    ] * 2
    seen = kube_nodes(cs, cluster_id)
    for node in nodes:
        kube = seen[node.node_name]
        assert kube.metadata.labels["ack-compute/pool"] == "gpu"
        assert kube.metadata.labels["alibabacloud.com/nodepool-id"] == pool_id
        assert [(t.key, t.value, t.effect) for t in kube.spec.taints or []] == [TAINT]
        assert kube.status.allocatable["nvidia.com/gpu"] == "1"
        assert {c.type: c.status for c in kube.status.conditions}["Ready"] == "True"


def test_a_pool_grows_then_shrinks_newest_first_and_the_nodes_leave_kubernetes(
    cs: CsClient, cloud: SandboxCloud, cluster_id: str
) -> None:
    pool_id = cs.create_cluster_node_pool(cluster_id, gpu_pool_request(cloud, cluster_id, 1)).body.nodepool_id
    eventually(lambda: pool_state(cs, cluster_id, pool_id) == ("active", 1, 1), timeout=10.0)
    first = pool_nodes(cs, cluster_id, pool_id)[0].instance_id

    grow = resize(cs, cluster_id, pool_id, 3)
    assert detail(cs, cluster_id, pool_id).status.state == "scaling"
    assert detail(cs, cluster_id, pool_id).scaling_group.desired_size == 3
    eventually(lambda: pool_state(cs, cluster_id, pool_id) == ("active", 3, 3), timeout=10.0)
    assert task_state(cs, grow) == "success"

    shrink = resize(cs, cluster_id, pool_id, 1)
    removing = pool_nodes(cs, cluster_id, pool_id, state="removing")
    assert detail(cs, cluster_id, pool_id).status.state == "removing" and len(removing) == 2
    eventually(lambda: pool_state(cs, cluster_id, pool_id) == ("active", 1, 1), timeout=10.0)
    assert task_state(cs, shrink) == "success"
    assert [n.instance_id for n in pool_nodes(cs, cluster_id, pool_id)] == [first]
    names = set(kube_nodes(cs, cluster_id))
    assert not names & {n.node_name for n in removing}


def test_removed_nodes_are_released_and_the_pool_deleted_with_force(
    cs: CsClient, cloud: SandboxCloud, cluster_id: str
) -> None:
    pool_id = cs.create_cluster_node_pool(cluster_id, gpu_pool_request(cloud, cluster_id, 2)).body.nodepool_id
    eventually(lambda: pool_state(cs, cluster_id, pool_id) == ("active", 2, 2), timeout=10.0)
    gone, kept = pool_nodes(cs, cluster_id, pool_id)

    request = m.RemoveNodePoolNodesRequest(instance_ids=[gone.instance_id], drain_node=True, release_node=True)
    task = cs.remove_node_pool_nodes(cluster_id, pool_id, request).body.task_id
    eventually(lambda: task_state(cs, task) == "success", timeout=10.0)
    assert pool_state(cs, cluster_id, pool_id) == ("active", 1, 1)
    assert detail(cs, cluster_id, pool_id).scaling_group.desired_size == 1
    assert [n.instance_id for n in pool_nodes(cs, cluster_id, pool_id)] == [kept.instance_id]
    assert next(n for n in cloud.cluster(cluster_id).nodes if n.instance_id == gone.instance_id).deleted is not None

    refused = error_of(lambda: cs.delete_cluster_nodepool(cluster_id, pool_id, m.DeleteClusterNodepoolRequest()))
    assert refused[:2] == (400, "InvalidParameter") and "force=true" in refused[2]
    task = cs.delete_cluster_nodepool(cluster_id, pool_id, m.DeleteClusterNodepoolRequest(force=True)).body.task_id
    assert detail(cs, cluster_id, pool_id).status.state == "deleting"
    eventually(lambda: task_state(cs, task) == "success", timeout=10.0)
    assert error_of(lambda: detail(cs, cluster_id, pool_id))[:2] == (404, "ErrorNodePoolNotFound")
    listed = cs.describe_cluster_node_pools(cluster_id, m.DescribeClusterNodePoolsRequest()).body.nodepools
    assert pool_id not in {p.nodepool_info.nodepool_id for p in listed}
    assert kept.node_name not in kube_nodes(cs, cluster_id)


def test_a_failed_scale_out_fails_its_task_and_keeps_the_pool(
    cs: CsClient, cloud: SandboxCloud, cluster_id: str
) -> None:
    pool_id = cs.create_cluster_node_pool(cluster_id, gpu_pool_request(cloud, cluster_id, 1)).body.nodepool_id
    eventually(lambda: pool_state(cs, cluster_id, pool_id) == ("active", 1, 1), timeout=10.0)
    cloud.fail_next_nodepool_scale("ScaleNodePoolFailed", "no GPU stock in the pool's zones")

    task = resize(cs, cluster_id, pool_id, 4)
    eventually(lambda: task_state(cs, task) == "fail", timeout=10.0)
    error = cs.describe_task_info(task).body.error
    assert (error.code, error.message) == ("ScaleNodePoolFailed", "no GPU stock in the pool's zones")
    assert pool_state(cs, cluster_id, pool_id) == ("active", 1, 1)
    assert detail(cs, cluster_id, pool_id).scaling_group.desired_size == 1


def test_cluster_nodes_are_paged_and_filtered(cs: CsClient, cloud: SandboxCloud, cluster_id: str) -> None:
    pool_id = cs.create_cluster_node_pool(cluster_id, gpu_pool_request(cloud, cluster_id, 2)).body.nodepool_id
    eventually(lambda: pool_state(cs, cluster_id, pool_id) == ("active", 2, 2), timeout=10.0)
    everything = cs.describe_cluster_nodes(cluster_id, m.DescribeClusterNodesRequest()).body
    assert everything.page.total_count == 3  # the planted default pool's node and the two new ones
    first = cs.describe_cluster_nodes(cluster_id, m.DescribeClusterNodesRequest(page_size="1", page_number="3")).body
    assert (len(first.nodes), first.page.page_number, first.page.page_size) == (1, 3, 1)
    ours = pool_nodes(cs, cluster_id, pool_id)
    assert {n.nodepool_id for n in ours} == {pool_id} and len(ours) == 2
    by_ip = pool_nodes(cs, cluster_id, pool_id, node_ips=ours[1].ip_address[0])
    assert [n.instance_id for n in by_ip] == [ours[1].instance_id]


def test_node_pool_calls_are_refused_where_the_cloud_refuses_them(
    cs: CsClient, cloud: SandboxCloud, cluster_id: str
) -> None:
    pool_id = cs.create_cluster_node_pool(cluster_id, gpu_pool_request(cloud, cluster_id, 1)).body.nodepool_id
    # Busy: a second change while the pool is still being created.
    assert error_of(lambda: resize(cs, cluster_id, pool_id, 2))[:2] == (400, "TaskConflict")
    eventually(lambda: pool_state(cs, cluster_id, pool_id) == ("active", 1, 1), timeout=10.0)

    assert error_of(lambda: detail(cs, cluster_id, "np-missing"))[:2] == (404, "ErrorNodePoolNotFound")
    assert error_of(lambda: resize(cs, "c-missing", pool_id, 2))[:2] == (404, "ErrorClusterNotFound")
    status, code, message = error_of(lambda: resize(cs, cluster_id, pool_id, 101))
    assert (status, code) == (400, "InvalidParameter") and "out of range" in message
    other = m.ModifyClusterNodePoolRequest(nodepool_info=m.ModifyClusterNodePoolRequestNodepoolInfo(name="renamed"))
    assert "nodepool_info.name" in error_of(lambda: cs.modify_cluster_node_pool(cluster_id, pool_id, other))[2]
    retired = m.RemoveNodePoolNodesRequest(nodes=["cn-hangzhou.192.168.4.9"], release_node=True)
    status, code, message = error_of(lambda: cs.remove_node_pool_nodes(cluster_id, pool_id, retired))
    assert (
        (status, code) == (400, "InvalidParameter") and "nodes is deprecated" in message and "instance_ids" in message
    )
    stranger = m.RemoveNodePoolNodesRequest(instance_ids=["i-notours"], drain_node=True, release_node=True)
    assert "i-notours" in error_of(lambda: cs.remove_node_pool_nodes(cluster_id, pool_id, stranger))[2]

    cloud.set_cluster_state(cluster_id, "updating")
    assert error_of(lambda: resize(cs, cluster_id, pool_id, 2))[:2] == (400, "ErrorClusterState")
    cloud.set_cluster_state(cluster_id, "running")

    serverless = cloud.plant_cluster("pools-serverless", profile="Serverless", nodes=0)
    status, code, message = error_of(
        lambda: cs.create_cluster_node_pool(serverless, gpu_pool_request(cloud, cluster_id))
    )
    assert (status, code) == (400, "InvalidParameter") and "ACS or ECI" in message


def test_new_nodes_take_the_first_instance_type_their_zone_sells(cs: CsClient, cloud: SandboxCloud) -> None:
    """cn-hangzhou-h does not sell the gn7i family (the sandbox's ECS catalog, as DescribeAvailableResource shows it):
    a pool listing a fallback type gets it; a pool with only the GPU type stays in creation with no node."""
    vpc_id = cloud.plant_vpc("pools-stock", cidr_block="192.168.0.0/16")
    vswitch_id = cloud.plant_vswitch(vpc_id, zone_id="cn-hangzhou-h", cidr_block="192.168.5.0/24")
    cluster_id = cloud.plant_cluster("pools-stock", nodes=0, vswitch_id=vswitch_id)

    fallback = gpu_pool_request(cloud, cluster_id, 1)
    fallback.scaling_group.instance_types = [GPU_TYPE, "ecs.g7.xlarge"]
    pool_id = cs.create_cluster_node_pool(cluster_id, fallback).body.nodepool_id
    eventually(lambda: pool_state(cs, cluster_id, pool_id) == ("active", 1, 1), timeout=10.0)
    assert [n.instance_type for n in pool_nodes(cs, cluster_id, pool_id)] == ["ecs.g7.xlarge"]

    only_gpu = gpu_pool_request(cloud, cluster_id, 1)
    only_gpu.nodepool_info.name = "gpu-only"
    created = cs.create_cluster_node_pool(cluster_id, only_gpu).body
    time.sleep(0.3)  # several provisioning rounds on the 2000x clock
    assert pool_state(cs, cluster_id, created.nodepool_id) == ("initial", 0, 0)
    assert task_state(cs, created.task_id) == "running"
    assert pool_nodes(cs, cluster_id, created.nodepool_id) == []


def test_a_pool_keeps_its_own_tag_where_the_cluster_has_the_same_key(cs: CsClient, cloud: SandboxCloud) -> None:
    """One value per tag key: the pool's own, then the cluster's tags for keys the pool does not set."""
    vpc_id = cloud.plant_vpc("tagged", cidr_block="192.168.0.0/16")
    vswitch_id = cloud.plant_vswitch(vpc_id, zone_id="cn-hangzhou-i", cidr_block="192.168.8.0/24")
    cluster_id = cloud.plant_cluster("tagged", nodes=1, vswitch_id=vswitch_id, tags={"team": "infra", "env": "dev"})
    request = gpu_pool_request(cloud, cluster_id, size=0)
    request.scaling_group.tags = [m.Tag(key="team", value="ml")]
    pool_id = cs.create_cluster_node_pool(cluster_id, request).body.nodepool_id
    tags = [(t.key, t.value) for t in detail(cs, cluster_id, pool_id).scaling_group.tags]
    assert sorted(tags) == [("env", "dev"), ("team", "ml")]
