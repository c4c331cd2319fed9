"""Nodes as the kubelet registers them through the API, virtual nodes, and what virtual nodes do to their pods."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.helpers.waiting import eventually

if TYPE_CHECKING:
    from conftest import Setup

VIRTUAL = "virtual-kubelet-cn-hangzhou-k"
TOLERATE = [{"key": "virtual-kubelet.io/provider", "operator": "Exists", "effect": "NoSchedule"}]


def node(setup: Setup, name: str) -> dict[str, Any]:
    return json.loads(setup.core.read_node(name, _preload_content=False).data)


def test_a_worker_node_is_registered_ready(setup: Setup) -> None:
    registered = node(setup, setup.node)
    labels = registered["metadata"]["labels"]
    assert labels["pool"] == "a" and labels["kubernetes.io/hostname"] == setup.node
    assert "taints" not in registered["spec"], "a Ready node loses the not-ready taint admission gave it"
    status = registered["status"]
    assert {a["type"]: a["address"] for a in status["addresses"]}["InternalIP"] == "127.0.0.1"
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == setup.kubelet.log_server.port
    assert status["nodeInfo"]["kubeletVersion"] == "v1.20.2"
    assert status["capacity"]["cpu"] == "4" and status["allocatable"]["memory"] == "16Gi"
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True" and conditions["Ready"]["reason"] == "KubeletReady"
    managers = {entry["manager"] for entry in registered["metadata"]["managedFields"]}
    assert managers == {"kubelet"}


def test_readiness_flips_and_keeps_other_writers_labels_and_taints(setup: Setup) -> None:
    setup.core.patch_node(setup.node, {"metadata": {"labels": {"team": "x"}}})
    dedicated = {"key": "dedicated", "value": "x", "effect": "NoSchedule"}
    setup.core.patch_node(setup.node, {"spec": {"taints": [dedicated]}})
    setup.kubelet.set_ready(setup.node, False)
    down = node(setup, setup.node)
    keys = [t["key"] for t in down["spec"]["taints"]]
    assert keys == ["dedicated", "node.kubernetes.io/not-ready"]
    ready = next(c for c in down["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "KubeletNotReady"
    setup.kubelet.set_ready(setup.node, True)
    up = node(setup, setup.node)
    assert [t["key"] for t in up["spec"]["taints"]] == ["dedicated"] and up["metadata"]["labels"]["team"] == "x"


def test_removing_a_node_removes_its_pods(setup: Setup) -> None:
    setup.run("orphan", restart="Always", command=["sleep", "60"])
    setup.wait_phase("orphan", "Running")
    setup.kubelet.remove_node(setup.node)
    with pytest.raises(ApiException) as gone:
        setup.core.read_node(setup.node)
    assert gone.value.status == 404

    def pod_gone() -> bool:
        try:
            setup.pod("orphan")
        except ApiException as error:
            return error.status == 404
        return False

    eventually(pod_gone)
    assert setup.kubelet.nodes == []


def test_a_virtual_node_has_the_add_on_labels_and_taint(setup: Setup) -> None:
    setup.kubelet.register_node(VIRTUAL, virtual=True)
    registered = node(setup, VIRTUAL)
    labels = registered["metadata"]["labels"]
    assert labels["type"] == "virtual-kubelet" and labels["kubernetes.io/role"] == "agent"
    assert labels["alibabacloud.com/virtual-node"] == "true"
    assert labels["service.alibabacloud.com/exclude-node"] == "true"
    assert labels["topology.kubernetes.io/zone"] == "cn-hangzhou-k"
    assert labels["topology.kubernetes.io/region"] == "cn-hangzhou"
    assert labels["topology.diskplugin.csi.alibabacloud.com/zone"] == "cn-hangzhou-k"
    assert registered["spec"]["taints"] == [
        {"key": "virtual-kubelet.io/provider", "value": "alibabacloud", "effect": "NoSchedule"}
    ]
    assert int(registered["status"]["capacity"]["cpu"]) >= 1000


def virtual_pod(name: str, labels: dict[str, str], cpu: str | None, memory: str | None = None) -> dict[str, Any]:
    resources = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"type": "virtual-kubelet"},
            "tolerations": TOLERATE,
            "containers": [
                {
                    "name": "c",
                    "image": "registry-cn-hangzhou.ack.aliyuncs.com/acs/busybox:1.36",
                    "command": ["echo", "on acs"],
                    "resources": {"requests": resources, "limits": resources} if resources else {},
                }
            ],
        },
    }


def test_pods_on_virtual_nodes_become_acs_or_eci_instances(setup: Setup) -> None:
    setup.kubelet.register_node(VIRTUAL, virtual=True)
    setup.create(virtual_pod("acs", {"alibabacloud.com/acs": "true"}, "2"))
    setup.create(virtual_pod("acs-small", {"alibabacloud.com/compute-class": "general-purpose"}, "250m", "512Mi"))
    setup.create(virtual_pod("eci", {}, "1", "3Gi"))
    acs = setup.wait_phase("acs", "Succeeded")
    assert acs["spec"]["nodeName"] == VIRTUAL, "scheduled onto the virtual node through its selector and toleration"
    annotations = acs["metadata"]["annotations"]
    assert re.fullmatch(r"acs-[a-z0-9]{20}", annotations["alibabacloud.com/instance-id"])
    assert annotations["alibabacloud.com/pod-use-spec"] == "2-4Gi"
    assert annotations["alibabacloud.com/pod-ephemeral-storage"] == "30Gi"
    assert annotations["ProviderCreate"] == "done" and annotations["topology.kubernetes.io/region"] == "cn-hangzhou"
    assert annotations["kubernetes.io/pod-stream-port"] == str(setup.kubelet.log_server.port)
    assert setup.log("acs") == "on acs\n"
    small = setup.wait_phase("acs-small", "Succeeded")["metadata"]["annotations"]
    assert small["alibabacloud.com/pod-use-spec"] == "0.25-0.5Gi"
    eci = setup.wait_phase("eci", "Succeeded")["metadata"]["annotations"]
    assert re.fullmatch(r"eci-[a-z0-9]{20}", eci["k8s.aliyun.com/eci-instance-id"])
    assert eci["k8s.aliyun.com/eci-instance-spec"] == "1.0-3.0Gi"
    assert "alibabacloud.com/instance-id" not in eci
    worker = setup.run("on-worker", command=["true"])
    assert "annotations" not in setup.wait_phase(worker["metadata"]["name"], "Succeeded")["metadata"]
