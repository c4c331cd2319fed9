"""Hub mechanics: path-prefixed clusters, tokens, unresponsive clusters, removal, a hundred clusters."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from ack_compute.sandbox.kube import KubeCluster, KubeHub
from tests.helpers.kube_status import UNAUTHORIZED

KubeClient = Callable[[str, str | None], client.ApiClient]


def status_body(error: ApiException) -> dict[str, Any]:
    return json.loads(error.body)


def test_public_api_shape(hub: KubeHub, make_cluster: Callable[..., KubeCluster], kube_client: KubeClient) -> None:
    cluster = make_cluster()
    assert hub.url.startswith("http://127.0.0.1:")
    assert cluster.server_url == f"{hub.url}/clusters/{cluster.cluster_id}"
    assert hub.get(cluster.cluster_id) is cluster
    assert hub.get("nope") is None
    version = client.VersionApi(kube_client(cluster.server_url, None)).get_code()
    assert version.git_version == "v1.31.1" and version.minor == "31"
    with pytest.raises(ValueError):
        hub.add_cluster(cluster.cluster_id)


def test_clusters_are_isolated(
    make_cluster: Callable[..., KubeCluster], admin_api: Callable[..., Any], kube_client: KubeClient
) -> None:
    one, two = make_cluster(), make_cluster(kubernetes_version="1.28.3")
    admin_api(one).create_namespace({"metadata": {"name": "only-in-one"}})
    assert "only-in-one" not in [ns.metadata.name for ns in admin_api(two).list_namespace().items]
    token_of_one = one.issue_token(role="admin", ttl_seconds=60)
    with pytest.raises(ApiException) as foreign:
        client.CoreV1Api(kube_client(two.server_url, token_of_one)).list_namespace()
    assert foreign.value.status == 401
    assert client.VersionApi(kube_client(two.server_url, None)).get_code().git_version == "v1.28.3"
    assert {ns.metadata.name for ns in admin_api(two).list_namespace().items} == {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
    }


def test_tokens_expire_and_revoke(make_cluster: Callable[..., KubeCluster], kube_client: KubeClient) -> None:
    cluster = make_cluster()
    short = client.CoreV1Api(kube_client(cluster.server_url, cluster.issue_token(role="admin", ttl_seconds=1)))
    lasting = client.CoreV1Api(kube_client(cluster.server_url, cluster.issue_token(role="admin", ttl_seconds=600)))
    assert short.list_namespace().items
    time.sleep(1.2)
    with pytest.raises(ApiException) as expired:
        short.list_namespace()
    assert expired.value.status == 401
    assert status_body(expired.value) == UNAUTHORIZED
    assert lasting.list_namespace().items
    cluster.revoke_tokens()
    with pytest.raises(ApiException) as revoked:
        lasting.list_namespace()
    assert revoked.value.status == 401
    fresh = client.CoreV1Api(kube_client(cluster.server_url, cluster.issue_token(role="admin", ttl_seconds=60)))
    assert fresh.list_namespace().items


def test_limited_role(make_cluster: Callable[..., KubeCluster], kube_client: KubeClient) -> None:
    cluster = make_cluster()
    token = cluster.issue_token(role="limited", ttl_seconds=60, user="agent")
    core = client.CoreV1Api(kube_client(cluster.server_url, token))
    assert core.list_pod_for_all_namespaces().items == []
    assert core.list_node().items == []
    with pytest.raises(ApiException) as denied:
        client.BatchV1Api(kube_client(cluster.server_url, token)).create_namespaced_job(
            "default",
            {"metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}},
        )
    assert denied.value.status == 403
    assert status_body(denied.value)["message"] == (
        'jobs.batch is forbidden: User "agent" cannot create resource "jobs" in API group "batch" '
        'in the namespace "default"'
    )
    review = client.AuthorizationV1Api(kube_client(cluster.server_url, token)).create_self_subject_access_review(
        {"spec": {"resourceAttributes": {"verb": "list", "resource": "nodes"}}}
    )
    assert review.status.allowed is True and 'to User "agent"' in review.status.reason
    with pytest.raises(ValueError):
        cluster.issue_token(role="root", ttl_seconds=60)  # type: ignore[arg-type]


def test_unresponsive_cluster_hangs_while_others_answer(
    make_cluster: Callable[..., KubeCluster], kube_client: KubeClient
) -> None:
    stuck, healthy = make_cluster(), make_cluster()
    stuck_api = client.CoreV1Api(kube_client(stuck.server_url, stuck.issue_token(role="admin", ttl_seconds=60)))
    healthy_api = client.CoreV1Api(kube_client(healthy.server_url, healthy.issue_token(role="admin", ttl_seconds=60)))
    events: list[str] = []
    collector = threading.Thread(
        target=lambda: events.extend(
            e["type"] for e in watch.Watch().stream(stuck_api.list_namespaced_pod, "default", timeout_seconds=3)
        ),
        daemon=True,
    )
    collector.start()
    time.sleep(0.3)
    stuck.set_unresponsive(True)
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        stuck_api.list_namespace(_request_timeout=0.5)
    assert 0.4 < time.monotonic() - started < 3
    assert healthy_api.list_namespace().items
    stuck.seed(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "x"}]},
        }
    )
    time.sleep(0.3)
    assert events == [], "a watch on an unresponsive cluster delivers nothing"
    stuck.set_unresponsive(False)
    assert stuck_api.list_namespace().items
    collector.join(5)
    assert events and events[0] == "ADDED"


def test_remove_cluster_answers_404(
    hub: KubeHub, make_cluster: Callable[..., KubeCluster], kube_client: KubeClient
) -> None:
    cluster = make_cluster()
    api = client.CoreV1Api(kube_client(cluster.server_url, cluster.issue_token(role="admin", ttl_seconds=60)))
    assert api.list_namespace().items
    hub.remove_cluster(cluster.cluster_id)
    assert hub.get(cluster.cluster_id) is None
    with pytest.raises(ApiException) as gone:
        api.list_namespace()
    assert gone.value.status == 404
    hub.remove_cluster(cluster.cluster_id)  # idempotent


def test_hundred_clusters_share_one_thread(kube_client: KubeClient) -> None:
    before = threading.active_count()
    with KubeHub() as hub:
        clusters = [hub.add_cluster(f"many-{i}", kubernetes_version=f"1.{26 + i % 6}.{i % 10}") for i in range(100)]
        assert threading.active_count() - before <= 1
        for cluster in clusters[::7]:
            version = client.VersionApi(kube_client(cluster.server_url, None)).get_code()
            assert version.git_version == cluster.git_version
        token = clusters[-1].issue_token(role="admin", ttl_seconds=60)
        assert client.CoreV1Api(kube_client(clusters[-1].server_url, token)).list_namespace().items
        assert len(hub.clusters()) == 100
    assert threading.active_count() <= before


def test_unknown_cluster_prefix_is_404(hub: KubeHub, kube_client: KubeClient) -> None:
    api = client.CoreV1Api(kube_client(f"{hub.url}/clusters/never-made", None))
    with pytest.raises(ApiException) as missing:
        api.list_namespace()
    assert missing.value.status == 404
