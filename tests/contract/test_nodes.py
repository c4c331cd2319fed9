"""Nodes created through the API (as a kubelet registers them): defaults, admission taint, status subresource,
validation, selectors and watches."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

pytestmark = pytest.mark.contract


def ready_condition(status: str = "True") -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": status,
        "reason": "KubeletReady" if status == "True" else "KubeletNotReady",
        "message": "kubelet is posting ready status" if status == "True" else "runtime down",
        "lastHeartbeatTime": "2024-01-01T00:00:00Z",
        "lastTransitionTime": "2024-01-01T00:00:00Z",
    }


def node_body(name: str, labels: dict[str, str] | None = None, ready: str = "True") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "status": {
            "conditions": [ready_condition(ready)],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.7"}, {"type": "Hostname", "address": name}],
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            # The official client insists on every NodeSystemInfo field.
            "nodeInfo": {
                "machineID": "m",
                "systemUUID": "s",
                "bootID": "",
                "kernelVersion": "5.10",
                "osImage": "Linux",
                "containerRuntimeVersion": "containerd://1.6",
                "kubeletVersion": "v1.20.2",
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def drop_node(core: client.CoreV1Api, name: str) -> None:
    try:
        core.delete_node(name)
    except ApiException as error:
        if error.status != 404:
            raise


def test_node_registration(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        name, bare = helpers.unique("node", obs), helpers.unique("bare", obs)
        try:
            created = helpers.call(core.create_node, node_body(name, {"pool": obs.token}))
            minimal = helpers.call(core.create_node, {"metadata": {"name": bare}})
            typed = core.read_node(name)
            ready = next(c for c in typed.status.conditions if c.type == "Ready")
            assert ready.status == "True" and typed.status.node_info.kubelet_version == "v1.20.2"
            assert core.read_node(bare).status.node_info.kubelet_version == ""
            listed = helpers.call(core.list_node, label_selector=f"pool={obs.token}")
            by_field = helpers.call(core.list_node, field_selector=f"metadata.name={name},spec.unschedulable=false")
            with pytest.raises(ApiException) as bad_field:
                core.list_node(field_selector="status.phase=Ready")
            deleted = helpers.call(core.delete_node, bare)
            return {
                "created": obs(created),
                "minimal": obs(minimal),
                "listed": [i["metadata"]["name"] for i in obs(listed["items"])],
                "by_field": [i["metadata"]["name"] for i in obs(by_field["items"])],
                "bad_field": obs(helpers.status_of(bad_field.value)),
                "deleted": obs(deleted),
            }
        finally:
            drop_node(core, name)
            drop_node(core, bare)

    result = contract.run(scenario)
    created = result["created"]
    assert created["spec"] == {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}
    assert created["status"]["allocatable"] == created["status"]["capacity"]
    assert (
        created["status"]["nodeInfo"]["bootID"] == "" and created["status"]["nodeInfo"]["kubeletVersion"] == "v1.20.2"
    )
    assert "managedFields" not in result["minimal"]["metadata"]
    assert result["minimal"]["status"]["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 0}}
    assert result["listed"] == result["by_field"] == ["node-<t>"]
    assert result["bad_field"]["body"]["message"] == "field label not supported: status.phase"
    assert result["deleted"] == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": "bare-<t>", "kind": "nodes", "uid": "<uid>"},
    }


def test_node_status_subresource(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        name = helpers.unique("status", obs)
        try:
            created = helpers.call(core.create_node, node_body(name))
            main = helpers.call(core.replace_node, name, {**created, "status": {"capacity": {"cpu": "99"}}})
            flipped = {**main, "status": {**main["status"], "conditions": [ready_condition("False")]}}
            status = helpers.call(core.replace_node_status, name, flipped)
            patched = helpers.call(core.patch_node_status, name, {"status": {"capacity": {"cpu": "8"}}})
            unschedulable = helpers.call(core.patch_node, name, {"spec": {"unschedulable": True}})
            listed = helpers.call(core.list_node, field_selector=f"metadata.name={name},spec.unschedulable=true")
            return {
                "main_keeps_status": main["status"] == created["status"],
                "main_managed": obs(main["metadata"]["managedFields"]),
                "status_ready": [c["status"] for c in status["status"]["conditions"]],
                "patched_capacity": patched["status"]["capacity"],
                "spec": obs(unschedulable["spec"]),
                "listed": len(listed["items"]),
            }
        finally:
            drop_node(core, name)

    result = contract.run(scenario)
    assert result["main_keeps_status"] is True
    assert result["status_ready"] == ["False"]
    assert result["patched_capacity"] == {"cpu": "8", "memory": "8Gi", "pods": "110"}
    assert result["spec"]["unschedulable"] is True and result["listed"] == 1


def test_node_validation(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> list[dict[str, Any]]:
        bodies = [
            {"metadata": {"name": "Bad_Node"}},
            {
                "metadata": {"name": helpers.unique("taints", obs)},
                "spec": {"taints": [{"key": "k", "effect": "Sometimes"}]},
            },
            {"metadata": {"name": helpers.unique("taints", obs)}, "spec": {"taints": [{"effect": "NoSchedule"}]}},
            {"metadata": {"name": helpers.unique("taints", obs)}, "spec": {"taints": [{"key": "k"}]}},
        ]
        out = []
        for body in bodies:
            # Sent untyped: the official client refuses taints without key or effect before sending them.
            status, answer = backend.raw("POST", "/api/v1/nodes", body=body)
            out.append({"http": status, "body": obs(answer)})
        return out

    results = contract.run(scenario)
    assert all(r["http"] == 422 and r["body"]["details"]["kind"] == "Node" for r in results)
    assert "a lowercase RFC 1123 subdomain" in results[0]["body"]["message"]
    assert results[1]["body"]["details"]["causes"][0]["field"] == "metadata.taints[0].effect"
    assert results[2]["body"]["details"]["causes"][0]["message"] == 'Invalid value: "": name part must be non-empty'
    assert results[3]["body"]["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "metadata.taints[0].effect"}
    ]


def test_watch_nodes_with_label_selector(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> list[dict[str, Any]]:
        core = backend.core()
        pool = f"pool-{obs.token}"
        inside, outside = helpers.unique("in", obs), helpers.unique("out", obs)
        start = helpers.call(core.list_node)["metadata"]["resourceVersion"]
        collector = helpers.EventCollector(
            core.list_node, label_selector=f"pool={pool}", resource_version=start, timeout_seconds=3
        )
        try:
            core.create_node(node_body(inside, {"pool": pool}))
            core.create_node(node_body(outside, {"pool": "other"}))
            core.patch_node_status(inside, {"status": {"conditions": [ready_condition("False")]}})
            core.patch_node(outside, {"metadata": {"labels": {"pool": pool}}})
            core.delete_node(inside)
            core.patch_node(outside, {"metadata": {"labels": {"pool": "gone"}}})
            events = collector.join()
        finally:
            drop_node(core, inside)
            drop_node(core, outside)
        return [
            {
                "type": e["type"],
                "name": obs(e["object"]["metadata"]["name"]),
                "ready": [c["status"] for c in e["object"]["status"].get("conditions", []) if c["type"] == "Ready"],
                "pool": e["object"]["metadata"].get("labels", {}).get("pool", "").replace(pool, "<pool>"),
            }
            for e in events
        ]

    events = contract.run(scenario)
    assert events == [
        {"type": "ADDED", "name": "in-<t>", "ready": ["True"], "pool": "<pool>"},
        {"type": "MODIFIED", "name": "in-<t>", "ready": ["False"], "pool": "<pool>"},
        {"type": "ADDED", "name": "out-<t>", "ready": ["True"], "pool": "<pool>"},
        {"type": "DELETED", "name": "in-<t>", "ready": ["False"], "pool": "<pool>"},
        # Leaving the selection is a DELETED carrying the object as it was while it matched.
        {"type": "DELETED", "name": "out-<t>", "ready": ["True"], "pool": "<pool>"},
    ]
