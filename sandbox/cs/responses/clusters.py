"""CS (ACK) cluster routes: CreateCluster, DescribeClustersForRegion, DescribeClusterDetail and DeleteCluster.

Creation and deletion are asynchronous, as in the real service: the call answers at once with a task id and
the cluster moves through its states on the scaled clock (see sandbox/lifecycle.py). The decommissioned
cluster APIs have no handler here; cs/urls.py lists them.
"""

from __future__ import annotations

import json
from typing import Any

from ack_compute.sandbox.cs.exceptions import cluster_not_found, cs_invalid, deletion_protected
from ack_compute.sandbox.cs.models.bodies import CreateClusterIn, parse_body, positive_query
from ack_compute.sandbox.cs.models.cluster_body import plan_cluster
from ack_compute.sandbox.cs.models.clusters import find_cluster, refuse_deprecated
from ack_compute.sandbox.cs.responses.views import cluster_detail_view, cluster_list_view
from ack_compute.sandbox.router import ApiRequest
from ack_compute.sandbox.state import SandboxState
from ack_compute.sandbox.world import newest_first

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
# How CS query flags spell yes.
TRUE_VALUES = ("true", "1")


def create_cluster(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    refuse_deprecated(request.body, "CreateClusterRequest")
    body = parse_body(CreateClusterIn, request.body)
    world, lifecycle = state.world, state.lifecycle
    with world.lock:
        if (answer := world.replay("CreateCluster", body.client_token)) is not None:
            return {**answer, "request_id": request.request_id}
        plan = plan_cluster(body, world)
        cluster = plan.cluster
        if plan.create_security_group:
            group = lifecycle.create_cluster_security_group(cluster, plan.enterprise_security_group)
            cluster.security_group_id = group.security_group_id
        task = lifecycle.start_creation(cluster)
        answer = world.remember(
            "CreateCluster", body.client_token, {"cluster_id": cluster.cluster_id, "task_id": task.task_id}
        )
    return {**answer, "request_id": request.request_id}


def describe_clusters_for_region(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    """`GET /regions/{region_id}/clusters`: one region's clusters, newest first; name is a fuzzy (substring)
    match and the other filters exact (SDK DescribeClustersForRegionRequest doc)."""
    query = request.query
    region_id = request.path_params["region_id"]
    page_number = positive_query(query.get("page_number"), 1, "page_number")
    page_size = positive_query(query.get("page_size"), DEFAULT_PAGE_SIZE, "page_size")
    if page_size > MAX_PAGE_SIZE:
        raise cs_invalid(f"page_size {page_size} is out of range [1, {MAX_PAGE_SIZE}]")
    exact = {key: query.get(key) for key in ("cluster_id", "cluster_type", "cluster_spec", "profile")}
    name = query.get("name") or ""
    world = state.world
    with world.lock:
        matches = [
            cluster
            for cluster in world.active_clusters()
            if cluster.region_id == region_id
            and name in cluster.name
            and all(not value or getattr(cluster, key) == value for key, value in exact.items())
        ]
        matches = newest_first(matches)
        shown = matches[(page_number - 1) * page_size :][:page_size]
        page = [cluster_list_view(cluster) for cluster in shown]
    return {
        "clusters": page,
        "page_info": {"page_number": page_number, "page_size": page_size, "total_count": len(matches)},
    }


def describe_cluster_detail(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    with state.world.lock:
        cluster = find_cluster(state, request.path_params["cluster_id"])
        return cluster_detail_view(cluster, state.kube.server_url(cluster.cluster_id))


def delete_cluster(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    """202 with a delete task; the cluster's own security group goes too unless retained."""
    query = request.query
    retain_all = (query.get("retain_all_resources") or "").lower() in TRUE_VALUES
    retained = set(_json_list(query.get("retain_resources"), "retain_resources"))
    _json_list(query.get("delete_options"), "delete_options")
    world = state.world
    with world.lock:
        cluster = find_cluster(state, request.path_params["cluster_id"])
        if cluster.state == "deleted":
            raise cluster_not_found(cluster.cluster_id)
        if cluster.state == "deleting":
            running = [world.tasks[task_id] for task_id in cluster.task_ids if world.tasks[task_id].state == "running"]
            task_id = running[-1].task_id if running else cluster.task_ids[-1]
        else:
            if cluster.deletion_protection:
                raise deletion_protected(cluster.cluster_id)
            task_id = state.lifecycle.start_deletion(cluster, {str(item) for item in retained}, retain_all).task_id
    return {"cluster_id": cluster.cluster_id, "request_id": request.request_id, "task_id": task_id}


def _json_list(text: str | None, name: str) -> list[Any]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise cs_invalid(f"{name} must be a JSON array") from None
    if not isinstance(value, list):
        raise cs_invalid(f"{name} must be a JSON array")
    return value
