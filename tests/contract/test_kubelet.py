"""The sandbox's simulated kubelet against both backends: node registration, a pod's life and status as the API
shows them, and container logs through the apiserver's log proxy (`pods/{name}/log` -> the kubelet's endpoint,
over HTTPS on kube-apiserver). The same kubelet runs on both, so any difference is the emulator's."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.contract.conftest import Namespace
from tests.helpers.waiting import eventually

pytestmark = pytest.mark.contract

_CONTAINER_ID = re.compile(r"containerd://[0-9a-f]{64}")
_POD_IP = re.compile(r"^172\.20\.\d+\.\d+$")


def masked(value: Any) -> Any:
    """Container ids are random and pod addresses depend on start order: placeholders for both."""
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, str):
        return "<ip>" if _POD_IP.match(value) else _CONTAINER_ID.sub("<container>", value)
    return value


@contextmanager
def kubelet_node(kubelets: Callable[[Any], Any], backend: Any, name: str, **labels: str) -> Iterator[Any]:
    """A Ready node of the backend's kubelet for one scenario, removed (with its pods) afterwards."""
    kubelet = kubelets(backend)
    kubelet.register_node(name, ready=True, labels=labels, capacity={"cpu": "4", "memory": "8Gi", "pods": "20"})
    try:
        yield kubelet
    finally:
        kubelet.remove_node(name)


@contextmanager
def node_and_namespace(
    kubelets: Callable[[Any], Any], backend: Any, helpers: Any, obs: Any, prefix: str, **labels: str
) -> Iterator[tuple[str, str]]:
    """A kubelet node and a scratch namespace for one scenario: (node name, namespace)."""
    node = helpers.unique("kubelet", obs)
    with kubelet_node(kubelets, backend, node, **labels), Namespace(backend, helpers, obs, prefix) as ns:
        yield node, ns


def pod_on(node: str, name: str, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A pod bound to `node` (no scheduler) with one container."""
    return {"metadata": {"name": name}, "spec": {"nodeName": node, **spec, "containers": [container]}}


def test_a_registered_node(contract: Any, helpers: Any, kubelets: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        name = helpers.unique("kubelet", obs)
        with kubelet_node(kubelets, backend, name, pool="contract") as kubelet:
            node = helpers.call(backend.core().read_node, name)
            port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
            assert port == kubelet.log_server.port
            node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] = "<port>"
            kubelet.set_ready(name, False)
            down = helpers.call(backend.core().read_node, name)
            kubelet.set_ready(name, True)
            return {
                "node": obs(
                    {k: v for k, v in node.items() if k != "metadata"} | {"labels": node["metadata"]["labels"]}
                ),
                "managers": sorted({e["manager"] for e in node["metadata"]["managedFields"]}),
                "down_taints": obs(down["spec"].get("taints")),
                "down_ready": obs(next(c for c in down["status"]["conditions"] if c["type"] == "Ready")),
            }

    result = contract.run(scenario)
    assert result["node"]["spec"] == {} and result["managers"] == ["kubelet"]
    assert result["node"]["labels"]["pool"] == "contract"
    assert [t["key"] for t in result["down_taints"]] == ["node.kubernetes.io/not-ready"]
    assert result["down_ready"]["status"] == "False"


def test_a_pod_runs_and_its_log_comes_through_the_api(contract: Any, helpers: Any, kubelets: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with node_and_namespace(kubelets, backend, helpers, obs, "kubelet", contract=obs.token) as (node, ns):
            busybox = {"name": "c", "image": "busybox", "command": ["sh", "-c", "echo hello; exit 3"]}
            pinned = pod_on(node, "pinned", busybox, restartPolicy="Never")
            created = helpers.call(core.create_namespaced_pod, ns, pinned)
            events = helpers.follow(core.list_namespaced_pod, ns, created, 20)
            scheduled = {
                "metadata": {"name": "scheduled"},
                "spec": {
                    "nodeSelector": {"contract": obs.token},
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "python:3.11", "command": ["python", "-c", "print(42)"]}],
                },
            }
            helpers.call(core.create_namespaced_pod, ns, scheduled)

            def finished(name: str) -> Any:
                pod = helpers.call(core.read_namespaced_pod, name, ns)
                return pod if pod["status"].get("phase") in ("Succeeded", "Failed") else None

            pinned_done = eventually(lambda: finished("pinned"))
            scheduled_done = eventually(lambda: finished("scheduled"))
            logs = {
                "pinned": core.read_namespaced_pod_log("pinned", ns),
                "scheduled": core.read_namespaced_pod_log("scheduled", ns, container="c"),
                "tail": core.read_namespaced_pod_log("pinned", ns, tail_lines=1, limit_bytes=3),
                "follow": core.read_namespaced_pod_log("pinned", ns, follow=True),
            }
            core.delete_namespaced_pod("pinned", ns)
            phases = [e["object"]["status"].get("phase") for e in events.join() if e["type"] != "DELETED"]
            return {
                "pinned": obs(masked(pinned_done["status"])),
                "scheduled": obs(masked(scheduled_done["status"])),
                "scheduled_node": scheduled_done["spec"]["nodeName"] == node,
                "managers": sorted({e["manager"] for e in pinned_done["metadata"]["managedFields"]}),
                "phases": [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p],
                "logs": logs,
            }

    result = contract.run(scenario)
    assert result["phases"] == ["Pending", "Running", "Failed"]
    terminated = result["pinned"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 3 and terminated["reason"] == "Error"
    assert result["pinned"]["podIP"] == "<ip>" and result["pinned"]["hostIP"] == "127.0.0.1"
    assert result["scheduled"]["phase"] == "Succeeded" and result["scheduled_node"] is True
    assert result["managers"] == ["OpenAPI-Generator", "kubelet"]
    assert result["logs"] == {"pinned": "hello\n", "scheduled": "42\n", "tail": "hel", "follow": "hello\n"}


def test_log_errors(contract: Any, helpers: Any, kubelets: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with node_and_namespace(kubelets, backend, helpers, obs, "logs") as (node, ns):
            mounting = pod_on(
                node,
                "mounting",
                {"name": "c", "image": "busybox", "volumeMounts": [{"name": "v", "mountPath": "/v"}]},
                volumes=[{"name": "v", "configMap": {"name": "absent"}}],
            )
            helpers.call(core.create_namespaced_pod, ns, mounting)
            unplaced = {
                "metadata": {"name": "unplaced"},
                "spec": {"nodeSelector": {"nowhere": "x"}, "containers": [{"name": "c", "image": "busybox"}]},
            }
            helpers.call(core.create_namespaced_pod, ns, unplaced)

            def creating() -> Any:
                statuses = helpers.call(core.read_namespaced_pod, "mounting", ns)["status"].get("containerStatuses")
                return statuses and statuses[0]["state"].get("waiting", {}).get("reason") == "ContainerCreating"

            eventually(creating)
            out: dict[str, Any] = {"unplaced": core.read_namespaced_pod_log("unplaced", ns)}
            for key, options in {
                "waiting": {},
                "previous": {"previous": True},
                "unknown": {"container": "zzz"},
                "bad_tail": {"tail_lines": -2},
            }.items():
                with pytest.raises(ApiException) as caught:
                    core.read_namespaced_pod_log("mounting", ns, **options)
                out[key] = obs(helpers.status_of(caught.value))
            with pytest.raises(ApiException) as forbidden:
                backend.core("limited").read_namespaced_pod_log("mounting", ns)
            out["limited"] = obs(helpers.status_of(forbidden.value))
            status = helpers.call(core.read_namespaced_pod, "mounting", ns)["status"]
            out["pending"] = obs(masked(status))
            return out

    result = contract.run(scenario)
    assert result["unplaced"] is None
    assert result["waiting"]["http"] == 400
    assert (
        result["waiting"]["body"]["message"] == 'container "c" in pod "mounting" is waiting to start: ContainerCreating'
    )
    assert result["previous"]["body"]["message"] == 'previous terminated container "c" in pod "mounting" not found'
    assert result["unknown"]["body"]["message"] == "container zzz is not valid for pod mounting"
    assert result["bad_tail"]["http"] == 422
    assert result["limited"]["http"] == 403 and 'cannot get resource "pods/log"' in result["limited"]["body"]["message"]
    assert result["pending"]["phase"] == "Pending" and "podIP" not in result["pending"]


def test_deleting_a_running_pod(contract: Any, helpers: Any, kubelets: Any) -> None:
    """Graceful deletion: the kubelet stops the container, reports it, and removes the pod with grace 0."""

    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with node_and_namespace(kubelets, backend, helpers, obs, "deleting") as (node, ns):
            body = pod_on(node, "sleeper", {"name": "c", "image": "busybox", "command": ["sleep", "60"]})
            helpers.call(core.create_namespaced_pod, ns, body)

            def running() -> Any:
                pod = helpers.call(core.read_namespaced_pod, "sleeper", ns)
                return pod if pod["status"].get("phase") == "Running" else None

            started = eventually(running)
            events = helpers.follow(core.list_namespaced_pod, ns, started, 20)
            deleted = helpers.call(core.delete_namespaced_pod, "sleeper", ns)
            seen = events.join()
            last = seen[-1]["object"]
            return {
                "grace": deleted["metadata"]["deletionGracePeriodSeconds"],
                "events": [e["type"] for e in seen],
                "final_state": obs(masked(last["status"]["containerStatuses"][0]["state"])),
                "final_grace": last["metadata"].get("deletionGracePeriodSeconds"),
            }

    result = contract.run(scenario)
    assert result["grace"] == 30 and result["events"][-1] == "DELETED" and result["final_grace"] == 0
    # deletionTimestamp set; the container reported terminated; grace cut to 0 by the kubelet's delete; gone
    assert result["events"] == ["MODIFIED", "MODIFIED", "MODIFIED", "DELETED"]
    assert result["final_state"]["terminated"]["exitCode"] == 143
