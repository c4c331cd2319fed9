"""What the world tells the per-cluster Kubernetes APIs, checked against a recording stand-in for KubeHub."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ack_compute.sandbox import planting
from ack_compute.sandbox.catalog import load_catalog
from ack_compute.sandbox.kube_bridge import KubeBridge
from ack_compute.sandbox.state import SandboxState, generate_credentials
from tests.helpers.waiting import eventually


class RecordingCluster:
    def __init__(self, hub: RecordingHub, cluster_id: str) -> None:
        self.hub, self.cluster_id = hub, cluster_id
        self.server_url = f"https://127.0.0.1:7000/{cluster_id}"
        self.nodes: dict[str, dict[str, Any]] = {}
        self.seeded: list[dict[str, Any]] = []
        self.unresponsive = False
        self.tokens: list[tuple[str, float, str]] = []

    def issue_token(self, role: str = "admin", ttl_seconds: float = 3600, user: str = "u") -> str:
        self.tokens.append((role, ttl_seconds, user))
        return f"token-{len(self.tokens)}"

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def upsert_node(self, name: str, **fields: Any) -> None:
        self.nodes[name] = fields
        self.hub.log.append(("node", name, fields["ready"]))

    def delete_node(self, name: str) -> None:
        del self.nodes[name]

    def seed(self, obj: dict[str, Any]) -> None:
        self.seeded.append(obj)

    def set_unresponsive(self, unresponsive: bool) -> None:
        self.unresponsive = unresponsive


class RecordingHub:
    def __init__(self) -> None:
        self.clusters: dict[str, RecordingCluster] = {}
        self.log: list[tuple[str, str, Any]] = []

    def start(self) -> None:
        self.log.append(("start", "", None))

    def stop(self) -> None:
        self.log.append(("stop", "", None))

    def add_cluster(self, cluster_id: str, kubernetes_version: str = "1.31.1") -> RecordingCluster:
        self.clusters[cluster_id] = RecordingCluster(self, cluster_id)
        self.log.append(("add", cluster_id, kubernetes_version))
        return self.clusters[cluster_id]

    def get(self, cluster_id: str) -> RecordingCluster | None:
        return self.clusters.get(cluster_id)

    def remove_cluster(self, cluster_id: str) -> None:
        del self.clusters[cluster_id]
        self.log.append(("remove", cluster_id, None))


@pytest.fixture
def hub() -> RecordingHub:
    return RecordingHub()


@pytest.fixture
def state(hub: RecordingHub) -> Iterator[SandboxState]:
    sandbox = SandboxState(
        catalog=load_catalog(), credentials=generate_credentials(), time_scale=2000.0, kube=KubeBridge(hub)
    )
    yield sandbox
    sandbox.world.clock.scheduler.stop()


def test_running_cluster_gets_an_api_a_coredns_pod_and_nodes_that_turn_ready(
    state: SandboxState, hub: RecordingHub
) -> None:
    cluster_id = planting.plant_cluster(state, "bridge", cluster_state="initial", nodes=2, region_id="cn-shanghai")
    assert hub.get(cluster_id) is None

    eventually(lambda: hub.get(cluster_id) is not None and len(hub.clusters[cluster_id].nodes) == 2)
    api = hub.clusters[cluster_id]
    (coredns,) = api.seeded
    image = coredns["spec"]["containers"][0]["image"]
    assert coredns["metadata"]["namespace"] == "kube-system"
    assert image.startswith("registry-cn-shanghai-vpc.ack.aliyuncs.com/acs/coredns:")
    eventually(lambda: all(node["ready"] for node in api.nodes.values()))
    node_events = [(name, ready) for kind, name, ready in hub.log if kind == "node"]
    assert [ready for _, ready in node_events] == [False, False, True, True]
    name, fields = next(iter(api.nodes.items()))
    pool_id = state.world.clusters[cluster_id].nodepools[0].nodepool_id
    assert name.startswith("cn-shanghai.192.168.")
    assert fields["labels"]["alibabacloud.com/nodepool-id"] == pool_id
    assert fields["labels"]["node.kubernetes.io/instance-type"] == "ecs.g7.xlarge"
    assert fields["labels"]["topology.kubernetes.io/zone"].startswith("cn-shanghai-")
    assert fields["capacity"]["cpu"] == "4" and fields["taints"] == []
    assert ("add", cluster_id, "1.33.3") in hub.log


def test_deletion_removes_the_api(state: SandboxState, hub: RecordingHub) -> None:
    cluster_id = planting.plant_cluster(state, "bridge-gone", nodes=1)
    assert hub.get(cluster_id) is not None

    cluster = state.world.clusters[cluster_id]
    state.lifecycle.start_deletion(cluster, retained=set(), retain_all=False)
    eventually(lambda: ("remove", cluster_id, None) in hub.log)
    assert state.world.clusters[cluster_id].state == "deleted"


def test_planted_flags_reach_the_api(state: SandboxState, hub: RecordingHub) -> None:
    hanging = planting.plant_cluster(state, "bridge-hangs", nodes=1, unresponsive=True)
    stalled = planting.plant_cluster(state, "bridge-stalled", nodes=2, nodes_ready=False)

    assert hub.clusters[hanging].unresponsive is True
    assert [fields["ready"] for fields in hub.clusters[stalled].nodes.values()] == [False, False]
    state.lifecycle.set_nodes_ready(stalled, True)
    assert [fields["ready"] for fields in hub.clusters[stalled].nodes.values()] == [True, True]


def test_tokens_carry_the_cluster_role(state: SandboxState, hub: RecordingHub) -> None:
    cluster_id = planting.plant_cluster(state, "bridge-limited", nodes=0, limited_rbac=True)

    token = state.kube.issue_token(cluster_id, state.world.clusters[cluster_id].kubeconfig_role, 1.5, "someone")
    assert token == "token-1" and hub.clusters[cluster_id].tokens == [("limited", 1.5, "someone")]
    assert state.kube.server_url(cluster_id) == f"https://127.0.0.1:7000/{cluster_id}"
    assert state.kube.server_url("c" + "0" * 32) is None
