"""CS node pool routes: DescribeClusterNodePools and CreateClusterNodePool (on running clusters)."""

from __future__ import annotations

from typing import Any

from ack_compute.sandbox.cs.exceptions import cluster_state_error, cs_invalid
from ack_compute.sandbox.cs.models.bodies import NodepoolIn, parse_body
from ack_compute.sandbox.cs.models.clusters import find_cluster
from ack_compute.sandbox.cs.models.nodepools import plan_nodepool
from ack_compute.sandbox.cs.responses.views import nodepool_view
from ack_compute.sandbox.router import ApiRequest
from ack_compute.sandbox.state import SandboxState


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
    body = parse_body(NodepoolIn, request.body)
    with state.world.lock:
        cluster = find_cluster(state, request.path_params["cluster_id"])
        if cluster.state != "running":
            raise cluster_state_error(cluster.cluster_id, cluster.state)
        if cluster.profile == "Serverless":
            raise cs_invalid("Serverless clusters have no node pools")
        pool = plan_nodepool(body, cluster, state.world)
        if any(existing.name == pool.name and existing.state != "deleted" for existing in cluster.nodepools):
            raise cs_invalid(f"a node pool named {pool.name} already exists in cluster {cluster.cluster_id}")
        task = state.lifecycle.start_nodepool(cluster, pool)
    return {"nodepool_id": pool.nodepool_id, "request_id": request.request_id, "task_id": task.task_id}
