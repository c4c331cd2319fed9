"""CS node pool routes: list, create, detail, resize, remove nodes, delete, and the cluster's nodes.

Methods, paths and answers are the SDK's (alibabacloud_cs20151215 7.2.3 client.py and response models); the
lifecycles are in sandbox/lifecycle.py (creation) and sandbox/pool_lifecycle.py (the rest).
ScaleClusterNodePool (`POST .../nodepools/{id}`, `count` to add) is not served: Alibaba's "Scale a node pool" page
documents ModifyClusterNodePool `scaling_group.desired_size` for this, and so does Terraform's node pool resource.
"""

from __future__ import annotations

import json
from typing import Any

from ack_compute.sandbox.cs.exceptions import (
    cluster_state_error,
    cs_invalid,
    nodepool_busy,
    nodepool_not_found,
)
from ack_compute.sandbox.cs.models.bodies import ModifyNodepoolIn, NodepoolIn, parse_body, positive_query
from ack_compute.sandbox.cs.models.clusters import find_cluster, refuse_deprecated
from ack_compute.sandbox.cs.models.nodepools import MAX_NODES, plan_nodepool
from ack_compute.sandbox.cs.responses.views import node_view, nodepool_view
from ack_compute.sandbox.router import ApiRequest
from ack_compute.sandbox.state import SandboxState
from ack_compute.sandbox.world import Cluster, NodePool

# DescribeClusterNodes pageSize: "Valid values: 1 to 100. Default value: 10" (SDK request doc).
NODES_PAGE_SIZE = (10, 100)
TRUE_VALUES = ("true", "1")
# ModifyClusterNodePool fields the sandbox acts on; any other change is refused as not emulated.
MODIFY_EMULATED = {"scaling_group": {"desired_size"}}
NO_POOLS_ON_SERVERLESS = (
    "ACK Serverless clusters have no node pools: run the work as ACS or ECI pods, or use an ACK managed cluster"
)


def describe_cluster_node_pools(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    """`NodepoolName` filters by exact name; deleted pools are not listed."""
    wanted = request.query.get("NodepoolName")
    with state.world.lock:
        cluster = find_cluster(state, request.path_params["cluster_id"])
        pools = [
            nodepool_view(cluster, pool)
            for pool in cluster.nodepools
            if pool.state != "deleted" and wanted in (None, "", pool.name)
        ]
    # DescribeClusterNodePoolsResponseBody (SDK 7.2.3) has `nodepools` only: the request id is in the header.
    return {"nodepools": pools}


def create_cluster_node_pool(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    """Fields the SDK marks deprecated (count, max_nodes, scaling_group.platform, ...) are refused. Alibaba's 2026
    announcement names CreateCluster, ModifyCluster and their kin, not the node pool calls: here the sandbox is
    stricter than the cloud documents, so that the product never comes to rely on a retired field."""
    refuse_deprecated(request.body, "CreateClusterNodePoolRequest")
    body = parse_body(NodepoolIn, request.body)
    with state.world.lock:
        cluster = _running_cluster(request, state)
        pool = plan_nodepool(body, cluster, state.world)
        if any(existing.name == pool.name and existing.state != "deleted" for existing in cluster.nodepools):
            raise cs_invalid(f"a node pool named {pool.name} already exists in cluster {cluster.cluster_id}")
        task = state.lifecycle.start_nodepool(cluster, pool)
    return {"nodepool_id": pool.nodepool_id, "request_id": request.request_id, "task_id": task.task_id}


def describe_cluster_node_pool_detail(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    with state.world.lock:
        cluster = find_cluster(state, request.path_params["cluster_id"])
        return nodepool_view(cluster, _pool(cluster, request))


def modify_cluster_node_pool(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    """Resize with `scaling_group.desired_size` (up or down); the answer carries the scaling task."""
    refuse_deprecated(request.body, "ModifyClusterNodePoolRequest")
    _refuse_not_emulated(request.body)
    body = parse_body(ModifyNodepoolIn, request.body)
    desired = body.scaling_group.desired_size if body.scaling_group is not None else None
    if desired is None:
        raise cs_invalid("scaling_group.desired_size is required (the sandbox emulates resizing only)")
    if not 0 <= desired <= MAX_NODES:
        raise cs_invalid(f"scaling_group.desired_size {desired} is out of range [0, {MAX_NODES}]")
    with state.world.lock:
        cluster = _running_cluster(request, state)
        pool = _idle_pool(cluster, request)
        task = state.pools.scale(cluster, pool, desired)
    return {"nodepool_id": pool.nodepool_id, "request_id": request.request_id, "task_id": task.task_id}


def remove_node_pool_nodes(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    """`instance_ids` (a JSON array in the query, as the SDK's shrink request sends it) must be nodes of the pool."""
    deprecated_query = {key: value for key, value in request.query.items() if key == "nodes"}
    refuse_deprecated(json.dumps(deprecated_query).encode(), "RemoveNodePoolNodesRequest")
    instance_ids = _json_list(request.query.get("instance_ids"), "instance_ids")
    if not instance_ids:
        raise cs_invalid("instance_ids must name at least one node of the pool")
    with state.world.lock:
        cluster = _running_cluster(request, state)
        pool = _idle_pool(cluster, request)
        members = {node.instance_id for node in state.pools.pool_nodes(cluster, pool)}
        strangers = [instance_id for instance_id in instance_ids if instance_id not in members]
        if strangers:
            raise cs_invalid(f"instances {', '.join(strangers)} are not nodes of node pool {pool.nodepool_id}")
        task = state.pools.remove_nodes(cluster, pool, list(dict.fromkeys(instance_ids)))
    return {"request_id": request.request_id, "task_id": task.task_id}


def delete_cluster_nodepool(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    """Without `force`, a pool that still has nodes is kept and the call fails (SDK DeleteClusterNodepoolRequest)."""
    force = request.query.get("force", "").lower() in TRUE_VALUES
    with state.world.lock:
        cluster = _running_cluster(request, state)
        pool = _pool(cluster, request)
        if pool.state == "deleting":
            raise nodepool_busy(pool.nodepool_id, pool.state)
        if state.pools.pool_nodes(cluster, pool) and not force:
            raise cs_invalid(
                f"node pool {pool.nodepool_id} still has nodes: remove them first, or delete with force=true"
            )
        task = state.pools.delete(cluster, pool)
    return {"request_id": request.request_id, "task_id": task.task_id}


def describe_cluster_nodes(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    """The cluster's worker nodes, newest last, filtered by nodepool_id, state, instanceIds, nodeNames, nodeIps."""
    query = request.query
    page = positive_query(query.get("pageNumber"), 1, "pageNumber")
    size = positive_query(query.get("pageSize"), NODES_PAGE_SIZE[0], "pageSize")
    if size > NODES_PAGE_SIZE[1]:
        raise cs_invalid(f"pageSize {size} is out of range [1, {NODES_PAGE_SIZE[1]}]")
    filters = {key: set(_csv(query.get(key))) for key in ("instanceIds", "nodeNames", "nodeIps")}
    wanted_state = query.get("state") or "all"
    with state.world.lock:
        cluster = find_cluster(state, request.path_params["cluster_id"])
        nodepool_id = query.get("nodepool_id")
        if nodepool_id and cluster.nodepool(nodepool_id) is None:
            raise nodepool_not_found(cluster.cluster_id, nodepool_id)
        views = [node_view(cluster, node) for node in cluster.live_nodes()]
    views = [
        view
        for view in views
        if (not nodepool_id or view["nodepool_id"] == nodepool_id)
        and (wanted_state == "all" or view["state"] == wanted_state)
        and (not filters["instanceIds"] or view["instance_id"] in filters["instanceIds"])
        and (not filters["nodeNames"] or view["node_name"] in filters["nodeNames"])
        and (not filters["nodeIps"] or filters["nodeIps"] & set(view["ip_address"]))
    ]
    start = (page - 1) * size
    return {
        "nodes": views[start : start + size],
        "page": {"page_number": page, "page_size": size, "total_count": len(views)},
    }


def _running_cluster(request: ApiRequest, state: SandboxState) -> Cluster:
    cluster = find_cluster(state, request.path_params["cluster_id"])
    if cluster.profile == "Serverless":
        raise cs_invalid(NO_POOLS_ON_SERVERLESS)
    if cluster.state != "running":
        raise cluster_state_error(cluster.cluster_id, cluster.state)
    return cluster


def _pool(cluster: Cluster, request: ApiRequest) -> NodePool:
    nodepool_id = request.path_params["nodepool_id"]
    pool = cluster.nodepool(nodepool_id)
    if pool is None or pool.state == "deleted":
        raise nodepool_not_found(cluster.cluster_id, nodepool_id)
    return pool


def _idle_pool(cluster: Cluster, request: ApiRequest) -> NodePool:
    pool = _pool(cluster, request)
    if pool.state != "active":
        raise nodepool_busy(pool.nodepool_id, pool.state)
    return pool


def _refuse_not_emulated(raw: bytes) -> None:
    try:
        body = json.loads(raw or b"{}")
    except json.JSONDecodeError:
        return  # parse_body reports it
    if not isinstance(body, dict):
        return
    # Empty values change nothing: the SDK's to_map puts `[]` on the wire for every list field left unset.
    extra = [
        f"{key}.{inner}" if isinstance(value, dict) else key
        for key, value in body.items()
        for inner, given in (value.items() if isinstance(value, dict) else [(None, value)])
        if given not in (None, [], {}) and inner not in MODIFY_EMULATED.get(key, set())
    ]
    if extra:
        raise cs_invalid(f"the sandbox emulates only scaling_group.desired_size; not {', '.join(extra)}")


def _json_list(text: str | None, field: str) -> list[str]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise cs_invalid(f"{field} must be a JSON array of strings")
    return value


def _csv(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]
