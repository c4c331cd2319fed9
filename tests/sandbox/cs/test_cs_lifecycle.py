"""Cluster lifecycles through the real CS SDK: creation, tasks, nodes, node pools, failures and deletion."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from alibabacloud_cs20151215 import models as cs_models
from alibabacloud_cs20151215.client import Client as CsClient
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_vpc20160428 import models as vpc_models

from ack_compute.sandbox import SandboxCloud
from tests.helpers.cs_requests import managed_cluster_request, worker_pool
from tests.helpers.planting import plant_network
from tests.helpers.waiting import eventually

if TYPE_CHECKING:
    from conftest import Clients

REGION = "cn-hangzhou"
SCALE = 2000.0


pytestmark = pytest.mark.usefixtures("fast_clock")  # at SCALE (tests/sandbox/conftest.py)


@pytest.fixture
def network(cloud: SandboxCloud) -> tuple[str, str]:
    vpc_id, (vswitch_id,) = plant_network(cloud, "lifecycle", "192.168.0.0/16", ("cn-hangzhou-i", "192.168.7.0/24"))
    return vpc_id, vswitch_id


def create(
    cs: CsClient, network: tuple[str, str], nodes: int = 2, **overrides: Any
) -> cs_models.CreateClusterResponseBody:
    vpc_id, vswitch_id = network
    scaling = cs_models.NodepoolScalingGroup(
        vswitch_ids=[vswitch_id],
        instance_types=["ecs.g7.xlarge"],
        desired_size=nodes,
        system_disk_category="cloud_essd",
        system_disk_size=120,
        tags=[cs_models.NodepoolScalingGroupTags(key="pool", value="workers")],
        login_password=f"Aa1!{secrets.token_hex(6)}",  # throwaway, valid by the API's rules
    )
    fields: dict[str, Any] = {
        "is_enterprise_security_group": True,
        "tags": [cs_models.Tag(key="ack-compute/owner", value="test")],
    }
    request = managed_cluster_request(
        "acf-lifecycle", vpc_id, [vswitch_id], [worker_pool("workers", scaling)], **(fields | overrides)
    )
    return cs.create_cluster(request).body


def state(cs: CsClient, cluster_id: str) -> str:
    return str(cs.describe_cluster_detail(cluster_id).body.state)


def task(cs: CsClient, task_id: str) -> cs_models.DescribeTaskInfoResponseBody:
    return cs.describe_task_info(task_id).body


def not_found(cs: CsClient, cluster_id: str) -> bool:
    """Deleted clusters answer `deleted` for a while, then ErrorClusterNotFound."""
    try:
        assert state(cs, cluster_id) == "deleted"
    except ClientException as error:
        return (error.status_code, error.code) == (404, "ErrorClusterNotFound")
    return False


def error_of(call: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value.status_code, raised.value.code


def test_creation_runs_through_its_stages_to_running(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, str]
) -> None:
    created = create(cs, network)

    detail = cs.describe_cluster_detail(created.cluster_id).body
    assert (detail.state, detail.size, detail.cluster_type, detail.profile) == (
        "initial",
        0,
        "ManagedKubernetes",
        "Default",
    )
    assert (detail.vpc_id, detail.vswitch_ids, detail.region_id) == (network[0], [network[1]], REGION)
    assert [(tag.key, tag.value) for tag in detail.tags] == [("ack-compute/owner", "test")]
    started = task(cs, created.task_id)
    assert (started.state, started.task_type, started.target.id) == ("running", "cluster_create", created.cluster_id)
    assert started.current_stage and started.stages[-1].state == "running"

    eventually(lambda: state(cs, created.cluster_id) == "running")
    finished = task(cs, created.task_id)
    assert finished.state == "success" and finished.error is None
    assert [stage.state for stage in finished.stages] == ["success"] * 3
    assert all(stage.end_time for stage in finished.stages) and finished.events
    assert cs.describe_cluster_detail(created.cluster_id).body.size == 2


def test_nodes_boot_ready_named_like_ack_nodes_in_their_vswitch(
    cs: CsClient, cloud: SandboxCloud, clients: Clients, network: tuple[str, str]
) -> None:
    created = create(cs, network, nodes=3)
    eventually(
        lambda: (
            len(cloud.cluster(created.cluster_id).nodes) == 3  # all() of no nodes yet would be vacuously true
            and all(node.ready for node in cloud.cluster(created.cluster_id).nodes)
            and state(cs, created.cluster_id) == "running"
        )
    )

    nodes = cloud.cluster(created.cluster_id).nodes
    assert len(nodes) == 3 and all(node.name == f"{REGION}.{node.private_ip}" for node in nodes)
    assert all(node.private_ip.startswith("192.168.7.") and node.zone_id == "cn-hangzhou-i" for node in nodes)
    assert all(node.instance_id.startswith("i-") and node.instance_type == "ecs.g7.xlarge" for node in nodes)
    listed = clients.vpc().describe_vswitches(vpc_models.DescribeVSwitchesRequest(v_switch_id=network[1])).body
    assert listed.v_switches.v_switch[0].available_ip_address_count == 252 - 3
    pools = cs.describe_cluster_node_pools(
        created.cluster_id, cs_models.DescribeClusterNodePoolsRequest()
    ).body.nodepools
    (pool,) = pools
    assert (pool.nodepool_info.name, pool.nodepool_info.is_default, pool.scaling_group.desired_size) == (
        "workers",
        True,
        3,
    )
    assert pool.nodepool_info.nodepool_id.startswith("np") and pool.scaling_group.instance_types == ["ecs.g7.xlarge"]
    assert (pool.status.state, pool.status.total_nodes, pool.status.healthy_nodes) == ("active", 3, 3)
    assert {(tag.key, tag.value) for tag in pool.scaling_group.tags} >= {
        ("pool", "workers"),
        ("ack-compute/owner", "test"),
    }


def test_stalled_nodes_join_but_stay_not_ready_until_released(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, str]
) -> None:
    cloud.stall_next_cluster_nodes()
    created = create(cs, network)
    eventually(lambda: state(cs, created.cluster_id) == "running")
    time.sleep(300 / SCALE)

    nodes = cloud.cluster(created.cluster_id).nodes
    assert len(nodes) == 2 and all(node.joined and not node.ready for node in nodes)
    pool = cs.describe_cluster_node_pools(
        created.cluster_id, cs_models.DescribeClusterNodePoolsRequest()
    ).body.nodepools[0]
    assert (pool.status.state, pool.status.initial_nodes) == ("initial", 2)
    cloud.set_nodes_ready(created.cluster_id)
    assert all(node.ready for node in cloud.cluster(created.cluster_id).nodes)


def test_injected_creation_failure_ends_failed_with_the_task_error(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, str]
) -> None:
    cloud.fail_next_cluster_creation("QuotaExceeded.Node", "the node quota of the account is exhausted")
    created = create(cs, network)

    eventually(lambda: state(cs, created.cluster_id) == "failed")
    failed = task(cs, created.task_id)
    assert failed.state == "fail"
    assert (failed.error.code, failed.error.message) == (
        "QuotaExceeded.Node",
        "the node quota of the account is exhausted",
    )
    assert failed.stages[-1].state == "failed"
    assert cloud.cluster(created.cluster_id).nodes == []
    second = create(cs, network, name="acf-after-failure", container_cidr="172.30.0.0/16", service_cidr="172.29.0.0/20")
    eventually(lambda: state(cs, second.cluster_id) == "running")


def test_deletion_releases_what_ack_created_and_leaves_the_network(
    cs: CsClient, cloud: SandboxCloud, clients: Clients, network: tuple[str, str]
) -> None:
    created = create(cs, network)
    eventually(lambda: state(cs, created.cluster_id) == "running")
    group_id = cloud.cluster(created.cluster_id).security_group_id
    (group,) = [g for g in cloud.security_groups() if g.security_group_id == group_id]
    assert (group.security_group_type, group.created_by_cluster) == ("enterprise", created.cluster_id)
    assert [(t.key, t.value) for t in group.tags] == [("ack-compute/owner", "test")]

    deleted = cs.delete_cluster(created.cluster_id, cs_models.DeleteClusterRequest(retain_all_resources=False))
    assert deleted.status_code == 202
    assert (deleted.body.cluster_id, deleted.body.task_id.startswith("T-")) == (created.cluster_id, True)
    assert state(cs, created.cluster_id) == "deleting"
    eventually(lambda: cloud.cluster(created.cluster_id).state == "deleted")

    assert task(cs, deleted.body.task_id).state == "success"
    assert created.cluster_id not in {
        c.cluster_id
        for c in cs.describe_clusters_for_region(
            "cn-hangzhou", cs_models.DescribeClustersForRegionRequest(page_size=100)
        ).body.clusters
    }
    eventually(lambda: not_found(cs, created.cluster_id))
    record = cloud.cluster(created.cluster_id)
    assert record.deleted is not None and all(node.deleted is not None for node in record.nodes)
    assert [g.deleted is not None for g in cloud.security_groups() if g.security_group_id == group_id] == [True]
    vpc = clients.vpc()
    request = vpc_models.DescribeVSwitchesRequest(v_switch_id=network[1])
    assert vpc.describe_vswitches(request).body.v_switches.v_switch[0].available_ip_address_count == 252
    vpc.delete_vswitch(vpc_models.DeleteVSwitchRequest(v_switch_id=network[1]))
    vpc.delete_vpc(vpc_models.DeleteVpcRequest(vpc_id=network[0]))


def test_network_in_use_by_a_cluster_cannot_be_deleted(
    cs: CsClient, clients: Clients, network: tuple[str, str]
) -> None:
    create(cs, network)
    vpc = clients.vpc()

    assert error_of(lambda: vpc.delete_vswitch(vpc_models.DeleteVSwitchRequest(v_switch_id=network[1]))) == (
        400,
        "DependencyViolation",
    )
    assert error_of(lambda: vpc.delete_vpc(vpc_models.DeleteVpcRequest(vpc_id=network[0]))) == (
        400,
        "DependencyViolation.VSwitch",
    )


def test_retained_security_group_survives_the_cluster(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, str]
) -> None:
    created = create(cs, network)
    eventually(lambda: state(cs, created.cluster_id) == "running")
    group_id = cloud.cluster(created.cluster_id).security_group_id

    cs.delete_cluster(created.cluster_id, cs_models.DeleteClusterRequest(retain_resources=[group_id]))
    eventually(lambda: cloud.cluster(created.cluster_id).state == "deleted")
    assert [g.deleted for g in cloud.security_groups() if g.security_group_id == group_id] == [None]


def test_deletion_protection_refuses_deletion(cs: CsClient, cloud: SandboxCloud, network: tuple[str, str]) -> None:
    created = create(cs, network, deletion_protection=True)
    eventually(lambda: state(cs, created.cluster_id) == "running")

    delete = cs_models.DeleteClusterRequest()
    assert error_of(lambda: cs.delete_cluster(created.cluster_id, delete)) == (400, "ErrorClusterDeletionProtection")
    assert state(cs, created.cluster_id) == "running"
    assert cs.describe_cluster_detail(created.cluster_id).body.deletion_protection is True


def test_injected_deletion_failure_then_retry(cs: CsClient, cloud: SandboxCloud, network: tuple[str, str]) -> None:
    created = create(cs, network)
    eventually(lambda: state(cs, created.cluster_id) == "running")
    cloud.fail_next_cluster_deletion("ErrorDeleteSLB", "failed to release the API server load balancer")

    first = cs.delete_cluster(created.cluster_id, cs_models.DeleteClusterRequest()).body
    eventually(lambda: state(cs, created.cluster_id) == "delete_failed")
    assert (task(cs, first.task_id).state, task(cs, first.task_id).error.code) == ("fail", "ErrorDeleteSLB")
    assert len(cloud.cluster(created.cluster_id).live_nodes()) == 2

    second = cs.delete_cluster(created.cluster_id, cs_models.DeleteClusterRequest()).body
    assert second.task_id != first.task_id
    eventually(lambda: cloud.cluster(created.cluster_id).state == "deleted")


def test_cluster_still_being_created_can_be_deleted(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, str]
) -> None:
    created = create(cs, network)
    deletion = cs.delete_cluster(created.cluster_id, cs_models.DeleteClusterRequest()).body

    assert task(cs, created.task_id).state == "fail"
    eventually(lambda: cloud.cluster(created.cluster_id).state == "deleted")
    assert task(cs, deletion.task_id).state == "success" and cloud.cluster(created.cluster_id).nodes == []


def test_node_pool_added_to_a_running_cluster(cs: CsClient, cloud: SandboxCloud, network: tuple[str, str]) -> None:
    created = create(cs, network, nodes=1)
    early = cs_models.CreateClusterNodePoolRequest(
        nodepool_info=cs_models.CreateClusterNodePoolRequestNodepoolInfo(name="gpu")
    )
    assert error_of(lambda: cs.create_cluster_node_pool(created.cluster_id, early)) == (400, "ErrorClusterState")
    eventually(lambda: state(cs, created.cluster_id) == "running")

    request = cs_models.CreateClusterNodePoolRequest(
        nodepool_info=cs_models.CreateClusterNodePoolRequestNodepoolInfo(name="batch"),
        scaling_group=cs_models.CreateClusterNodePoolRequestScalingGroup(
            instance_types=["ecs.c7.2xlarge"], desired_size=2, system_disk_size=80, key_pair="batch-keys"
        ),
        kubernetes_config=cs_models.CreateClusterNodePoolRequestKubernetesConfig(
            labels=[cs_models.Tag(key="workload", value="batch")],
            taints=[cs_models.Taint(key="dedicated", value="batch", effect="NoSchedule")],
        ),
    )
    added = cs.create_cluster_node_pool(created.cluster_id, request).body
    assert added.nodepool_id.startswith("np") and task(cs, added.task_id).state == "running"
    eventually(lambda: task(cs, added.task_id).state == "success")

    pools = cs.describe_cluster_node_pools(
        created.cluster_id, cs_models.DescribeClusterNodePoolsRequest(nodepool_name="batch")
    )
    (pool,) = pools.body.nodepools
    assert (pool.status.state, pool.status.healthy_nodes, pool.scaling_group.vswitch_ids) == ("active", 2, [network[1]])
    assert [(label.key, label.value) for label in pool.kubernetes_config.labels] == [("workload", "batch")]
    assert cs.describe_cluster_detail(created.cluster_id).body.size == 3
    assert error_of(lambda: cs.create_cluster_node_pool(created.cluster_id, request)) == (400, "InvalidParameter")


def test_serverless_cluster_has_no_nodes(cs: CsClient, cloud: SandboxCloud, network: tuple[str, str]) -> None:
    created = create(cs, network, profile="Serverless", nodepools=None, container_cidr=None)
    eventually(lambda: state(cs, created.cluster_id) == "running")

    detail = cs.describe_cluster_detail(created.cluster_id).body
    assert (detail.profile, detail.size) == ("Serverless", 0)


def test_unknown_ids_are_not_found(cs: CsClient) -> None:
    assert error_of(lambda: cs.describe_cluster_detail("c" + "0" * 32)) == (404, "ErrorClusterNotFound")
    assert error_of(lambda: cs.describe_task_info("T-" + "0" * 24)) == (404, "ErrorTaskNotFound")
    assert error_of(lambda: cs.delete_cluster("c" + "0" * 32, cs_models.DeleteClusterRequest())) == (
        404,
        "ErrorClusterNotFound",
    )
    nodepools = cs_models.DescribeClusterNodePoolsRequest()
    assert error_of(lambda: cs.describe_cluster_node_pools("c" + "0" * 32, nodepools)) == (404, "ErrorClusterNotFound")
