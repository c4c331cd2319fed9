"""Cluster add-ons through the real CS SDK: default add-ons, the list and get shapes, installs, upgrades, 404s."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from alibabacloud_cs20151215 import models as cs_models
from alibabacloud_cs20151215.client import Client as CsClient
from alibabacloud_tea_openapi.exceptions import ClientException
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from ack_compute.sandbox import SandboxCloud, planting
from ack_compute.sandbox.catalog import load_catalog
from ack_compute.sandbox.kube_bridge import KubeBridge
from ack_compute.sandbox.state import SandboxState, generate_credentials
from tests.helpers.cs_requests import managed_cluster_request, worker_pool
from tests.helpers.planting import plant_network
from tests.helpers.waiting import eventually

SCALE = 2000.0
VIRTUAL_NODE = "ack-virtual-node"
CURRENT_VIRTUAL_NODE = "v2.15.8"
DEFAULTS = {"coredns", "metrics-server", "kube-proxy-worker", "csi-plugin", "managed-csiprovisioner"}


pytestmark = pytest.mark.usefixtures("fast_clock")  # at SCALE (tests/sandbox/conftest.py)


@pytest.fixture
def network(cloud: SandboxCloud) -> tuple[str, list[str]]:
    """A VPC with vSwitches in two zones, so virtual nodes come two by two."""
    zones = ("cn-hangzhou-i", "192.168.11.0/24"), ("cn-hangzhou-j", "192.168.12.0/24")
    return plant_network(cloud, "addons", "192.168.0.0/16", *zones)


def error_of(call: Callable[[], object]) -> tuple[int, str, str]:
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value.status_code, raised.value.code, str(raised.value.message)


def create(cs: CsClient, network: tuple[str, list[str]], **overrides: Any) -> str:
    vpc_id, vswitch_ids = network
    scaling = cs_models.NodepoolScalingGroup(
        vswitch_ids=vswitch_ids[:1],
        instance_types=["ecs.g7.xlarge"],
        desired_size=1,
        system_disk_size=120,
        login_password=f"Aa1!{secrets.token_hex(6)}",  # throwaway, valid by the API's rules
    )
    fields: dict[str, Any] = {"cluster_spec": "ack.pro.small"}
    request = managed_cluster_request(
        "acf-addons", vpc_id, vswitch_ids, [worker_pool("workers", scaling)], **(fields | overrides)
    )
    return str(cs.create_cluster(request).body.cluster_id)


def state(cs: CsClient, cluster_id: str) -> str:
    return str(cs.describe_cluster_detail(cluster_id).body.state)


def listed(cs: CsClient, cluster_id: str) -> dict[str, tuple[str, str]]:
    body = cs.list_cluster_addon_instances(cluster_id).body
    assert isinstance(body, cs_models.ListClusterAddonInstancesResponseBody)
    assert all(isinstance(addon, cs_models.ListClusterAddonInstancesResponseBodyAddons) for addon in body.addons)
    return {str(addon.name): (str(addon.version), str(addon.state)) for addon in body.addons}


def install(cs: CsClient, cluster_id: str, *items: tuple[str, str | None]) -> cs_models.InstallClusterAddonsResponse:
    body = [cs_models.InstallClusterAddonsRequestBody(name=name, version=version) for name, version in items]
    return cs.install_cluster_addons(cluster_id, cs_models.InstallClusterAddonsRequest(body=body))


def task_state(cs: CsClient, task_id: str) -> str:
    return str(cs.describe_task_info(task_id).body.state)


def node_names(cs: CsClient, cluster_id: str) -> set[str]:
    """The nodes the cluster's Kubernetes API lists, through the kubeconfig CS hands out."""
    request = cs_models.DescribeClusterUserKubeconfigRequest(private_ip_address=True)
    text = cs.describe_cluster_user_kubeconfig(cluster_id, request).body.config
    configuration = k8s.Configuration()
    k8s_config.load_kube_config_from_dict(yaml.safe_load(text), client_configuration=configuration)
    with k8s.ApiClient(configuration) as api:
        return {str(node.metadata.name) for node in k8s.CoreV1Api(api).list_node().items}


def test_created_cluster_has_the_default_addons_and_the_requested_ones(
    cs: CsClient, network: tuple[str, list[str]]
) -> None:
    cluster_id = create(
        cs,
        network,
        addons=[
            cs_models.Addon(name="arms-prometheus", config=json.dumps({"enable": "true"})),
            cs_models.Addon(name="ack-node-problem-detector", disabled=True),
        ],
    )

    early = listed(cs, cluster_id)
    assert DEFAULTS | {"flannel", "arms-prometheus"} == set(early)
    assert {addon_state for _, addon_state in early.values()} == {"initial"}
    eventually(lambda: state(cs, cluster_id) == "running")
    addons = listed(cs, cluster_id)
    assert set(addons) == set(early) and {addon_state for _, addon_state in addons.values()} == {"active"}
    detail = cs.describe_cluster_detail(cluster_id).body
    assert addons["kube-proxy-worker"][0] == f"v{detail.current_version}"
    assert addons["coredns"][0] == "v1.11.3.2-f57ea7ed6-aliyun"
    assert {addon["name"] for addon in json.loads(detail.meta_data)["Addons"]} == set(addons)
    prometheus = cs.get_cluster_addon_instance(cluster_id, "arms-prometheus").body
    assert isinstance(prometheus, cs_models.GetClusterAddonInstanceResponseBody)
    assert (prometheus.name, prometheus.state, json.loads(prometheus.config)) == (
        "arms-prometheus",
        "active",
        {"enable": "true"},
    )
    assert prometheus.logging.enabled is False


def test_terway_comes_with_pod_vswitches_and_one_network_plugin_only(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, list[str]]
) -> None:
    # pod_vswitch_ids is deprecated (SDK mark): Terway is chosen as an add-on.
    terway = create(cs, network, addons=[cs_models.Addon(name="terway-eniip")], container_cidr=None)
    assert "terway-eniip" in listed(cs, terway) and "flannel" not in listed(cs, terway)

    before = len(cloud.clusters())
    cases: list[tuple[list[cs_models.Addon], str]] = [
        ([cs_models.Addon(name="flannel"), cs_models.Addon(name="terway-eniip")], "one network plugin"),
        ([cs_models.Addon(name="not-an-addon")], "not available"),
        ([cs_models.Addon(name=VIRTUAL_NODE, version="v2.11.0")], "v2.13.0 or later"),
        ([cs_models.Addon(name="arms-prometheus", config="not json")], "JSON object"),
        ([cs_models.Addon(name="flannel", disabled=True)], "cannot be disabled"),
    ]
    for addons, message in cases:
        fields = {"addons": addons, "service_cidr": "172.22.0.0/20", "container_cidr": "172.30.0.0/16"}
        status, code, text = error_of(lambda fields=fields: create(cs, network, **fields))
        assert (status, code) == (400, "InvalidParameter") and message in text, text
    assert len(cloud.clusters()) == before


def test_ack_virtual_node_at_creation_gives_one_virtual_node_per_zone(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, list[str]]
) -> None:
    cluster_id = create(cs, network, addons=[cs_models.Addon(name=VIRTUAL_NODE)])
    assert cloud.cluster(cluster_id).virtual_nodes == []

    eventually(lambda: state(cs, cluster_id) == "running")
    assert listed(cs, cluster_id)[VIRTUAL_NODE] == (CURRENT_VIRTUAL_NODE, "active")
    assert cloud.cluster(cluster_id).virtual_nodes == ["virtual-kubelet-cn-hangzhou-i", "virtual-kubelet-cn-hangzhou-j"]
    assert cs.describe_cluster_detail(cluster_id).body.size == 1  # virtual nodes are not ECS nodes


def test_install_is_a_task_after_which_the_addon_is_active_and_virtual_nodes_appear(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, list[str]]
) -> None:
    cluster_id = create(cs, network)
    eventually(lambda: state(cs, cluster_id) == "running")
    assert VIRTUAL_NODE not in listed(cs, cluster_id)

    reply = install(cs, cluster_id, (VIRTUAL_NODE, "v2.13.0"), ("nginx-ingress-controller", "v1.12.1-aliyun.1"))
    assert isinstance(reply.body, cs_models.InstallClusterAddonsResponseBody)
    assert reply.body.cluster_id == cluster_id and reply.body.task_id.startswith("T-") and reply.body.request_id
    assert listed(cs, cluster_id)[VIRTUAL_NODE] == ("v2.13.0", "initial")
    started = cs.describe_task_info(reply.body.task_id).body
    assert (started.state, started.task_type, started.target.id) == ("running", "cluster_addon_install", cluster_id)
    assert cloud.cluster(cluster_id).virtual_nodes == []
    eventually(lambda: task_state(cs, reply.body.task_id) == "success")
    addons = listed(cs, cluster_id)
    assert addons[VIRTUAL_NODE] == ("v2.13.0", "active")
    assert addons["nginx-ingress-controller"] == ("v1.12.1-aliyun.1", "active")
    assert cloud.cluster(cluster_id).virtual_nodes == ["virtual-kubelet-cn-hangzhou-i", "virtual-kubelet-cn-hangzhou-j"]
    assert cloud.addons(cluster_id)[VIRTUAL_NODE] == "v2.13.0"


def test_installed_virtual_nodes_are_visible_through_the_kubeconfig(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, list[str]]
) -> None:
    cluster_id = create(cs, network)
    eventually(lambda: state(cs, cluster_id) == "running")
    assert not any(name.startswith("virtual-kubelet-") for name in node_names(cs, cluster_id))

    task_id = install(cs, cluster_id, (VIRTUAL_NODE, CURRENT_VIRTUAL_NODE)).body.task_id
    eventually(lambda: task_state(cs, task_id) == "success")
    wanted = {"virtual-kubelet-cn-hangzhou-i", "virtual-kubelet-cn-hangzhou-j"}
    eventually(lambda: wanted <= node_names(cs, cluster_id))
    cloud.set_addon(cluster_id, VIRTUAL_NODE, None)
    assert not wanted & node_names(cs, cluster_id)


def test_install_refuses_bad_bodies_and_changes_nothing(
    cs: CsClient, cloud: SandboxCloud, network: tuple[str, list[str]]
) -> None:
    cluster_id = create(cs, network)
    eventually(lambda: state(cs, cluster_id) == "running")
    before, tasks = listed(cs, cluster_id), len(cloud.tasks())

    cases: list[tuple[tuple[tuple[str, str | None], ...], str]] = [
        ((), "at least one"),
        (((VIRTUAL_NODE, None),), "version is required"),
        ((("no-such-addon", "v1.0.0"),), "not available"),
        ((("coredns", "v1.11.3.2-f57ea7ed6-aliyun"),), "already installed"),
        (((VIRTUAL_NODE, "v2.11.0"),), "v2.13.0 or later"),
        (((VIRTUAL_NODE, "latest"),), "not a valid version"),
        (((VIRTUAL_NODE, "v2.13.0"), (VIRTUAL_NODE, "v2.13.0")), "more than once"),
        (((VIRTUAL_NODE, "v2.13.0"), ("terway-eniip", "v1.13.4")), "network plugin"),
    ]
    for items, message in cases:
        status, code, text = error_of(lambda items=items: install(cs, cluster_id, *items))
        assert (status, code) == (400, "InvalidParameter") and message in text, (items, text)
    assert listed(cs, cluster_id) == before and len(cloud.tasks()) == tasks


def test_addons_of_clusters_that_are_not_running_or_not_there(cs: CsClient, cloud: SandboxCloud) -> None:
    failed = cloud.plant_cluster("addons-failed", state="failed", nodes=0)

    assert error_of(lambda: install(cs, failed, (VIRTUAL_NODE, "v2.13.0")))[:2] == (400, "ErrorClusterState")
    missing = "c" + "0" * 32
    assert error_of(lambda: cs.list_cluster_addon_instances(missing))[:2] == (404, "ErrorClusterNotFound")
    assert error_of(lambda: cs.get_cluster_addon_instance(missing, "coredns"))[:2] == (404, "ErrorClusterNotFound")
    assert error_of(lambda: install(cs, missing, (VIRTUAL_NODE, "v2.13.0")))[:2] == (404, "ErrorClusterNotFound")


def test_unknown_addon_instance_is_not_found(cs: CsClient, cloud: SandboxCloud) -> None:
    cluster_id = cloud.plant_cluster("addons-404", nodes=0)

    status, code, message = error_of(lambda: cs.get_cluster_addon_instance(cluster_id, VIRTUAL_NODE))
    assert (status, code) == (404, "AddonNotFound") and cluster_id in message


def test_planted_addon_versions(cs: CsClient, cloud: SandboxCloud) -> None:
    old = cloud.plant_cluster("addons-old-vk", nodes=0, addons={VIRTUAL_NODE: "v2.11.0", "arms-prometheus": None})
    serverless = cloud.plant_cluster("addons-ask", profile="Serverless", nodes=0)

    assert cloud.addons(old)[VIRTUAL_NODE] == "v2.11.0" and cloud.addons(old)["arms-prometheus"] == "1.1.31"
    assert listed(cs, old)[VIRTUAL_NODE] == ("v2.11.0", "active")
    assert len(cloud.cluster(old).virtual_nodes) == 1  # an old ack-virtual-node still has its node, just no ACS
    assert cloud.addons(serverless)[VIRTUAL_NODE] == CURRENT_VIRTUAL_NODE
    assert "flannel" not in cloud.addons(serverless) and "flannel" in cloud.addons(old)


def test_list_addons_offers_each_installable_addon_at_its_current_version(cs: CsClient, cloud: SandboxCloud) -> None:
    """ListAddons by cluster_id: where a client learns the `version` InstallClusterAddons requires."""
    cluster_id = cloud.plant_cluster("addons-catalog", nodes=0)
    serverless = cloud.plant_cluster("addons-catalog-ask", profile="Serverless", nodes=0)

    body = cs.list_addons(cs_models.ListAddonsRequest(cluster_id=cluster_id)).body
    assert isinstance(body, cs_models.ListAddonsResponseBody)
    offered = {str(a.name): a for a in body.addons}
    assert offered[VIRTUAL_NODE].version == CURRENT_VIRTUAL_NODE
    assert offered[VIRTUAL_NODE].install_by_default is False and offered["coredns"].install_by_default is True
    assert "Install" in offered[VIRTUAL_NODE].supported_actions
    on_serverless = cs.list_addons(cs_models.ListAddonsRequest(cluster_id=serverless)).body.addons
    assert "flannel" in offered and "flannel" not in {str(a.name) for a in on_serverless}
    missing = "c" + "0" * 32
    assert error_of(lambda: cs.list_addons(cs_models.ListAddonsRequest(cluster_id=missing)))[:2] == (
        404,
        "ErrorClusterNotFound",
    )


def test_set_addon_knob_installs_changes_and_removes(cs: CsClient, cloud: SandboxCloud) -> None:
    cluster_id = cloud.plant_cluster("addons-knob", nodes=0)
    zone = cloud.cluster(cluster_id).zone_id

    cloud.set_addon(cluster_id, VIRTUAL_NODE, "v2.12.0")
    assert listed(cs, cluster_id)[VIRTUAL_NODE] == ("v2.12.0", "active")
    assert cloud.cluster(cluster_id).virtual_nodes == [f"virtual-kubelet-{zone}"]
    cloud.set_addon(cluster_id, VIRTUAL_NODE, CURRENT_VIRTUAL_NODE)
    assert cloud.addons(cluster_id)[VIRTUAL_NODE] == CURRENT_VIRTUAL_NODE
    cloud.set_addon(cluster_id, VIRTUAL_NODE, None)
    assert VIRTUAL_NODE not in listed(cs, cluster_id) and cloud.cluster(cluster_id).virtual_nodes == []
    assert error_of(lambda: cs.get_cluster_addon_instance(cluster_id, VIRTUAL_NODE))[:2] == (404, "AddonNotFound")


def test_upgrade_moves_an_old_addon_forward(cs: CsClient, cloud: SandboxCloud) -> None:
    cluster_id = cloud.plant_cluster("addons-upgrade", nodes=0, addons={VIRTUAL_NODE: "v2.11.0"})

    def upgrade(name: str, next_version: str) -> cs_models.UpgradeClusterAddonsResponseBody:
        body = [cs_models.UpgradeClusterAddonsRequestBody(component_name=name, next_version=next_version)]
        return cs.upgrade_cluster_addons(cluster_id, cs_models.UpgradeClusterAddonsRequest(body=body)).body

    assert error_of(lambda: upgrade(VIRTUAL_NODE, "v2.10.0"))[:2] == (400, "InvalidParameter")
    assert error_of(lambda: upgrade("arms-prometheus", "1.2.0"))[:2] == (404, "AddonNotFound")
    reply = upgrade(VIRTUAL_NODE, CURRENT_VIRTUAL_NODE)
    assert reply.cluster_id == cluster_id and reply.task_id.startswith("T-")
    assert listed(cs, cluster_id)[VIRTUAL_NODE] == ("v2.11.0", "upgrading")
    assert cs.describe_task_info(reply.task_id).body.task_type == "cluster_addon_upgrade"
    eventually(lambda: task_state(cs, reply.task_id) == "success")
    assert listed(cs, cluster_id)[VIRTUAL_NODE] == (CURRENT_VIRTUAL_NODE, "active")


class RecordingBridge(KubeBridge):
    """A bridge with no Kubernetes API that records what the world tells it about virtual nodes."""

    def __init__(self) -> None:
        super().__init__(enabled=False)
        self.calls: list[tuple[str, ...]] = []

    def upsert_virtual_node(self, cluster_id: str, zone: str, region_id: str) -> None:
        self.calls.append(("upsert", cluster_id, zone, region_id))

    def delete_node(self, cluster_id: str, name: str) -> None:
        self.calls.append(("delete", cluster_id, name))


def test_the_bridge_is_told_to_register_and_remove_virtual_nodes() -> None:
    bridge = RecordingBridge()
    sandbox = SandboxState(catalog=load_catalog(), credentials=generate_credentials(), time_scale=SCALE, kube=bridge)
    try:
        running = planting.plant_cluster(sandbox, "bridge-ask", profile="Serverless", nodes=0, region_id="cn-shanghai")
        zone = sandbox.world.clusters[running].zone_id
        assert bridge.calls == [("upsert", running, zone, "cn-shanghai")]
        sandbox.lifecycle.set_addon(running, VIRTUAL_NODE, CURRENT_VIRTUAL_NODE)  # a new version, the same nodes
        sandbox.lifecycle.set_addon(running, VIRTUAL_NODE, None)
        assert bridge.calls[1:] == [("delete", running, f"virtual-kubelet-{zone}")]

        later = planting.plant_cluster(sandbox, "bridge-later", cluster_state="initial", nodes=0)
        sandbox.lifecycle.set_addon(later, VIRTUAL_NODE, CURRENT_VIRTUAL_NODE)
        assert len(bridge.calls) == 2  # nothing registers before the cluster runs
        eventually(lambda: len(bridge.calls) == 3)
        assert bridge.calls[2][:2] == ("upsert", later)
    finally:
        sandbox.world.clock.scheduler.stop()
