"""CS add-on routes: ListAddons, ListClusterAddonInstances, GetClusterAddonInstance, InstallClusterAddons and
UpgradeClusterAddons.

Clients check here whether a cluster can run ACS pods (ack-virtual-node, v2.13.0 or later on Kubernetes 1.26+),
so installs and upgrades are asynchronous tasks like the real ones: the add-on shows `initial` or `upgrading`
until its task ends, and ack-virtual-node's virtual nodes appear only then.
"""

from __future__ import annotations

from typing import Any

from ack_compute.sandbox.cs.exceptions import addon_not_found, cluster_state_error, cs_invalid
from ack_compute.sandbox.cs.models.addons import available_addons, plan_addon_install, plan_addon_upgrade
from ack_compute.sandbox.cs.models.bodies import AddonIn, AddonUpgradeIn, parse_list
from ack_compute.sandbox.cs.models.clusters import find_cluster
from ack_compute.sandbox.cs.responses.views import addon_detail_view, addon_instance_view
from ack_compute.sandbox.router import ApiRequest
from ack_compute.sandbox.state import SandboxState


def list_addons(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    """ListAddons by cluster_id (the other filters are ignored then, SDK ListAddonsRequest doc). The sandbox keeps
    one catalog for every cluster kind, so the five-filter form is not served: it says to pass cluster_id."""
    cluster_id = request.query.get("cluster_id")
    if not cluster_id:
        raise cs_invalid(
            "cluster_id is required by this emulator (the region/type/profile/spec/version form is not served)"
        )
    with state.world.lock:
        cluster = find_cluster(state, cluster_id)
        return {"addons": available_addons(cluster)}


def list_cluster_addon_instances(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    """Every add-on of the cluster, in install order; the real reply carries no request id."""
    with state.world.lock:
        cluster = find_cluster(state, request.path_params["cluster_id"])
        return {"addons": [addon_instance_view(addon) for addon in cluster.addons]}


def get_cluster_addon_instance(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    name = request.path_params["instance_name"]
    with state.world.lock:
        cluster = find_cluster(state, request.path_params["cluster_id"])
        addon = cluster.addon(name)
        if addon is None:
            raise addon_not_found(cluster.cluster_id, name)
        return addon_detail_view(addon)


def install_cluster_addons(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    """Only running clusters take new add-ons; the whole list is checked before anything is installed."""
    items = parse_list(AddonIn, request.body)
    world = state.world
    with world.lock:
        cluster = find_cluster(state, request.path_params["cluster_id"])
        if cluster.state != "running":
            raise cluster_state_error(cluster.cluster_id, cluster.state)
        addons = plan_addon_install(items, cluster, world.clock.now())
        task = state.lifecycle.start_addon_install(cluster, addons)
    return {"cluster_id": cluster.cluster_id, "task_id": task.task_id, "request_id": request.request_id}


def upgrade_cluster_addons(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    items = parse_list(AddonUpgradeIn, request.body)
    with state.world.lock:
        cluster = find_cluster(state, request.path_params["cluster_id"])
        if cluster.state != "running":
            raise cluster_state_error(cluster.cluster_id, cluster.state)
        targets = plan_addon_upgrade(items, cluster)
        task = state.lifecycle.start_addon_upgrade(cluster, targets)
    return {"cluster_id": cluster.cluster_id, "task_id": task.task_id, "request_id": request.request_id}
