"""A kube hub, and per test a cluster with a started kubelet and one Ready node, reached with the official client."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client, config

from ack_compute.sandbox.kube import KubeCluster, KubeHub
from ack_compute.sandbox.kubelet import Kubelet
from tests.helpers.waiting import eventually

NODE = "cn-hangzhou.192.168.0.10"
# Back-offs (10 s, 20 s, ... for restarts and pulls) pass 20x faster; processes and deadlines run in real time.
TIME_SCALE = 20.0


@pytest.fixture(scope="module")
def hub() -> Iterator[KubeHub]:
    with KubeHub(time_scale=50) as running:
        yield running


def api_client(server: str, token: str) -> client.ApiClient:
    return config.new_client_from_config_dict(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": server}}],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "c",
        }
    )


@dataclass
class Setup:
    """One cluster, its kubelet (one Ready worker node registered) and a client for the default namespace."""

    cluster: KubeCluster
    kubelet: Kubelet
    api: client.ApiClient
    namespace: str = "default"
    node: str = NODE

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    def run(
        self,
        name: str,
        *,
        image: str = "busybox",
        restart: str = "Never",
        pod_spec: dict[str, Any] | None = None,
        **container: Any,
    ) -> dict[str, Any]:
        """Create a pod with one container `c` pinned to the node; returns the created object."""
        spec: dict[str, Any] = {
            "nodeName": NODE,
            "restartPolicy": restart,
            "containers": [{"name": "c", "image": image, **container}],
            **(pod_spec or {}),
        }
        return self.create({"metadata": {"name": name}, "spec": spec})

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.core.create_namespaced_pod(self.namespace, body, _preload_content=False)
        return json.loads(response.data)

    def pod(self, name: str) -> dict[str, Any]:
        return json.loads(self.core.read_namespaced_pod(name, self.namespace, _preload_content=False).data)

    def wait(self, name: str, check: Callable[[dict[str, Any]], Any], timeout: float = 15.0) -> dict[str, Any]:
        def matched() -> dict[str, Any] | None:
            pod = self.pod(name)
            return pod if check(pod) else None

        return eventually(matched, timeout, what=f"pod {name} to match")

    def wait_for(self, value: Callable[[], Any], timeout: float = 15.0) -> Any:
        return eventually(value, timeout)

    def wait_phase(self, name: str, *phases: str, timeout: float = 15.0) -> dict[str, Any]:
        return self.wait(name, lambda pod: pod["status"].get("phase") in phases, timeout)

    def log(self, name: str, **options: Any) -> str:
        return self.core.read_namespaced_pod_log(name, self.namespace, **options)


@pytest.fixture
def make_setup(hub: KubeHub) -> Iterator[Callable[..., Setup]]:
    made: list[Setup] = []

    def make(*, run_containers: bool = True, ready: bool = True) -> Setup:
        cluster = hub.add_cluster(f"k-{uuid.uuid4().hex[:10]}", kubernetes_version="1.20.2")
        token = cluster.issue_token(role="admin", ttl_seconds=3600)
        api = api_client(cluster.server_url, token)
        kubelet = Kubelet(api, run_containers=run_containers, time_scale=TIME_SCALE)
        setup = Setup(cluster, kubelet, api)
        made.append(setup)
        kubelet.start()
        kubelet.register_node(NODE, ready=ready, labels={"pool": "a"}, capacity={"cpu": "4", "memory": "16Gi"})
        return setup

    yield make
    for setup in made:
        setup.kubelet.stop()
        hub.remove_cluster(setup.cluster.cluster_id)


@pytest.fixture
def setup(make_setup: Callable[..., Setup]) -> Setup:
    return make_setup()
