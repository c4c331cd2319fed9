"""The sandbox's admin API: planting, reading the world, lifecycle faults, the clock and its one scheduler thread."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest
from alibabacloud_cs20151215 import models as cs_models
from alibabacloud_vpc20160428 import models as vpc_models

from ack_compute.sandbox import SandboxCloud
from ack_compute.sandbox.scheduler import Scheduler
from tests.helpers.cs_requests import managed_cluster_request, worker_pool
from tests.helpers.waiting import eventually

if TYPE_CHECKING:
    from conftest import Clients

REGION = "cn-hangzhou"


SCALE = 1000.0
pytestmark = pytest.mark.usefixtures("fast_clock")  # at SCALE (tests/sandbox/conftest.py)


def test_planted_network_is_visible_through_the_vpc_api(clients: Clients, cloud: SandboxCloud) -> None:
    vpc_id = cloud.plant_vpc("theirs", cidr_block="10.50.0.0/16", tags={"team": "other"})
    vswitch_id = cloud.plant_vswitch(vpc_id, name="theirs-a", tags={"team": "other"})

    vpc = clients.vpc()
    (shown,) = vpc.describe_vpcs(vpc_models.DescribeVpcsRequest(region_id=REGION, vpc_id=vpc_id)).body.vpcs.vpc
    assert (shown.status, shown.vpc_name, shown.cidr_block) == ("Available", "theirs", "10.50.0.0/16")
    assert shown.v_switch_ids.v_switch_id == [vswitch_id]
    (switch,) = vpc.describe_vswitches(vpc_models.DescribeVSwitchesRequest(vpc_id=vpc_id)).body.v_switches.v_switch
    assert (switch.cidr_block, switch.zone_id, switch.v_switch_name) == ("10.50.0.0/24", "cn-hangzhou-h", "theirs-a")
    assert all(v.planted for v in cloud.vpcs() if v.vpc_id == vpc_id)


def test_own_cluster_comes_and_goes_without_touching_a_planted_neighbour(clients: Clients, cloud: SandboxCloud) -> None:
    neighbour = cloud.plant_cluster("neighbour", nodes=2, tags={"owner": "someone-else"})
    before = cloud.cluster(neighbour)
    vpc_id, vswitch_id = before.vpc_id, before.vswitch_ids[0]
    groups_before = {g.security_group_id for g in cloud.security_groups() if g.deleted is None}
    cs = clients.cs()

    scaling = cs_models.NodepoolScalingGroup(
        vswitch_ids=[vswitch_id], instance_types=["ecs.c7.large"], desired_size=1, key_pair="mine"
    )
    request = managed_cluster_request(
        "mine",
        vpc_id,
        [vswitch_id],
        [worker_pool("workers", scaling)],
        container_cidr="172.24.0.0/16",
        service_cidr="172.25.0.0/20",
    )
    created = cs.create_cluster(request).body
    eventually(lambda: cloud.cluster(created.cluster_id).state == "running")
    cs.delete_cluster(created.cluster_id, cs_models.DeleteClusterRequest())
    eventually(lambda: cloud.cluster(created.cluster_id).state == "deleted")

    after = cloud.cluster(neighbour)
    assert after.model_dump(exclude={"updated"}) == before.model_dump(exclude={"updated"})
    live_groups = {g.security_group_id for g in cloud.security_groups() if g.deleted is None}
    assert live_groups == groups_before
    assert all(node.deleted is not None for node in cloud.cluster(created.cluster_id).nodes)


def test_clear_faults_drops_queued_lifecycle_faults(clients: Clients, cloud: SandboxCloud) -> None:
    cloud.fail_next_cluster_creation()
    cloud.fail_next_cluster_deletion()
    cloud.stall_next_cluster_nodes()
    cloud.clear_faults()

    cluster_id = cloud.plant_cluster("after-clear", state="initial", nodes=1)
    eventually(lambda: all(node.ready for node in cloud.cluster(cluster_id).nodes) and cloud.cluster(cluster_id).nodes)
    clients.cs().delete_cluster(cluster_id, cs_models.DeleteClusterRequest())
    eventually(lambda: cloud.cluster(cluster_id).state == "deleted")


def test_time_scale_must_be_positive(cloud: SandboxCloud) -> None:
    with pytest.raises(ValueError):
        cloud.time_scale = 0


def test_many_clusters_share_one_scheduler_thread(cloud: SandboxCloud) -> None:
    """Other sandboxes of the test session (the conformance suite's) have their own scheduler: count the growth."""

    def schedulers() -> int:
        return len([thread for thread in threading.enumerate() if thread.name == "sandbox-scheduler"])

    cloud.plant_cluster("crowd-first", state="initial", nodes=1)
    before = schedulers()
    for index in range(20):
        cloud.plant_cluster(f"crowd-{index}", state="initial", nodes=1)
    assert before >= 1 and schedulers() == before


def test_scheduler_runs_timers_in_due_order_and_skips_cancelled_ones() -> None:
    scheduler = Scheduler()
    ran: list[str] = []
    done = threading.Event()
    scheduler.call_later(0.03, lambda: ran.append("late"))
    scheduler.call_later(0.01, lambda: ran.append("early"))
    scheduler.call_later(0.02, lambda: ran.append("cancelled")).cancel()
    scheduler.call_later(0.05, done.set)
    try:
        assert done.wait(2.0)
        assert ran == ["early", "late"]
    finally:
        scheduler.stop()
