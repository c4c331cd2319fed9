"""The sandbox's resources (VPCs, vSwitches, security groups, clusters, node pools, nodes, tasks) and their store.

Records stay in the store after deletion, marked with `deleted`, so tests can check that nothing leaked and
nothing foreign was touched; the API hides them the way the real one does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ack_compute.sandbox.catalog import Catalog
from ack_compute.sandbox.scheduler import SimClock, Timer

# The 15 values of DescribeClusterDetail `state` (alibabacloud_cs20151215 DescribeClusterDetailResponseBody).
ClusterState = Literal[
    "initial",
    "failed",
    "running",
    "updating",
    "upgrading",
    "removing",
    "draining",
    "scaling",
    "inactive",
    "unavailable",
    "deleting",
    "deleted",
    "delete_failed",
    "waiting",
    "disconnected",
]
TaskState = Literal["running", "success", "fail"]
TaskType = Literal[
    "cluster_create",
    "cluster_delete",
    "nodepool_create",
    "nodepool_scale",
    "nodepool_remove_nodes",
    "nodepool_delete",
    "cluster_addon_install",
    "cluster_addon_upgrade",
]
# Node pool status.state values (SDK DescribeClusterNodePoolDetailResponseBodyStatus doc: active, scaling,
# removing, deleting, updating; plus initial and failed, which the sandbox shows while a pool is created or broke).
NodePoolState = Literal["initial", "active", "scaling", "removing", "updating", "failed", "deleting", "deleted"]
AddonState = Literal["initial", "active", "upgrading", "updating", "deleting", "unhealthy"]


class _Created(Protocol):
    @property
    def created(self) -> datetime: ...


_C = TypeVar("_C", bound=_Created)


def newest_first(items: list[_C]) -> list[_C]:
    """Newest first; among equal timestamps the later-inserted item comes first."""
    return [item for _, item in sorted(enumerate(items), key=lambda pair: (pair[1].created, pair[0]), reverse=True)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Tag(_Record):
    key: str
    value: str = ""


class _Network(_Record):
    """What a VPC, a vSwitch and a security group all carry: region, name, description, tags, life span."""

    region_id: str
    name: str = ""
    description: str = ""
    tags: list[Tag] = []
    created: datetime
    deleted: datetime | None = None
    planted: bool = False


class Vpc(_Network):
    vpc_id: str
    cidr_block: str
    status: Literal["Pending", "Available"] = "Pending"
    vrouter_id: str
    route_table_id: str
    resource_group_id: str


class VSwitch(_Network):
    vswitch_id: str
    vpc_id: str
    zone_id: str
    cidr_block: str
    status: Literal["Pending", "Available"] = "Pending"
    used_ips: list[str] = []


class SecurityGroup(_Network):
    security_group_id: str
    vpc_id: str
    security_group_type: Literal["normal", "enterprise"] = "normal"
    created_by_cluster: str | None = None


class Node(_Record):
    """A worker ECS instance and the Kubernetes node it becomes, named like real ACK nodes."""

    name: str
    instance_id: str
    private_ip: str
    nodepool_id: str
    instance_type: str
    zone_id: str
    vswitch_id: str
    joined: bool = False
    ready: bool = False
    removing: bool = False  # being drained and released (RemoveNodePoolNodes, a scale-in, a pool deletion)
    created: datetime
    deleted: datetime | None = None


class DataDisk(_Record):
    category: str
    size: int
    performance_level: str | None = None


class Taint(_Record):
    key: str
    value: str = ""
    effect: str = "NoSchedule"


class NodePool(_Record):
    nodepool_id: str
    cluster_id: str
    region_id: str
    name: str
    is_default: bool = False
    instance_types: list[str]
    vswitch_ids: list[str]
    desired_size: int
    system_disk_category: str = "cloud_essd"
    system_disk_size: int = 120
    system_disk_performance_level: str | None = None
    data_disks: list[DataDisk] = []
    instance_charge_type: str = "PostPaid"
    image_type: str = "AliyunLinux3"
    key_pair: str | None = None
    has_password: bool = False
    security_group_id: str | None = None
    labels: list[Tag] = []
    taints: list[Taint] = []
    tags: list[Tag] = []
    spot_strategy: str = "NoSpot"
    state: NodePoolState = "initial"
    created: datetime
    updated: datetime


class TaskStage(_Record):
    state: Literal["running", "success", "failed"] = "running"
    message: str
    start_time: datetime
    end_time: datetime | None = None


class TaskEvent(_Record):
    action: str
    level: Literal["Normal", "Warning"] = "Normal"
    message: str
    reason: str
    source: str = "ACK"
    timestamp: datetime


class TaskError(_Record):
    code: str
    message: str


class Task(_Record):
    task_id: str
    task_type: TaskType
    cluster_id: str
    target_id: str
    target_type: Literal["cluster", "nodepool"]
    state: TaskState = "running"
    current_stage: str = ""
    stages: list[TaskStage] = []
    events: list[TaskEvent] = []
    error: TaskError | None = None
    created: datetime
    updated: datetime


class AddonInstance(_Record):
    """An add-on installed in a cluster, as ListClusterAddonInstances shows it; `config` is a JSON string."""

    name: str
    version: str
    state: AddonState = "active"
    config: str = ""
    next_version: str | None = None  # where a running upgrade lands
    created: datetime
    updated: datetime


class Cluster(_Record):
    cluster_id: str
    name: str
    region_id: str
    zone_id: str
    cluster_type: str = "ManagedKubernetes"
    cluster_spec: str = "ack.standard"
    profile: str = "Default"
    state: ClusterState = "initial"
    kubernetes_version: str
    vpc_id: str
    vswitch_ids: list[str]
    pod_vswitch_ids: list[str] = []
    container_cidr: str | None = None
    service_cidr: str
    security_group_id: str | None = None
    deletion_protection: bool = False
    endpoint_public_access: bool = False
    snat_entry: bool = False
    resource_group_id: str
    tags: list[Tag] = []
    nodepools: list[NodePool] = []
    nodes: list[Node] = []
    addons: list[AddonInstance] = []
    # Names of the virtual nodes (`virtual-kubelet-<zone>`) the cluster's Kubernetes API was told about.
    virtual_nodes: list[str] = []
    task_ids: list[str] = []
    kubeconfig_role: Literal["admin", "limited"] = "admin"
    unresponsive: bool = False
    nodes_never_ready: bool = False
    planted: bool = False
    created: datetime
    updated: datetime
    deleted: datetime | None = None

    def live_nodes(self) -> list[Node]:
        return [node for node in self.nodes if node.deleted is None]

    def nodepool(self, nodepool_id: str) -> NodePool | None:
        return next((pool for pool in self.nodepools if pool.nodepool_id == nodepool_id), None)

    def addon(self, name: str) -> AddonInstance | None:
        return next((addon for addon in self.addons if addon.name == name), None)


class LifecycleFault(_Record):
    """A failure queued for the next cluster creation or deletion."""

    code: str
    message: str


class Faults(_Record):
    creation: list[LifecycleFault] = Field(default_factory=list)
    deletion: list[LifecycleFault] = Field(default_factory=list)
    nodepool_scale: list[LifecycleFault] = Field(default_factory=list)
    stalled_nodes: int = 0


class World:
    """Every resource, behind one lock shared by request handlers and the scheduler thread."""

    def __init__(self, catalog: Catalog, clock: SimClock) -> None:
        self.catalog = catalog
        self.clock = clock
        self.lock = threading.RLock()
        self.vpcs: dict[str, Vpc] = {}
        self.vswitches: dict[str, VSwitch] = {}
        self.security_groups: dict[str, SecurityGroup] = {}
        self.clusters: dict[str, Cluster] = {}
        self.tasks: dict[str, Task] = {}
        self.faults = Faults()
        self.timers: dict[str, list[Timer]] = {}
        # ClientToken idempotency: a create repeated with the same token answers what the first one made.
        self.client_tokens: dict[tuple[str, str], dict[str, Any]] = {}

    def replay(self, action: str, token: str | None) -> dict[str, Any] | None:
        return self.client_tokens.get((action, token)) if token else None

    def remember(self, action: str, token: str | None, answer: dict[str, Any]) -> dict[str, Any]:
        if token:
            self.client_tokens[(action, token)] = answer
        return answer

    def live_vpc(self, vpc_id: str) -> Vpc | None:
        vpc = self.vpcs.get(vpc_id)
        return vpc if vpc is not None and vpc.deleted is None else None

    def live_vswitch(self, vswitch_id: str) -> VSwitch | None:
        vswitch = self.vswitches.get(vswitch_id)
        return vswitch if vswitch is not None and vswitch.deleted is None else None

    def live_security_group(self, group_id: str) -> SecurityGroup | None:
        group = self.security_groups.get(group_id)
        return group if group is not None and group.deleted is None else None

    def active_clusters(self) -> list[Cluster]:
        """Clusters that still hold cloud resources: everything not yet deleted."""
        return [cluster for cluster in self.clusters.values() if cluster.state != "deleted"]

    def schedule(self, key: str, world_seconds: float, action: Callable[[], None]) -> None:
        """Run `action` after `world_seconds` of cloud time, remembering the timer under `key` for cancel()."""
        self.timers.setdefault(key, []).append(self.clock.after(world_seconds, action))

    def cancel(self, key: str) -> None:
        for timer in self.timers.pop(key, []):
            timer.cancel()
