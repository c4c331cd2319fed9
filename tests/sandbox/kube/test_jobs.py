"""Job controller behaviour the contract suite cannot afford or cannot see on a real control plane: the growing
failure backoff, TTLs above zero, OnFailure restarts, scale-down, jobs without completions, pods on nodes
(graceful deletion), and namespace deletion. The hub runs 50x faster than real time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes import client

from ack_compute.sandbox.kube import KubeCluster
from ack_compute.sandbox.kube.job_controller import finished_condition
from ack_compute.sandbox.kube.jobs import JOB
from ack_compute.sandbox.kube.pods import POD
from ack_compute.sandbox.kube.selectors import selector_matches
from tests.helpers.waiting import eventually


def job(name: str, *, restart: str = "Never", scheduler: str = "none", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": restart,
                    "schedulerName": scheduler,
                    "containers": [{"name": "c", "image": "busybox"}],
                }
            },
        },
    }


def pods_of(cluster: KubeCluster, name: str, phase: str | None = None) -> list[dict[str, Any]]:
    items, _ = cluster.store.list(POD.key, "default")
    return [
        p
        for p in items
        if (p["metadata"].get("labels") or {}).get("job-name") == name
        and (phase is None or p["status"].get("phase") == phase)
    ]


def get_job(cluster: KubeCluster, name: str) -> dict[str, Any] | None:
    return cluster.store.get(JOB.key, "default", name)


def finish(cluster: KubeCluster, pod: dict[str, Any], phase: str, **status: Any) -> None:
    current = cluster.objects.get(POD, "default", pod["metadata"]["name"])
    current["status"] = {**current["status"], "phase": phase, **status}
    cluster.objects.update(
        POD, "default", pod["metadata"]["name"], current, cluster.system_context("kubelet"), subresource="status"
    )


def test_failure_backoff_grows(make_cluster: Callable[..., KubeCluster]) -> None:
    """Failures after the first wait 10 s, 20 s, ... (scaled) before the controller reacts."""
    cluster = make_cluster()
    cluster.seed(job("retry", backoffLimit=3))
    waits = []
    for attempt in range(1, 4):
        [pod] = eventually(lambda: pods_of(cluster, "retry", "Pending"))
        finish(cluster, pod, "Failed")
        started = time.monotonic()
        eventually(lambda n=attempt: len(pods_of(cluster, "retry")) == n + 1)
        waits.append(time.monotonic() - started)
    [last] = pods_of(cluster, "retry", "Pending")
    finish(cluster, last, "Failed")
    failed = eventually(lambda: finished_condition(get_job(cluster, "retry") or {}), timeout=10)
    assert failed["reason"] == "BackoffLimitExceeded"
    assert waits[0] < 0.1
    assert 0.15 < waits[1] < 0.5  # 10 s / 50
    assert 0.35 < waits[2] < 0.8  # 20 s / 50
    assert (get_job(cluster, "retry") or {})["status"]["failed"] == 4


def test_ttl_after_finished_waits_its_seconds(make_cluster: Callable[..., KubeCluster]) -> None:
    cluster = make_cluster()
    cluster.seed(job("kept", ttlSecondsAfterFinished=20))
    [pod] = eventually(lambda: pods_of(cluster, "kept", "Pending"))
    finish(cluster, pod, "Succeeded")
    eventually(lambda: finished_condition(get_job(cluster, "kept") or {}))
    finished_at = time.monotonic()
    eventually(lambda: get_job(cluster, "kept") is None)
    assert 0.3 < time.monotonic() - finished_at < 1.5  # 20 s / 50
    eventually(lambda: not pods_of(cluster, "kept"))


def test_on_failure_restarts_count_against_the_backoff_limit(make_cluster: Callable[..., KubeCluster]) -> None:
    cluster = make_cluster()
    cluster.seed(job("restarts", restart="OnFailure", backoffLimit=2))
    [pod] = eventually(lambda: pods_of(cluster, "restarts", "Pending"))
    statuses = [{"name": "c", "image": "busybox", "imageID": "", "ready": False, "restartCount": 2}]
    finish(cluster, pod, "Running", containerStatuses=statuses)
    failed = eventually(lambda: finished_condition(get_job(cluster, "restarts") or {}))
    assert failed["reason"] == "BackoffLimitExceeded"
    eventually(lambda: not pods_of(cluster, "restarts"))  # the running pod is deleted
    assert (get_job(cluster, "restarts") or {})["status"]["failed"] == 1


def test_parallelism_scales_down_and_jobs_without_completions(make_cluster: Callable[..., KubeCluster]) -> None:
    cluster = make_cluster()
    cluster.seed(job("workers", parallelism=3))
    created = get_job(cluster, "workers") or {}
    assert created["spec"]["parallelism"] == 3 and "completions" not in created["spec"]
    pods = eventually(lambda: len(pods_of(cluster, "workers", "Pending")) == 3 and pods_of(cluster, "workers"))
    current = cluster.objects.get(JOB, "default", "workers")
    current["spec"]["parallelism"] = 2
    cluster.objects.update(JOB, "default", "workers", current, cluster.system_context("test"))
    eventually(lambda: len(pods_of(cluster, "workers")) == 2)
    eventually(lambda: (get_job(cluster, "workers") or {})["status"].get("active") == 2)
    # Without completions, the first success ends the job once the others finished too (no new pods meanwhile).
    pods = pods_of(cluster, "workers")
    finish(cluster, pods[0], "Succeeded")
    eventually(lambda: (get_job(cluster, "workers") or {})["status"].get("succeeded") == 1)
    assert len(pods_of(cluster, "workers")) == 2
    finish(cluster, pods[1], "Failed")
    done = eventually(lambda: finished_condition(get_job(cluster, "workers") or {}))
    assert done["type"] == "Complete"
    status = (get_job(cluster, "workers") or {})["status"]
    assert status["succeeded"] == 1 and status["failed"] == 1 and "active" not in status


def test_deadline_on_bound_pods_deletes_them_gracefully(
    make_cluster: Callable[..., KubeCluster], admin_api: Callable[..., Any]
) -> None:
    """Pods on a node get their grace period (no kubelet here confirms); the job fails and counts them."""
    cluster = make_cluster()
    cluster.upsert_node("n1", ready=True)
    cluster.seed(job("slow", scheduler="default-scheduler", activeDeadlineSeconds=10, parallelism=2, completions=2))
    failed = eventually(lambda: finished_condition(get_job(cluster, "slow") or {}))
    assert failed["reason"] == "DeadlineExceeded"
    status = (get_job(cluster, "slow") or {})["status"]
    assert status["failed"] == 2 and "active" not in status
    pods = pods_of(cluster, "slow")
    assert len(pods) == 2
    assert all(p["spec"]["nodeName"] == "n1" and p["metadata"]["deletionGracePeriodSeconds"] == 30 for p in pods)


def test_jobs_over_http_and_namespace_deletion(
    make_cluster: Callable[..., KubeCluster], admin_api: Callable[..., Any]
) -> None:
    cluster = make_cluster()
    core = admin_api(cluster)
    batch = client.BatchV1Api(core.api_client)
    core.create_namespace({"metadata": {"name": "work"}})
    body = job("web")
    body["metadata"]["namespace"] = "work"
    created = batch.create_namespaced_job("work", body)
    assert created.spec.selector.match_labels == {"controller-uid": created.metadata.uid}
    eventually(lambda: core.list_namespaced_pod("work", label_selector="job-name=web").items)
    assert [j.metadata.name for j in batch.list_job_for_all_namespaces(label_selector="job-name=web").items] == ["web"]
    core.delete_namespace("work")
    eventually(lambda: not core.list_namespaced_pod("work").items and not batch.list_namespaced_job("work").items)


def test_selector_matching() -> None:
    labels = {"a": "1", "b": "2"}
    assert selector_matches(None, labels) is False
    assert selector_matches({}, labels) is True
    assert selector_matches({"matchLabels": {"a": "1"}}, labels) is True
    assert selector_matches({"matchExpressions": [{"key": "a", "operator": "In", "values": ["2"]}]}, labels) is False
    assert selector_matches({"matchExpressions": [{"key": "c", "operator": "DoesNotExist"}]}, labels) is True
    assert selector_matches({"matchExpressions": [{"key": "a", "operator": "Near", "values": ["1"]}]}, labels) is None
