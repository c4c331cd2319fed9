"""Emulated cluster behaviour beyond the contract suite: the kubelet-like node API, seeding, the scheduler,
garbage collection and what differs on newer Kubernetes versions."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from ack_compute.sandbox.kube import KubeCluster
from tests.helpers.waiting import eventually


def ready_status(node: Any) -> str:
    return next(c.status for c in node.status.conditions if c.type == "Ready")


def test_upsert_node_flips_ready_and_fires_events(
    make_cluster: Callable[..., KubeCluster], admin_api: Callable[..., Any]
) -> None:
    cluster = make_cluster(kubernetes_version="1.30.4")
    core = admin_api(cluster)
    events: list[tuple[str, str]] = []

    def collect() -> None:
        for event in watch.Watch().stream(core.list_node, timeout_seconds=2):
            conditions = event["raw_object"]["status"].get("conditions") or []
            ready = next((c["status"] for c in conditions if c["type"] == "Ready"), "-")
            events.append((event["type"], ready))

    watcher = threading.Thread(target=collect, daemon=True)
    watcher.start()
    time.sleep(0.2)
    cluster.upsert_node("n1", ready=True, labels={"pool": "gpu"}, capacity={"cpu": "8", "nvidia.com/gpu": "1"})
    node = core.read_node("n1")
    assert ready_status(node) == "True" and not node.spec.taints
    assert node.metadata.labels["pool"] == "gpu" and node.metadata.labels["kubernetes.io/hostname"] == "n1"
    assert node.status.capacity["nvidia.com/gpu"] == "1" and node.status.allocatable["cpu"] == "8"
    assert node.status.node_info.kubelet_version == "v1.30.4"
    assert node.status.addresses[0].type == "InternalIP"
    cluster.upsert_node("n1", ready=False)
    node = core.read_node("n1")
    assert ready_status(node) == "False"
    assert [t.key for t in node.spec.taints] == ["node.kubernetes.io/not-ready"]
    cluster.upsert_node("n1", ready=True, taints=[{"key": "dedicated", "value": "x", "effect": "NoSchedule"}])
    assert [t.key for t in core.read_node("n1").spec.taints] == ["dedicated"]
    cluster.delete_node("n1")
    cluster.delete_node("n1")  # idempotent
    watcher.join(5)
    assert events[0][0] == "ADDED" and events[-1][0] == "DELETED"
    assert ("MODIFIED", "False") in events and events.count(("MODIFIED", "True")) >= 1


def test_scheduler_binds_pods_to_ready_nodes(
    make_cluster: Callable[..., KubeCluster], admin_api: Callable[..., Any]
) -> None:
    cluster = make_cluster()
    core = admin_api(cluster)
    pod = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "x"}], "nodeSelector": {"pool": "a"}},
    }
    core.create_namespaced_pod("default", pod)
    condition = eventually(lambda: core.read_namespaced_pod("p", "default").status.conditions)
    assert condition[0].reason == "Unschedulable" and condition[0].message == "no nodes available to schedule pods"
    cluster.upsert_node("n-b", ready=True, labels={"pool": "b"})
    eventually(
        lambda: "didn't match node selector" in core.read_namespaced_pod("p", "default").status.conditions[0].message
    )
    cluster.upsert_node("n-a", ready=True, labels={"pool": "a"})
    bound = eventually(lambda: core.read_namespaced_pod("p", "default").spec.node_name)
    assert bound == "n-a"
    scheduled = core.read_namespaced_pod("p", "default").status.conditions
    assert [(c.type, c.status) for c in scheduled] == [("PodScheduled", "True")]
    # A bound pod waits for its kubelet; without one its deletion stays pending.
    deleted = core.delete_namespaced_pod("p", "default")
    assert deleted.metadata.deletion_grace_period_seconds == 30
    assert core.read_namespaced_pod("p", "default").metadata.deletion_timestamp is not None


def test_scheduler_counts_gpus_like_cpu(
    make_cluster: Callable[..., KubeCluster], admin_api: Callable[..., Any]
) -> None:
    """A GPU request (a limit only, as GPU pods are written) fits only a node that offers the GPU, once."""
    cluster = make_cluster()
    core = admin_api(cluster)
    cluster.upsert_node("cpu-only", ready=True)

    def gpu_pod(name: str) -> dict[str, Any]:
        container = {"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": "1"}}}
        return {"metadata": {"name": name}, "spec": {"containers": [container]}}

    def why(name: str) -> str:
        conditions = core.read_namespaced_pod(name, "default").status.conditions or []
        return conditions[0].message or "" if conditions else ""

    core.create_namespaced_pod("default", gpu_pod("g1"))
    assert eventually(lambda: why("g1")) == "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    cluster.upsert_node("gpu", ready=True, capacity={"nvidia.com/gpu": "1"})
    assert eventually(lambda: core.read_namespaced_pod("g1", "default").spec.node_name) == "gpu"
    core.create_namespaced_pod("default", gpu_pod("g2"))  # the one GPU is taken
    assert eventually(lambda: why("g2")) == "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."


def test_seed_keeps_status(make_cluster: Callable[..., KubeCluster], admin_api: Callable[..., Any]) -> None:
    cluster = make_cluster()
    seeded = cluster.seed(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "coredns-1", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "coredns", "image": "coredns:1.11"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.9"},
        }
    )
    assert seeded["status"]["phase"] == "Running" and seeded["status"]["podIPs"] == [{"ip": "10.0.0.9"}]
    pods = admin_api(cluster).list_namespaced_pod("kube-system", field_selector="status.phase=Running")
    assert [p.metadata.name for p in pods.items] == ["coredns-1"]
    with pytest.raises(ValueError):
        cluster.seed({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})


def test_garbage_collector_deletes_dependents(
    make_cluster: Callable[..., KubeCluster], admin_api: Callable[..., Any]
) -> None:
    cluster = make_cluster()
    core = admin_api(cluster)
    cluster.upsert_node("owner", ready=True)
    owner = core.read_node("owner")
    reference = {"apiVersion": "v1", "kind": "Node", "name": "owner", "uid": owner.metadata.uid}
    core.create_namespaced_pod(
        "default",
        # Unschedulable on purpose: a pod bound to a node without a kubelet would only start a graceful deletion.
        {
            "metadata": {"name": "dependent", "ownerReferences": [reference]},
            "spec": {"containers": [{"name": "c", "image": "x"}], "nodeSelector": {"pool": "none"}},
        },
    )
    cluster.delete_node("owner")

    def gone() -> bool:
        try:
            core.read_namespaced_pod("dependent", "default")
        except ApiException as error:
            return error.status == 404
        return False

    eventually(gone)


def test_newer_versions_label_namespaces_and_bookmark_before_timeout(
    make_cluster: Callable[..., KubeCluster], admin_api: Callable[..., Any]
) -> None:
    cluster = make_cluster(kubernetes_version="1.31.1")
    core = admin_api(cluster)
    created = core.create_namespace({"metadata": {"name": "labelled"}})
    assert created.metadata.labels == {"kubernetes.io/metadata.name": "labelled"}
    assert [
        n.metadata.name for n in core.list_namespace(label_selector="kubernetes.io/metadata.name=default").items
    ] == ["default"]
    started = time.monotonic()
    events = list(
        watch.Watch().stream(core.list_namespace, allow_watch_bookmarks=True, resource_version="0", timeout_seconds=3)
    )
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert len(bookmarks) == 1, "since 1.21 the apiserver sends one bookmark 2 s before a watch's deadline"
    assert bookmarks[0]["raw_object"]["kind"] == "Namespace"
    assert 2.5 < time.monotonic() - started < 5


def test_watch_from_expired_resource_version(
    make_cluster: Callable[..., KubeCluster], admin_api: Callable[..., Any]
) -> None:
    """The hub's time scale (50 here) shrinks the watch cache's 75 s freshness window to 1.5 s."""
    cluster = make_cluster()
    core = admin_api(cluster)
    start = core.create_namespaced_pod(
        "default", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    )
    time.sleep(75 / 50 + 0.3)
    for index in range(120):
        core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"n": str(index)}}})
    response = core.list_namespaced_pod(
        "default",
        watch=True,
        resource_version=start.metadata.resource_version,
        timeout_seconds=1,
        _preload_content=False,
    )
    first = json.loads(response.data.split(b"\n")[0])
    assert first["type"] == "ERROR" and first["object"]["code"] == 410 and first["object"]["reason"] == "Expired"
    with pytest.raises(ApiException) as expired:
        list(
            watch.Watch().stream(
                core.list_namespaced_pod, "default", resource_version=start.metadata.resource_version, timeout_seconds=1
            )
        )
    assert expired.value.status == 410


def test_namespace_deletion_removes_content(
    make_cluster: Callable[..., KubeCluster], admin_api: Callable[..., Any]
) -> None:
    cluster = make_cluster()
    core = admin_api(cluster)
    core.create_namespace({"metadata": {"name": "temp"}})
    core.create_namespaced_pod(
        "temp", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    )
    assert core.delete_namespace("temp") is not None
    assert core.read_namespace("temp").status.phase == "Terminating"

    def gone() -> bool:
        try:
            core.read_namespace("temp")
        except ApiException as error:
            return error.status == 404
        return False

    eventually(gone)
    assert core.list_namespaced_pod("temp").items == []
