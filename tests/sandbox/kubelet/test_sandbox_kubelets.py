"""The sandbox's clusters get kubelets: pods run on planted clusters' nodes and on Serverless virtual nodes, reached
through the kubeconfig CS hands out; `SandboxCloud(run_containers=False)` runs nothing; `add_image` extends pulls."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from alibabacloud_cs20151215 import models as cs_models
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from ack_compute.sandbox import SandboxCloud
from tests.helpers.waiting import eventually

if TYPE_CHECKING:
    from conftest import Clients

TOLERATE = [{"key": "virtual-kubelet.io/provider", "operator": "Exists", "effect": "NoSchedule"}]


@pytest.fixture(scope="module")
def quiet_cloud() -> Iterator[SandboxCloud]:
    with SandboxCloud(time_scale=1000, run_containers=False) as running:
        yield running


def core_for(clients: Clients, cloud: SandboxCloud, cluster_id: str) -> k8s.CoreV1Api:
    cs = type(clients)(cloud).cs()
    request = cs_models.DescribeClusterUserKubeconfigRequest(private_ip_address=True, temporary_duration_minutes=60)
    text = cs.describe_cluster_user_kubeconfig(cluster_id, request).body.config
    configuration = k8s.Configuration()
    k8s_config.load_kube_config_from_dict(yaml.safe_load(text), client_configuration=configuration)
    return k8s.CoreV1Api(k8s.ApiClient(configuration))


def finished(core: k8s.CoreV1Api, name: str) -> Callable[[], Any]:
    def check() -> Any:
        pod = core.read_namespaced_pod(name, "default")
        return pod if pod.status.phase in ("Succeeded", "Failed") else None

    return check


def pod(name: str, image: str, command: list[str], **spec: Any) -> dict[str, Any]:
    labels = spec.pop("labels", {})
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": image, "command": command}], **spec},
    }


def test_a_planted_cluster_runs_pods_on_its_nodes(clients: Clients, cloud: SandboxCloud) -> None:
    cluster_id = cloud.plant_cluster("kubelet-runs", nodes=1)
    core = core_for(clients, cloud, cluster_id)
    (node,) = core.list_node().items
    assert node.status.daemon_endpoints.kubelet_endpoint.port > 0
    coredns = eventually(lambda: [p for p in core.list_namespaced_pod("kube-system").items if p.status.pod_ip])
    assert coredns[0].spec.node_name == node.metadata.name and coredns[0].status.phase == "Running"
    image = coredns[0].spec.containers[0].image.rsplit("/", 1)[0] + "/busybox:1.36"  # the in-cluster registry
    core.create_namespaced_pod("default", pod("hello", image, ["sh", "-c", "echo hello from $HOSTNAME"]))
    assert eventually(finished(core, "hello")).status.phase == "Succeeded"
    assert core.read_namespaced_pod_log("hello", "default") == "hello from hello\n"


def test_stalled_nodes_hold_pods_until_they_turn_ready(clients: Clients, cloud: SandboxCloud) -> None:
    cluster_id = cloud.plant_cluster("kubelet-stalled", nodes=1, nodes_ready=False)
    core = core_for(clients, cloud, cluster_id)
    node = core.list_node().items[0].metadata.name
    core.create_namespaced_pod("default", pod("held", "busybox", ["true"], nodeName=node))
    time.sleep(0.3)
    assert core.read_namespaced_pod("held", "default").status.phase == "Pending"
    cloud.set_nodes_ready(cluster_id)
    assert eventually(finished(core, "held")).status.phase == "Succeeded"


def test_serverless_virtual_nodes_run_acs_pods(clients: Clients, cloud: SandboxCloud) -> None:
    cluster_id = cloud.plant_cluster("kubelet-serverless", profile="Serverless", nodes=0)
    core = core_for(clients, cloud, cluster_id)
    (virtual,) = eventually(lambda: core.list_node(label_selector="type=virtual-kubelet").items)
    assert virtual.metadata.name.startswith("virtual-kubelet-cn-hangzhou-")
    body = pod(
        "acs",
        "registry-cn-hangzhou.ack.aliyuncs.com/acs/busybox:1.36",
        ["echo", "serverless"],
        labels={"alibabacloud.com/acs": "true"},
        nodeSelector={"type": "virtual-kubelet"},
        tolerations=TOLERATE,
    )
    core.create_namespaced_pod("default", body)
    done = eventually(finished(core, "acs"))
    assert done.status.phase == "Succeeded" and done.spec.node_name == virtual.metadata.name
    assert done.metadata.annotations["alibabacloud.com/instance-id"].startswith("acs-")
    assert core.read_namespaced_pod_log("acs", "default") == "serverless\n"


def test_run_containers_off_and_added_images(clients: Clients, quiet_cloud: SandboxCloud) -> None:
    cluster_id = quiet_cloud.plant_cluster("kubelet-quiet", nodes=1)
    core = core_for(clients, quiet_cloud, cluster_id)
    core.create_namespaced_pod("default", pod("skipped", "busybox", ["sh", "-c", "exit 7"]))
    done = eventually(finished(core, "skipped"))
    assert done.status.phase == "Succeeded"
    assert done.status.container_statuses[0].state.terminated.exit_code == 0
    assert "run_containers=False" in core.read_namespaced_pod_log("skipped", "default")
    core.create_namespaced_pod("default", pod("custom", "registry.example.com/team/app:1", ["run"]))

    def pull_failed() -> bool:
        statuses = core.read_namespaced_pod("custom", "default").status.container_statuses or []
        waiting = statuses[0].state.waiting if statuses else None
        return waiting is not None and waiting.reason in ("ErrImagePull", "ImagePullBackOff")

    eventually(pull_failed)
    quiet_cloud.add_image("registry.example.com/team/app")
    assert eventually(finished(core, "custom"), timeout=30).status.phase == "Succeeded", "pulled on the next attempt"
