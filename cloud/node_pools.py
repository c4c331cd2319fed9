"""ACK node pool calls: create, list, describe, resize, remove nodes, delete, and the nodes of a pool.

SDK types stay here; callers get pydantic models. Paths and shapes are the SDK's (alibabacloud_cs20151215 7.2.3):
CreateClusterNodePool `POST /clusters/{id}/nodepools`, DescribeClusterNodePools `GET` on the same path,
DescribeClusterNodePoolDetail `GET /clusters/{id}/nodepools/{np}`, ModifyClusterNodePool `PUT` on it,
DeleteClusterNodepool `DELETE` on it, RemoveNodePoolNodes `DELETE /clusters/{id}/nodepools/{np}/nodes`,
DescribeClusterNodes `GET /clusters/{id}/nodes`. Task ids go to `ContainerService.describe_task`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ack_compute.cloud.clients import OpenApiClients
from ack_compute.cloud.cs import DataDiskSpec, pruned, verbatim_request
from ack_compute.cloud.ecs import SpotStrategy
from ack_compute.cloud.errors import CloudError

TaintEffect = Literal["NoSchedule", "NoExecute", "PreferNoSchedule"]
NODES_PAGE_SIZE = 100  # DescribeClusterNodes pageSize: "Valid values: 1 to 100" (SDK request doc)


class TaintSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1)
    value: str = ""
    effect: TaintEffect = "NoSchedule"


class NodePoolConfig(BaseModel):
    """What to create: CreateClusterNodePool's `nodepool_info`, `scaling_group` and `kubernetes_config`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=63)
    instance_types: list[str] = Field(min_length=1)
    desired_size: int = Field(ge=0)
    vswitch_ids: list[str] = Field(min_length=1)
    system_disk_category: str = "cloud_essd"
    system_disk_size: int = 120
    data_disks: list[DataDiskSpec] = []
    spot_strategy: SpotStrategy = "NoSpot"
    # SpotWithPriceLimit: the highest hourly price per instance type (scaling_group.spot_price_limit).
    spot_price_limit: dict[str, float] = {}
    labels: dict[str, str] = {}
    taints: list[TaintSpec] = []
    tags: dict[str, str] = {}
    login_password: SecretStr | None = None
    key_pair: str | None = None
    security_group_id: str | None = None

    def wire_body(self) -> dict[str, Any]:
        """The JSON body, with nothing empty or unset on the wire (see cs.verbatim_request)."""
        scaling_group: dict[str, Any] = {
            "vswitch_ids": list(self.vswitch_ids),
            "instance_types": list(self.instance_types),
            "desired_size": self.desired_size,
            "instance_charge_type": "PostPaid",
            "system_disk_category": self.system_disk_category,
            "system_disk_size": self.system_disk_size,
            "data_disks": [disk.model_dump(exclude_none=True) for disk in self.data_disks],
            "spot_strategy": self.spot_strategy,
            "spot_price_limit": [
                {"instance_type": type_id, "price_limit": str(limit)}
                for type_id, limit in self.spot_price_limit.items()
            ],
            "key_pair": self.key_pair,
            "login_password": self.login_password.get_secret_value() if self.login_password else None,
            # security_group_ids, not security_group_id: the SDK's response model marks the single one deprecated.
            "security_group_ids": [self.security_group_id] if self.security_group_id else [],
            "tags": [{"key": k, "value": v} for k, v in self.tags.items()],
        }
        kubernetes_config = {
            "labels": [{"key": k, "value": v} for k, v in self.labels.items()],
            "taints": [taint.model_dump() for taint in self.taints],
        }
        body = {
            "nodepool_info": {"name": self.name},
            "scaling_group": scaling_group,
            "kubernetes_config": kubernetes_config,
        }
        return pruned(body)


class NodePoolInfo(BaseModel):
    nodepool_id: str
    name: str
    state: str  # status.state: active, scaling, removing, deleting, initial, failed, updating, ...
    desired_size: int
    total_nodes: int
    healthy_nodes: int
    serving_nodes: int
    instance_types: list[str]
    spot_strategy: str
    labels: dict[str, str]
    taints: list[TaintSpec]
    tags: dict[str, str]
    is_default: bool
    created: str | None
    vswitch_ids: list[str] = []  # where its nodes go: their zones decide which instance types can be had

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> NodePoolInfo:
        info = raw.get("nodepool_info") or {}
        group = raw.get("scaling_group") or {}
        kube = raw.get("kubernetes_config") or {}
        status = raw.get("status") or {}
        return cls(
            nodepool_id=str(info.get("nodepool_id") or ""),
            name=str(info.get("name") or ""),
            state=str(status.get("state") or ""),
            desired_size=int(group.get("desired_size") or 0),
            total_nodes=int(status.get("total_nodes") or 0),
            healthy_nodes=int(status.get("healthy_nodes") or 0),
            serving_nodes=int(status.get("serving_nodes") or 0),
            instance_types=list(group.get("instance_types") or []),
            spot_strategy=str(group.get("spot_strategy") or "NoSpot"),
            labels=_pairs(kube.get("labels")),
            taints=[
                TaintSpec(key=t["key"], value=t.get("value") or "", effect=t.get("effect") or "NoSchedule")
                for t in kube.get("taints") or []
                if isinstance(t, dict) and t.get("key")
            ],
            tags=_pairs(group.get("tags")),
            is_default=bool(info.get("is_default")),
            created=info.get("created") or None,
            vswitch_ids=list(group.get("vswitch_ids") or []),
        )


class PoolNode(BaseModel):
    instance_id: str
    node_name: str
    state: str  # the node's `state`: pending, running, starting, stopping, stopped (plus removing, initial, failed)
    node_status: str = ""  # Ready, NotReady, Unknown, Offline
    instance_type: str
    zone: str | None = None  # DescribeClusterNodes has no zone field: None unless the caller looks it up
    ip: str | None
    nodepool_id: str


def _pairs(items: Any) -> dict[str, str]:
    return {str(t["key"]): str(t.get("value") or "") for t in items or [] if isinstance(t, dict) and t.get("key")}


class NodePoolService:
    def __init__(self, clients: OpenApiClients) -> None:
        self._clients = clients

    def _cs(self, region: str | None) -> Any:
        # The cluster region's endpoint (see ContainerService._cs).
        return self._clients.client("cs", region)

    def create(self, cluster_id: str, config: NodePoolConfig, region: str | None = None) -> tuple[str, str]:
        """CreateClusterNodePool; returns (nodepool_id, task_id).

        The API takes no ClientToken (SDK CreateClusterNodePoolRequest has none), so the call is not repeated
        after a 5xx or a network error: it may have created the pool, and the caller reconciles by name
        (`list(name=...)`). Only throttling, refused before any work, is retried.
        """
        request = verbatim_request("CreateClusterNodePoolRequest", config.wire_body())
        body = self._clients.call(
            "CreateClusterNodePool",
            lambda: self._cs(region).create_cluster_node_pool(cluster_id, request).body.to_map(),
            idempotent=False,
        )
        return str(body["nodepool_id"]), str(body.get("task_id") or "")

    def list(self, cluster_id: str, region: str | None = None, name: str | None = None) -> list[NodePoolInfo]:
        """DescribeClusterNodePools; `name` is sent as NodepoolName and compared exactly here as well."""
        from alibabacloud_cs20151215 import models as m

        request = m.DescribeClusterNodePoolsRequest(nodepool_name=name or None)
        body = self._clients.call(
            "DescribeClusterNodePools",
            lambda: self._cs(region).describe_cluster_node_pools(cluster_id, request).body.to_map(),
        )
        pools = [NodePoolInfo.from_api(raw) for raw in body.get("nodepools") or []]
        return [pool for pool in pools if name is None or pool.name == name]

    def get(self, cluster_id: str, nodepool_id: str, region: str | None = None) -> NodePoolInfo:
        """DescribeClusterNodePoolDetail; a pool that does not exist is a CloudError with is_not_found."""
        body = self._clients.call(
            "DescribeClusterNodePoolDetail",
            lambda: self._cs(region).describe_cluster_node_pool_detail(cluster_id, nodepool_id).body.to_map(),
        )
        return NodePoolInfo.from_api(body)

    def scale(self, cluster_id: str, nodepool_id: str, desired_size: int, region: str | None = None) -> str | None:
        """ModifyClusterNodePool with `scaling_group.desired_size`, up or down; the task id if the API gave one.

        Setting the same size twice is harmless, so the call is retried like a read.
        """
        if desired_size < 0:
            raise ValueError("desired_size must be 0 or more")
        request = verbatim_request("ModifyClusterNodePoolRequest", {"scaling_group": {"desired_size": desired_size}})
        body = self._clients.call(
            "ModifyClusterNodePool",
            lambda: self._cs(region).modify_cluster_node_pool(cluster_id, nodepool_id, request).body.to_map(),
        )
        return str(body.get("task_id") or "") or None

    def remove_nodes(
        self, cluster_id: str, nodepool_id: str, instance_ids: list[str], region: str | None = None
    ) -> str:
        """RemoveNodePoolNodes: drain the nodes, remove them from the pool and release their ECS instances."""
        from alibabacloud_cs20151215 import models as m

        if not instance_ids:
            raise ValueError("name at least one instance to remove")
        request = m.RemoveNodePoolNodesRequest(instance_ids=list(instance_ids), drain_node=True, release_node=True)
        body = self._clients.call(
            "RemoveNodePoolNodes",
            lambda: self._cs(region).remove_node_pool_nodes(cluster_id, nodepool_id, request).body.to_map(),
        )
        return str(body.get("task_id") or "")

    def delete(self, cluster_id: str, nodepool_id: str, region: str | None = None) -> str:
        """DeleteClusterNodepool with `force`: the pool's nodes are removed and released with it. Returns the task
        id, or "" when the pool (or its whole cluster) is already gone, as after a repeat: Terraform's node pool
        resource treats not found on delete as done (resource_alicloud_cs_kubernetes_node_pool.go, NotFoundError)."""
        from alibabacloud_cs20151215 import models as m

        request = m.DeleteClusterNodepoolRequest(force=True)
        try:
            body = self._clients.call(
                "DeleteClusterNodepool",
                lambda: self._cs(region).delete_cluster_nodepool(cluster_id, nodepool_id, request).body.to_map(),
            )
        except CloudError as error:
            if error.is_not_found:
                return ""
            raise
        return str(body.get("task_id") or "")

    def nodes(self, cluster_id: str, nodepool_id: str, region: str | None = None) -> list[PoolNode]:
        """DescribeClusterNodes filtered by nodepool_id, across all pages."""
        from alibabacloud_cs20151215 import models as m

        found: list[PoolNode] = []
        page = 1
        while True:
            request = m.DescribeClusterNodesRequest(
                nodepool_id=nodepool_id, page_number=str(page), page_size=str(NODES_PAGE_SIZE)
            )
            body = self._clients.call(
                "DescribeClusterNodes",
                lambda r=request: self._cs(region).describe_cluster_nodes(cluster_id, r).body.to_map(),
            )
            batch = body.get("nodes") or []
            found.extend(_pool_node(raw, nodepool_id) for raw in batch)
            total = int((body.get("page") or {}).get("total_count") or 0)
            if not batch or len(found) >= total:
                return found
            page += 1


def _pool_node(raw: dict[str, Any], nodepool_id: str) -> PoolNode:
    ips = raw.get("ip_address") or []
    return PoolNode(
        instance_id=str(raw.get("instance_id") or ""),
        node_name=str(raw.get("node_name") or ""),
        state=str(raw.get("state") or ""),
        node_status=str(raw.get("node_status") or ""),
        instance_type=str(raw.get("instance_type") or ""),
        ip=str(ips[0]) if ips else None,
        nodepool_id=str(raw.get("nodepool_id") or nodepool_id),
    )
