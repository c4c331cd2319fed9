"""A running kube hub for the emulator-only tests, and official clients for its clusters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, config

from ack_compute.sandbox.kube import KubeCluster, KubeHub


@pytest.fixture(scope="module")
def hub() -> Iterator[KubeHub]:
    with KubeHub(time_scale=50) as running:
        yield running


def new_kube_client(server: str, token: str | None) -> client.ApiClient:
    """The official client from a kubeconfig, without retries: a hanging cluster must surface as a timeout."""
    user = {"token": token} if token else {}
    configuration = client.Configuration()
    config.load_kube_config_from_dict(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": server}}],
            "users": [{"name": "u", "user": user}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "c",
        },
        client_configuration=configuration,
    )
    configuration.retries = False
    return client.ApiClient(configuration)


@pytest.fixture
def kube_client() -> Callable[[str, str | None], client.ApiClient]:
    return new_kube_client


@pytest.fixture
def make_cluster(hub: KubeHub, request: pytest.FixtureRequest) -> Iterator[Callable[..., KubeCluster]]:
    """New clusters with unique ids, removed again after the test."""
    made: list[str] = []

    def make(**kwargs: Any) -> KubeCluster:
        cluster_id = (
            f"c-{request.node.name[:30]}-{len(made)}".replace("[", "-").replace("]", "").replace("_", "-").lower()
        )
        made.append(cluster_id)
        return hub.add_cluster(cluster_id, **kwargs)

    yield make
    for cluster_id in made:
        hub.remove_cluster(cluster_id)


@pytest.fixture
def admin_api() -> Callable[[KubeCluster], client.CoreV1Api]:
    def make(cluster: KubeCluster) -> client.CoreV1Api:
        token = cluster.issue_token(role="admin", ttl_seconds=600)
        return client.CoreV1Api(new_kube_client(cluster.server_url, token))

    return make
