"""NodePoolService against the sandbox through the real CS SDK, the pool's nodes seen through the real `kubernetes`
client: create a GPU pool, its nodes Ready with the pool's labels and taints, a GPU Job placed there, resize both
ways, remove nodes, delete; and the answers an agent would see for what the cloud refuses."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from ack_compute.cloud import node_pools
from ack_compute.cloud.cs import ContainerService
from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.node_pools import NodePoolConfig, NodePoolService, TaintSpec
from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from tests.helpers.waiting import eventually

GPU_TYPE = "ecs.gn7i-c8g1.2xlarge"
GPU_TAINT = TaintSpec(key="nvidia.com/gpu", value="true", effect="NoSchedule")
LABELS = {"ack-compute/pool": "gpu"}


@pytest.fixture
def runtime(fast_cloud: SandboxCloud, runtime_on: Callable[..., Runtime]) -> Runtime:
    return runtime_on(fast_cloud)


@pytest.fixture
def pools(runtime: Runtime) -> NodePoolService:
    return NodePoolService(runtime.clients)


@pytest.fixture
def cluster(fast_cloud: SandboxCloud) -> tuple[str, list[str]]:
    """A cluster someone else made, with one node in its default pool, in a zone that sells the GPU type."""
    vpc_id = fast_cloud.plant_vpc(f"np-{time.monotonic_ns()}", cidr_block="192.168.0.0/16")
    vswitch_id = fast_cloud.plant_vswitch(vpc_id, zone_id="cn-hangzhou-i", cidr_block="192.168.8.0/24")
    return fast_cloud.plant_cluster("team", nodes=1, vswitch_id=vswitch_id), [vswitch_id]


def gpu_config(vswitch_ids: list[str], size: int = 2, name: str = "gpu") -> NodePoolConfig:
    return NodePoolConfig(
        name=name,
        instance_types=[GPU_TYPE],
        desired_size=size,
        vswitch_ids=vswitch_ids,
        labels=LABELS,
        taints=[GPU_TAINT],
        tags={"ack-compute/owner": "test"},
        key_pair="team-keys",
    )


def task_done(cs: ContainerService, task_id: str) -> Callable[[], bool]:
    return lambda: cs.describe_task(task_id).state in ("success", "fail")


def ready_pool(runtime: Runtime, pools: NodePoolService, cluster: tuple[str, list[str]], size: int) -> tuple[str, str]:
    """A GPU pool of `size` nodes in the test cluster, its creation task finished: (cluster id, pool id)."""
    cluster_id, vswitch_ids = cluster
    pool_id, task_id = pools.create(cluster_id, gpu_config(vswitch_ids, size=size))
    eventually(task_done(runtime.cs, task_id), timeout=20.0)
    return cluster_id, pool_id


def core_api(runtime: Runtime, cluster_id: str) -> k8s.CoreV1Api:
    # The longest kubeconfig ACK issues (4320 minutes): the sandbox's clock runs 2000 times faster here.
    kubeconfig = runtime.cs.user_kubeconfig(cluster_id, private=True, minutes=4320)
    text = kubeconfig.config.get_secret_value()
    configuration = k8s.Configuration()
    k8s_config.load_kube_config_from_dict(yaml.safe_load(text), client_configuration=configuration)
    return k8s.CoreV1Api(k8s.ApiClient(configuration))


def test_a_gpu_pool_is_created_ready_labelled_tainted_and_a_gpu_job_lands_there(
    runtime: Runtime, pools: NodePoolService, cluster: tuple[str, list[str]], fast_cloud: SandboxCloud
) -> None:
    cluster_id, vswitch_ids = cluster
    pool_id, task_id = pools.create(cluster_id, gpu_config(vswitch_ids))

    eventually(task_done(runtime.cs, task_id), timeout=20.0)
    assert runtime.cs.describe_task(task_id).state == "success"
    pool = pools.get(cluster_id, pool_id)
    assert (pool.name, pool.state, pool.desired_size, pool.total_nodes, pool.healthy_nodes) == (
        "gpu",
        "active",
        2,
        2,
        2,
    )
    assert (pool.instance_types, pool.labels, pool.taints, pool.is_default) == ([GPU_TYPE], LABELS, [GPU_TAINT], False)
    assert pool.tags["ack-compute/owner"] == "test" and pool.spot_strategy == "NoSpot"
    assert pool.vswitch_ids == vswitch_ids
    assert [p.nodepool_id for p in pools.list(cluster_id, name="gpu")] == [pool_id]
    assert pools.list(cluster_id, name="gp") == []  # the name is matched exactly
    nodes = pools.nodes(cluster_id, pool_id)
    assert [(n.state, n.node_status, n.instance_type, n.nodepool_id) for n in nodes] == [
        ("running", "Ready", GPU_TYPE, pool_id)
    ] * 2
    assert all(n.ip and n.instance_id.startswith("i-") for n in nodes)

    core = core_api(runtime, cluster_id)
    seen = {node.metadata.name: node for node in core.list_node().items}
    for node in nodes:
        kube = seen[node.node_name]
        assert kube.metadata.labels["ack-compute/pool"] == "gpu"
        assert [(t.key, t.value, t.effect) for t in kube.spec.taints] == [("nvidia.com/gpu", "true", "NoSchedule")]
        assert kube.status.allocatable["nvidia.com/gpu"] == "1"
        assert {c.type: c.status for c in kube.status.conditions}["Ready"] == "True"

    job = k8s.V1Job(
        metadata=k8s.V1ObjectMeta(name="gpu-job"),
        spec=k8s.V1JobSpec(
            template=k8s.V1PodTemplateSpec(
                spec=k8s.V1PodSpec(
                    restart_policy="Never",
                    node_selector=LABELS,
                    tolerations=[k8s.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")],
                    containers=[
                        k8s.V1Container(
                            name="train",
                            image="busybox",
                            command=["true"],
                            resources=k8s.V1ResourceRequirements(limits={"nvidia.com/gpu": "1"}),
                        )
                    ],
                )
            )
        ),
    )
    k8s.BatchV1Api(core.api_client).create_namespaced_job("default", job)

    def bound() -> str | None:
        pods = core.list_namespaced_pod("default", label_selector="job-name=gpu-job").items
        return pods[0].spec.node_name if pods else None

    eventually(lambda: bound() is not None, timeout=20.0)
    assert bound() in {n.node_name for n in nodes}


def test_a_pool_is_resized_both_ways_loses_chosen_nodes_and_is_deleted(
    runtime: Runtime, pools: NodePoolService, cluster: tuple[str, list[str]], fast_cloud: SandboxCloud
) -> None:
    cluster_id, pool_id = ready_pool(runtime, pools, cluster, size=1)

    grow = pools.scale(cluster_id, pool_id, 3)
    assert grow and pools.get(cluster_id, pool_id).state == "scaling"
    eventually(task_done(runtime.cs, grow), timeout=20.0)
    assert (pools.get(cluster_id, pool_id).state, len(pools.nodes(cluster_id, pool_id))) == ("active", 3)

    shrink = pools.scale(cluster_id, pool_id, 2)
    assert shrink and pools.get(cluster_id, pool_id).state == "removing"
    eventually(task_done(runtime.cs, shrink), timeout=20.0)
    remaining = pools.nodes(cluster_id, pool_id)
    assert len(remaining) == 2 and pools.get(cluster_id, pool_id).desired_size == 2

    task = pools.remove_nodes(cluster_id, pool_id, [remaining[0].instance_id])
    eventually(task_done(runtime.cs, task), timeout=20.0)
    after = pools.get(cluster_id, pool_id)
    assert (after.state, after.desired_size, after.total_nodes) == ("active", 1, 1)
    assert [n.instance_id for n in pools.nodes(cluster_id, pool_id)] == [remaining[1].instance_id]
    names = {node.metadata.name for node in core_api(runtime, cluster_id).list_node().items}
    assert remaining[0].node_name not in names and remaining[1].node_name in names

    task = pools.delete(cluster_id, pool_id)
    eventually(task_done(runtime.cs, task), timeout=20.0)
    with pytest.raises(CloudError) as gone:
        pools.get(cluster_id, pool_id)
    assert gone.value.is_not_found and gone.value.code == "ErrorNodePoolNotFound"
    assert pools.delete(cluster_id, pool_id) == ""  # a repeat finds it gone: done, not an error
    assert pools.list(cluster_id, name="gpu") == []
    assert [p.name for p in pools.list(cluster_id)] == ["default-nodepool"]  # the team's pool is untouched


def test_a_failed_scale_is_a_failed_task_and_the_pool_keeps_its_nodes(
    runtime: Runtime, pools: NodePoolService, cluster: tuple[str, list[str]], fast_cloud: SandboxCloud
) -> None:
    cluster_id, pool_id = ready_pool(runtime, pools, cluster, size=1)
    fast_cloud.fail_next_nodepool_scale("ScaleNodePoolFailed", "no GPU stock in the pool's zones")

    task = pools.scale(cluster_id, pool_id, 3)
    assert task is not None
    eventually(task_done(runtime.cs, task), timeout=20.0)
    info = runtime.cs.describe_task(task)
    assert (info.state, info.error_code, info.error_message) == (
        "fail",
        "ScaleNodePoolFailed",
        "no GPU stock in the pool's zones",
    )
    pool = pools.get(cluster_id, pool_id)
    assert (pool.state, pool.desired_size, pool.healthy_nodes) == ("active", 1, 1)


def test_refusals_read_as_the_cloud_gives_them(
    runtime: Runtime, pools: NodePoolService, cluster: tuple[str, list[str]], fast_cloud: SandboxCloud
) -> None:
    cluster_id, vswitch_ids = cluster
    serverless = fast_cloud.plant_cluster("team-serverless", profile="Serverless", nodes=0)
    with pytest.raises(CloudError) as refused:
        pools.create(serverless, gpu_config(vswitch_ids))
    assert (refused.value.code, refused.value.status) == ("InvalidParameter", 400)
    assert "ACK Serverless clusters have no node pools" in refused.value.message

    with pytest.raises(CloudError) as missing:
        pools.scale(cluster_id, "np-missing", 2)
    assert missing.value.is_not_found

    fast_cloud.set_nodes_ready(cluster_id, False)  # new nodes never turn Ready: the pool stays in creation
    pool_id, task_id = pools.create(cluster_id, gpu_config(vswitch_ids, size=1, name="busy"))
    with pytest.raises(CloudError) as busy:
        pools.scale(cluster_id, pool_id, 2)
    assert (busy.value.code, busy.value.attempts) == ("TaskConflict", 4)  # transient: retried, then given up
    assert busy.value.message == f"node pool {pool_id} is initial; wait for its current task to finish"
    fast_cloud.set_nodes_ready(cluster_id, True)
    eventually(task_done(runtime.cs, task_id), timeout=20.0)
    assert pools.get(cluster_id, pool_id).state == "active"

    with pytest.raises(ValueError, match="at least one instance"):
        pools.remove_nodes(cluster_id, pool_id, [])
    before = fast_cloud.counts().get("ModifyClusterNodePool", 0)
    with pytest.raises(ValueError, match="0 or more"):
        pools.scale(cluster_id, pool_id, -1)
    assert fast_cloud.counts().get("ModifyClusterNodePool", 0) == before  # refused before any cloud call


def test_nodes_are_read_across_pages(
    runtime: Runtime,
    pools: NodePoolService,
    cluster: tuple[str, list[str]],
    fast_cloud: SandboxCloud,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster_id, pool_id = ready_pool(runtime, pools, cluster, size=3)
    monkeypatch.setattr(node_pools, "NODES_PAGE_SIZE", 2)  # real pools hold at most 100: shrink the page instead
    fast_cloud.reset_counts()

    nodes = pools.nodes(cluster_id, pool_id)

    assert len({n.instance_id for n in nodes}) == 3 and {n.nodepool_id for n in nodes} == {pool_id}
    assert fast_cloud.counts()["DescribeClusterNodes"] == 2
