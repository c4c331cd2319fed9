"""Pod and service ranges come from the whole private space, so one VPC holds 50 clusters (it held four before):
the first five and the 50th are created through ensure_cluster, the 44 between are planted beside them with
ranges of their own, and the sandbox's CreateCluster refuses any overlap as ACK does."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from itertools import combinations

import pytest

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.network import VPC_NAME, cluster_cidrs
from ack_compute.tools.operations import OperationStatus
from ack_compute.tools.plans import ClusterPlan
from tests.helpers.waiting import settle

PLAN = ClusterPlan(instance_types=["ecs.g7.xlarge"], node_count=1, zone="cn-hangzhou-h", hours=1)
PRIVATE = [ipaddress.ip_network(b) for b in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


@pytest.fixture
def runtime(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> Runtime:
    return runtime_on(world)


def create(runtime: Runtime, name: str) -> OperationStatus:
    est = estimate_cost(PLAN, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
    outcome = runtime.clusters.ensure(name, plan=PLAN, quote_token=est.quote_token)
    return settle(runtime, outcome.operation_id or "")


def test_fifty_clusters_share_one_vpc(runtime: Runtime, world: SandboxCloud) -> None:
    for n in range(5):  # a fixed list of four pairs ran out at the fifth
        status = create(runtime, f"acf-c{n:02d}")
        assert status.state == "succeeded", status.error
    (vpc,) = [v for v in world.vpcs() if v.name == VPC_NAME]
    (vswitch,) = [s for s in world.vswitches() if s.vpc_id == vpc.vpc_id]
    for n in range(5, 49):
        world.plant_cluster(f"theirs-{n:02d}", vswitch_id=vswitch.vswitch_id, nodes=0)
    last = create(runtime, "acf-c49")
    assert last.state == "succeeded", last.error
    clusters = [c for c in world.clusters() if c.vpc_id == vpc.vpc_id]
    assert len(clusters) == 50 and world.counts()["CreateVpc"] == 1
    ranges = [ipaddress.ip_network(r) for c in clusters for r in (c.container_cidr, c.service_cidr)]
    assert not any(a.overlaps(b) for a, b in combinations(ranges, 2))
    assert not any(r.overlaps(ipaddress.ip_network(vpc.cidr_block)) for r in ranges)
    ours = [c for c in clusters if c.name.startswith("acf-")]
    for c in ours:  # ACK's rules for CreateCluster: private, pods /8-/16 within the blocks, services /16-/24
        pod, service = ipaddress.ip_network(c.container_cidr), ipaddress.ip_network(c.service_cidr)
        assert any(pod.subnet_of(p) for p in PRIVATE) and pod.prefixlen == 16  # type: ignore[arg-type]
        assert any(service.subnet_of(p) for p in PRIVATE) and service.prefixlen == 20  # type: ignore[arg-type]


def test_the_first_cluster_in_a_vpc_gets_acks_default_looking_ranges() -> None:
    assert cluster_cidrs("192.168.0.0/16") == ("172.20.0.0/16", "172.21.0.0/20")


def test_when_the_private_space_is_used_up_it_says_so_before_any_create() -> None:
    with pytest.raises(AckComputeError) as raised:
        cluster_cidrs("192.168.0.0/16", ["10.0.0.0/8", "172.16.0.0/12"])
    assert "No free /16 for pods and /20 for services" in raised.value.message
    assert "another VPC" in raised.value.next_step
