"""How clusters, node pools and nodes move through their states on the scaled clock.

Durations are real-world seconds; the scheduler divides them by the time scale. Creation runs through three
stages to `running`, then the nodes join NotReady and turn Ready after their boot time; deletion releases what
ACK created for the cluster (nodes, its own security group) and never the VPC or vSwitches. Add-ons turn active
when the cluster runs or their install task ends; a running cluster with ack-virtual-node (built into Serverless
clusters) has one virtual node per zone of its vSwitches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from ack_compute.sandbox import cidr, ids
from ack_compute.sandbox.catalog import stock_status
from ack_compute.sandbox.kube_bridge import KubeBridge
from ack_compute.sandbox.world import (
    AddonInstance,
    Cluster,
    ClusterState,
    LifecycleFault,
    Node,
    NodePool,
    SecurityGroup,
    Task,
    TaskError,
    TaskEvent,
    TaskStage,
    TaskType,
    VSwitch,
    World,
)

log = logging.getLogger("ack_compute.sandbox")

CREATE_STAGES: tuple[tuple[str, str, float], ...] = (
    ("PreCheck", "Checking cluster parameters and quotas", 20.0),
    ("CreateControlPlane", "Creating the managed control plane", 240.0),
    ("InstallAddons", "Installing cluster addons and worker nodes", 100.0),
)
FAILING_STAGE = 1
NODE_PROVISION_SECONDS = 60.0
NODE_BOOT_SECONDS = 120.0
DELETE_SECONDS = 180.0
VPC_READY_SECONDS = 5.0
VSWITCH_READY_SECONDS = 3.0
DELETED_RETENTION_SECONDS = 300.0
# Operation-and-maintenance phases of a running cluster, which ACK ends by returning it to running (Alibaba, "ACK
# cluster lifecycle and abnormal states"); how long one lasts here, in cloud seconds.
MAINTENANCE_STATES = ("updating", "upgrading", "scaling", "removing", "draining")
MAINTENANCE_SECONDS = 120.0
# States in which the cluster's API server cannot be used: ACK's periodic checks suspend a cluster (inactive:
# overdue payment, KMS; unavailable: its cloud resources are abnormal); a registered cluster's agent has not
# connected (waiting) or lost its connection (disconnected).
UNREACHABLE_STATES = ("inactive", "unavailable", "waiting", "disconnected")
ADDON_TASK_SECONDS = 60.0
VIRTUAL_NODE_ADDON = "ack-virtual-node"
VIRTUAL_NODE_PREFIX = "virtual-kubelet-"


@dataclass(frozen=True)
class _NodeView:
    """What the Kubernetes API needs to know about one node, captured under the world lock."""

    cluster_id: str
    name: str
    ready: bool
    labels: dict[str, str]
    taints: list[dict[str, str]]
    capacity: dict[str, str]


@dataclass(frozen=True)
class _VirtualNodes:
    """Virtual nodes to add (by zone) to and remove (by name) from a cluster's Kubernetes API."""

    cluster_id: str
    region_id: str
    add_zones: tuple[str, ...] = ()
    remove_names: tuple[str, ...] = ()


class Lifecycle:
    """Drives every asynchronous state change; all methods lock the world, kube calls happen outside it."""

    def __init__(self, world: World, kube: KubeBridge) -> None:
        self.world = world
        self.kube = kube

    # cluster creation

    def start_creation(self, cluster: Cluster) -> Task:
        """Register the new cluster and its create task; the first stage starts now."""
        world = self.world
        with world.lock:
            fault = world.faults.creation.pop(0) if world.faults.creation else None
            if world.faults.stalled_nodes:
                world.faults.stalled_nodes -= 1
                cluster.nodes_never_ready = True
            world.clusters[cluster.cluster_id] = cluster
            task = self._new_task(cluster, "cluster_create", cluster.cluster_id, "cluster")
            self._begin_stage(task, 0)
            self._schedule_stage(cluster.cluster_id, task.task_id, 0, fault)
            return task

    def _schedule_stage(self, cluster_id: str, task_id: str, index: int, fault: LifecycleFault | None) -> None:
        seconds = CREATE_STAGES[index][2]
        self.world.schedule(cluster_id, seconds, lambda: self._finish_stage(cluster_id, task_id, index, fault))

    def _finish_stage(self, cluster_id: str, task_id: str, index: int, fault: LifecycleFault | None) -> None:
        world = self.world
        with world.lock:
            cluster, task = world.clusters.get(cluster_id), world.tasks.get(task_id)
            if cluster is None or task is None or cluster.state != "initial":
                return
            if fault is not None and index == FAILING_STAGE:
                self._fail_creation(cluster, task, fault)
                return
            self._end_stage(task, "success")
            if index + 1 < len(CREATE_STAGES):
                self._begin_stage(task, index + 1)
                self._schedule_stage(cluster_id, task_id, index + 1, fault)
                return
            cluster.state = "running"
            cluster.updated = task.updated = world.clock.now()
            task.state = "success"
            task.current_stage = ""
            self._event(task, "ClusterRunning", "cluster is running")
            joining = [self._add_nodes(cluster, pool) for pool in cluster.nodepools if pool.desired_size > 0]
            for pool in cluster.nodepools:
                if pool.desired_size == 0:
                    pool.state = "active"
            self._activate_addons(cluster)
            up = _up_args(cluster)
            views = [view for group in joining for view in group]
            virtual = self._sync_virtual_nodes(cluster)
        self._bring_up(*up, views, virtual)
        self._schedule_boot(cluster_id, [view.name for view in views])

    def register_running(self, cluster: Cluster, *, nodes_ready: bool) -> None:
        """Add a cluster that is already running (planted), its nodes joined and Ready or NotReady."""
        world = self.world
        with world.lock:
            world.clusters[cluster.cluster_id] = cluster
            cluster.state = "running"
            cluster.nodes_never_ready = not nodes_ready
            task = self._new_task(cluster, "cluster_create", cluster.cluster_id, "cluster")
            self._begin_stage(task, 0)
            self._end_stage(task, "success")
            task.state, task.current_stage = "success", ""
            for pool in cluster.nodepools:
                for view in self._add_nodes(cluster, pool):
                    node = next(node for node in cluster.nodes if node.name == view.name)
                    node.ready = nodes_ready
            self._settle_pools(cluster)
            self._activate_addons(cluster)
            views = [
                self._view(cluster, pool, node)
                for node in cluster.live_nodes()
                if (pool := cluster.nodepool(node.nodepool_id)) is not None
            ]
            up = _up_args(cluster)
            virtual = self._sync_virtual_nodes(cluster)
        self._bring_up(*up, views, virtual)

    def _bring_up(
        self,
        cluster_id: str,
        version: str,
        region_id: str,
        unresponsive: bool,
        views: list[_NodeView],
        virtual: _VirtualNodes,
    ) -> None:
        """Start the cluster's Kubernetes API, seed it, show its nodes, then make it hang if asked to."""
        self.kube.cluster_up(cluster_id, version, region_id)
        self._push_nodes(views)
        self._push_virtual_nodes(virtual)
        if unresponsive:
            self.kube.set_unresponsive(cluster_id, True)

    def register_failed(self, cluster: Cluster, fault: LifecycleFault) -> None:
        """Add a cluster whose creation already failed (planted)."""
        with self.world.lock:
            self.world.clusters[cluster.cluster_id] = cluster
            task = self._new_task(cluster, "cluster_create", cluster.cluster_id, "cluster")
            self._begin_stage(task, 0)
            self._fail_creation(cluster, task, fault)

    def _fail_creation(self, cluster: Cluster, task: Task, fault: LifecycleFault) -> None:
        now = self._fail(cluster, "failed", task, fault, "ClusterCreationFailed")
        for pool in cluster.nodepools:
            pool.state = "failed"
            pool.updated = now

    def _fail(self, cluster: Cluster, state: ClusterState, task: Task, fault: LifecycleFault, reason: str) -> datetime:
        """A planted fault ends a cluster's task: the cluster takes `state`, the task fails with the fault's code
        and a Warning event `reason`. Returns the moment, for what else changes with it."""
        now = self.world.clock.now()
        self._end_stage(task, "failed")
        cluster.state = state
        cluster.updated = now
        task.state = "fail"
        task.error = TaskError(code=fault.code, message=fault.message)
        self._event(task, reason, fault.message, level="Warning")
        return now

    # nodes

    def _add_nodes(
        self, cluster: Cluster, pool: NodePool, count: int | None = None, *, by_stock: bool = False
    ) -> list[_NodeView]:
        """Create `count` instances (the pool's desired size by default) and join them NotReady, spread over the
        pool's vSwitches; returns what the Kubernetes API must show. `by_stock`: each node takes the first of the
        pool's instance types that its zone sells with stock, trying the pool's other vSwitches next, and a node
        no zone can supply is not created (the pool stays short, as ESS keeps retrying; see pool_lifecycle.py)."""
        world = self.world
        now = world.clock.now()
        views = []
        existing = sum(1 for node in cluster.live_nodes() if node.nodepool_id == pool.nodepool_id)
        for index in range(existing, existing + (pool.desired_size if count is None else count)):
            placed = self._place(cluster, pool, index, by_stock)
            if placed is None:
                continue
            vswitch, instance_type = placed
            address = cidr.next_address(cidr.IPv4Network(vswitch.cidr_block), vswitch.used_ips)
            if address is None:
                continue
            vswitch.used_ips.append(address)
            node = Node(
                name=f"{cluster.region_id}.{address}",
                instance_id=ids.instance_id(cluster.region_id),
                private_ip=address,
                nodepool_id=pool.nodepool_id,
                instance_type=instance_type,
                zone_id=vswitch.zone_id,
                vswitch_id=vswitch.vswitch_id,
                joined=True,
                created=now,
            )
            cluster.nodes.append(node)
            views.append(self._view(cluster, pool, node))
        return views

    def _place(self, cluster: Cluster, pool: NodePool, index: int, by_stock: bool) -> tuple[VSwitch, str] | None:
        """The vSwitch and instance type of the pool's `index`th node (round robin over its vSwitches)."""
        count = len(pool.vswitch_ids)
        if not by_stock:
            vswitch = self.world.live_vswitch(pool.vswitch_ids[index % count])
            return (vswitch, pool.instance_types[0]) if vswitch is not None else None
        for offset in range(count):
            vswitch = self.world.live_vswitch(pool.vswitch_ids[(index + offset) % count])
            if vswitch is None:
                continue
            for type_id in pool.instance_types:
                if self._in_stock(cluster.region_id, vswitch.zone_id, type_id):
                    return vswitch, type_id
        return None

    def _in_stock(self, region_id: str, zone_id: str, type_id: str) -> bool:
        """Whether the zone sells the type now (DescribeAvailableResource would answer Available); zones the
        catalog does not describe sell everything."""
        region = self.world.catalog.regions.get(region_id)
        zone = region.zones.get(zone_id) if region is not None else None
        return zone is None or (zone.offers(type_id) and stock_status(zone.stock_of(type_id)) == "Available")

    def _schedule_boot(self, cluster_id: str, names: list[str]) -> None:
        if names:
            self.world.schedule(cluster_id, NODE_BOOT_SECONDS, lambda: self._nodes_booted(cluster_id, names))

    def _nodes_booted(self, cluster_id: str, names: list[str]) -> None:
        world = self.world
        with world.lock:
            cluster = world.clusters.get(cluster_id)
            if cluster is None or cluster.state not in ("running", "delete_failed") or cluster.nodes_never_ready:
                return
            views = [
                replace(self._view(cluster, pool, node), ready=True)
                for node in cluster.live_nodes()
                if node.name in names and not node.ready and (pool := cluster.nodepool(node.nodepool_id)) is not None
            ]
        self._mark_ready(cluster_id, views)

    def _mark_ready(self, cluster_id: str, views: list[_NodeView]) -> None:
        """Kubernetes sees the nodes Ready first, then ACK calls them running and settles their pools: a pool is
        never `active` while one of its Node objects still says NotReady (a client reads the two in that order)."""
        self._push_nodes(views)
        world, names = self.world, {view.name for view in views}
        with world.lock:
            cluster = world.clusters.get(cluster_id)
            if cluster is None:
                return
            undone = [replace(view, ready=False) for view in views] if cluster.nodes_never_ready else []
            for node in cluster.live_nodes() if not undone else ():
                if node.name in names:
                    node.ready = True
            self._settle_pools(cluster)
        self._push_nodes(undone)  # a never-Ready fault came in between: it has the last word

    def _settle_pools(self, cluster: Cluster) -> None:
        """Pools being created or scaled out whose nodes are all Ready become active, and their tasks succeed."""
        now = self.world.clock.now()
        for pool in cluster.nodepools:
            nodes = [node for node in cluster.live_nodes() if node.nodepool_id == pool.nodepool_id]
            settling = pool.state in ("initial", "scaling")
            if settling and len(nodes) == pool.desired_size and all(node.ready for node in nodes):
                pool.state = "active"
                pool.updated = now
                for task in self.world.tasks.values():
                    if task.target_id == pool.nodepool_id and task.state == "running":
                        self._end_stage(task, "success")
                        task.state = "success"
                        task.current_stage = ""
                        task.updated = now

    def set_nodes_ready(self, cluster_id: str, ready: bool) -> None:
        """Force every node of a cluster Ready or NotReady (and lift or impose the never-Ready fault)."""
        world = self.world
        with world.lock:
            cluster = world.clusters[cluster_id]
            cluster.nodes_never_ready = not ready
            views = []
            for node in cluster.live_nodes():
                if (pool := cluster.nodepool(node.nodepool_id)) is not None:
                    views.append(replace(self._view(cluster, pool, node), ready=ready))
                    node.ready = node.ready and ready  # going Ready waits for Kubernetes (_mark_ready)
        if ready:
            self._mark_ready(cluster_id, views)
        else:
            self._push_nodes(views)

    def _view(self, cluster: Cluster, pool: NodePool, node: Node) -> _NodeView:
        spec = self.world.catalog.instance_types.get(node.instance_type)
        capacity = {"pods": "64", "ephemeral-storage": f"{pool.system_disk_size}Gi"}
        if spec is not None:
            capacity |= {"cpu": str(spec.vcpu), "memory": f"{int(spec.memory_gib * 1024 * 1024)}Ki"}
            if spec.gpu_amount:
                capacity["nvidia.com/gpu"] = str(spec.gpu_amount)
        labels = {
            "alibabacloud.com/nodepool-id": pool.nodepool_id,
            "node.kubernetes.io/instance-type": node.instance_type,
            "beta.kubernetes.io/instance-type": node.instance_type,
            "topology.kubernetes.io/region": cluster.region_id,
            "topology.kubernetes.io/zone": node.zone_id,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": node.name,
            **{label.key: label.value for label in pool.labels},
        }
        taints = [taint.model_dump() for taint in pool.taints]
        return _NodeView(cluster.cluster_id, node.name, node.ready, labels, taints, capacity)

    def _push_nodes(self, views: Iterable[_NodeView]) -> None:
        for view in views:
            self.kube.upsert_node(
                view.cluster_id, view.name, ready=view.ready, labels=view.labels, taints=view.taints,
                capacity=view.capacity,
            )  # fmt: skip

    # add-ons and virtual nodes

    def start_addon_install(self, cluster: Cluster, addons: list[AddonInstance]) -> Task:
        """Add the add-ons in state `initial`; they turn active together when the install task ends."""
        world = self.world
        with world.lock:
            cluster.addons.extend(addons)
            names = [addon.name for addon in addons]
            return self._start_addon_task(cluster, "cluster_addon_install", names)

    def start_addon_upgrade(self, cluster: Cluster, targets: list[tuple[str, str, str | None]]) -> Task:
        """Move each (name, next version, new config or None) add-on to `upgrading`, then to its next version."""
        world = self.world
        with world.lock:
            now = world.clock.now()
            for name, version, config in targets:
                addon = cluster.addon(name)
                if addon is not None:
                    addon.state, addon.next_version, addon.updated = "upgrading", version, now
                    if config is not None:
                        addon.config = config
            return self._start_addon_task(cluster, "cluster_addon_upgrade", [name for name, _, _ in targets])

    def _start_addon_task(self, cluster: Cluster, task_type: TaskType, names: list[str]) -> Task:
        task = self._new_task(cluster, task_type, cluster.cluster_id, "cluster")
        if task_type == "cluster_addon_install":
            self._begin_stage_named(task, "InstallAddons", f"Installing addons {', '.join(names)}")
        else:
            self._begin_stage_named(task, "UpgradeAddons", f"Upgrading addons {', '.join(names)}")
        cluster_id, task_id = cluster.cluster_id, task.task_id
        self.world.schedule(cluster_id, ADDON_TASK_SECONDS, lambda: self._finish_addon_task(cluster_id, task_id, names))
        return task

    def _finish_addon_task(self, cluster_id: str, task_id: str, names: list[str]) -> None:
        world = self.world
        with world.lock:
            cluster, task = world.clusters.get(cluster_id), world.tasks.get(task_id)
            if cluster is None or task is None or task.state != "running" or cluster.state != "running":
                return
            self._activate_addons(cluster, names)
            self._end_stage(task, "success")
            task.state = "success"
            task.current_stage = ""
            self._event(task, "AddonsReady", "addons are active")
            virtual = self._sync_virtual_nodes(cluster)
        self._push_virtual_nodes(virtual)

    def _activate_addons(self, cluster: Cluster, names: list[str] | None = None) -> None:
        """Add-ons being installed or upgraded (all, or those named) become active; upgrades land on their next
        version."""
        now = self.world.clock.now()
        for addon in cluster.addons:
            if addon.state in ("initial", "upgrading") and (names is None or addon.name in names):
                if addon.next_version:
                    addon.version, addon.next_version = addon.next_version, None
                addon.state, addon.updated = "active", now

    def set_addon(self, cluster_id: str, name: str, version: str | None) -> None:
        """Install `name` at `version` at once, change its version, or remove it (None); virtual nodes follow."""
        world = self.world
        with world.lock:
            cluster = world.clusters[cluster_id]
            addon = cluster.addon(name)
            now = world.clock.now()
            if version is None:
                if addon is not None:
                    cluster.addons.remove(addon)
            elif addon is not None:
                addon.version, addon.next_version, addon.state, addon.updated = version, None, "active", now
            else:
                state = "active" if cluster.state == "running" else "initial"
                cluster.addons.append(AddonInstance(name=name, version=version, state=state, created=now, updated=now))
            virtual = self._sync_virtual_nodes(cluster)
        self._push_virtual_nodes(virtual)

    def _sync_virtual_nodes(self, cluster: Cluster) -> _VirtualNodes:
        """Bring `cluster.virtual_nodes` to one per vSwitch zone while ack-virtual-node is installed on a running
        cluster, none without it; returns what the Kubernetes API must be told. Call under the lock."""
        unchanged = _VirtualNodes(cluster.cluster_id, cluster.region_id)
        if cluster.state != "running":
            return unchanged
        addon = cluster.addon(VIRTUAL_NODE_ADDON)
        serving = addon is not None and addon.state not in ("initial", "deleting")  # upgrades keep their nodes
        zones = self._vswitch_zones(cluster) if serving else []
        wanted = [f"{VIRTUAL_NODE_PREFIX}{zone}" for zone in zones]
        added = tuple(zone for zone, name in zip(zones, wanted, strict=True) if name not in cluster.virtual_nodes)
        removed = tuple(name for name in cluster.virtual_nodes if name not in wanted)
        cluster.virtual_nodes = wanted
        return _VirtualNodes(cluster.cluster_id, cluster.region_id, added, removed)

    def _vswitch_zones(self, cluster: Cluster) -> list[str]:
        zones: list[str] = []
        for vswitch_id in cluster.vswitch_ids:
            vswitch = self.world.vswitches.get(vswitch_id)
            if vswitch is not None and vswitch.zone_id not in zones:
                zones.append(vswitch.zone_id)
        return zones

    def _push_virtual_nodes(self, virtual: _VirtualNodes) -> None:
        for zone in virtual.add_zones:
            self.kube.upsert_virtual_node(virtual.cluster_id, zone, virtual.region_id)
        for name in virtual.remove_names:
            self.kube.delete_node(virtual.cluster_id, name)

    # node pools on a running cluster

    def start_nodepool(self, cluster: Cluster, pool: NodePool) -> Task:
        world = self.world
        with world.lock:
            cluster.nodepools.append(pool)
            task = self._new_task(cluster, "nodepool_create", pool.nodepool_id, "nodepool")
            self._begin_stage_named(task, "CreateNodePool", "Creating the node pool's instances")
            cluster_id, pool_id = cluster.cluster_id, pool.nodepool_id
            world.schedule(cluster_id, NODE_PROVISION_SECONDS, lambda: self._provision_pool(cluster_id, pool_id))
            return task

    def _provision_pool(self, cluster_id: str, nodepool_id: str) -> None:
        world = self.world
        with world.lock:
            cluster = world.clusters.get(cluster_id)
            pool = cluster.nodepool(nodepool_id) if cluster is not None else None
            if cluster is None or pool is None or cluster.state != "running" or pool.state != "initial":
                return
            views = self._add_nodes(cluster, pool, by_stock=True)
            self._settle_pools(cluster)
        self._push_nodes(views)
        self._schedule_boot(cluster_id, [view.name for view in views])

    # other states (the sandbox's test knob; see SandboxCloud.set_cluster_state)

    def set_state(self, cluster_id: str, state: str, *, back_to_running_after: float | None = None) -> None:
        """Move a cluster that exists into `state` the way ACK would get it there: a maintenance phase of a running
        cluster (returning to running after `back_to_running_after` cloud seconds, or staying until set again when
        None), a suspension that makes its API server unreachable, `running` again, or a deletion that ends
        `deleted` or `delete_failed` at once. Any other string is a state of the future this sandbox does not know:
        the cluster shows it and its API server stops answering."""
        world = self.world
        if state in ("deleted", "delete_failed"):
            self._delete_now(cluster_id, failed=state == "delete_failed")
            return
        with world.lock:
            cluster = world.clusters[cluster_id]
            if cluster.state in ("initial", "deleting", "deleted"):
                raise ValueError(f"cluster {cluster_id} is {cluster.state}; ACK moves it on by itself")
            if state == "deleting":
                self.start_deletion(cluster, set(), False)
                return
            if state in ("initial", "failed"):
                raise ValueError(f"only a creation ends {state}: plant the cluster with state={state!r}")
            cluster.state = state  # type: ignore[assignment]  # a future state is any string
            cluster.updated = world.clock.now()
            unreachable = state not in ("running", *MAINTENANCE_STATES)
            if state in MAINTENANCE_STATES and back_to_running_after is not None:
                world.schedule(cluster_id, back_to_running_after, lambda: self._maintenance_done(cluster_id, state))
            keep_hanging = cluster.unresponsive
        self.kube.set_unresponsive(cluster_id, unreachable or keep_hanging)

    def _maintenance_done(self, cluster_id: str, state: str) -> None:
        with self.world.lock:
            cluster = self.world.clusters.get(cluster_id)
            if cluster is None or cluster.state != state:
                return
            cluster.state = "running"
            cluster.updated = self.world.clock.now()

    def _delete_now(self, cluster_id: str, *, failed: bool) -> None:
        with self.world.lock:
            task = self._begin_deletion(self.world.clusters[cluster_id])
        fault = LifecycleFault(code="ErrorDeleteCluster", message="failed to release the cluster's resources")
        self._finish_deletion(cluster_id, task.task_id, set(), False, fault if failed else None)

    # deletion

    def start_deletion(self, cluster: Cluster, retained: set[str], retain_all: bool) -> Task:
        world = self.world
        with world.lock:
            fault = world.faults.deletion.pop(0) if world.faults.deletion else None
            task = self._begin_deletion(cluster)
            cluster_id, task_id = cluster.cluster_id, task.task_id
            world.schedule(
                cluster_id,
                DELETE_SECONDS,
                lambda: self._finish_deletion(cluster_id, task_id, retained, retain_all, fault),
            )
            return task

    def _begin_deletion(self, cluster: Cluster) -> Task:
        """Cancel what the cluster was doing and start its delete task. Call under the lock."""
        world = self.world
        world.cancel(cluster.cluster_id)
        for task in world.tasks.values():
            if task.cluster_id == cluster.cluster_id and task.state == "running":
                task.state = "fail"
                task.error = TaskError(code="TaskCanceled", message="the cluster is being deleted")
                task.updated = world.clock.now()
        cluster.state = "deleting"
        cluster.updated = world.clock.now()
        task = self._new_task(cluster, "cluster_delete", cluster.cluster_id, "cluster")
        self._begin_stage_named(task, "DeleteCluster", "Releasing the cluster's resources")
        return task

    def _finish_deletion(
        self, cluster_id: str, task_id: str, retained: set[str], retain_all: bool, fault: LifecycleFault | None
    ) -> None:
        world = self.world
        with world.lock:
            cluster, task = world.clusters.get(cluster_id), world.tasks.get(task_id)
            if cluster is None or task is None or cluster.state != "deleting":
                return
            now = world.clock.now()
            if fault is not None:
                self._fail(cluster, "delete_failed", task, fault, "ClusterDeletionFailed")
                return
            for node in cluster.live_nodes():
                self._release_node(node)
            for pool in cluster.nodepools:
                pool.state = "deleted"
                pool.updated = now
            group = world.live_security_group(cluster.security_group_id or "")
            owned = group is not None and group.created_by_cluster == cluster_id
            if group is not None and owned and not retain_all and group.security_group_id not in retained:
                group.deleted = now
            self._end_stage(task, "success")
            task.state = "success"
            task.current_stage = ""
            self._event(task, "ClusterDeleted", "cluster deleted")
            cluster.virtual_nodes = []
            cluster.state = "deleted"
            cluster.updated = cluster.deleted = now
        self.kube.cluster_down(cluster_id)

    def _release_node(self, node: Node) -> None:
        node.deleted = self.world.clock.now()
        node.ready = False
        vswitch = self.world.vswitches.get(node.vswitch_id)
        if vswitch is not None and node.private_ip in vswitch.used_ips:
            vswitch.used_ips.remove(node.private_ip)

    def gone(self, cluster: Cluster) -> bool:
        """A deleted cluster stays visible (state `deleted`) for a retention window, then is not found."""
        if cluster.deleted is None:
            return False
        elapsed = (self.world.clock.now() - cluster.deleted).total_seconds()
        return elapsed * self.world.clock.time_scale > DELETED_RETENTION_SECONDS

    # networks

    def network_ready_later(self, key: str, world_seconds: float, make_available: Callable[[], None]) -> None:
        def ready() -> None:
            with self.world.lock:
                make_available()

        self.world.schedule(key, world_seconds, ready)

    def create_cluster_security_group(self, cluster: Cluster, enterprise: bool) -> SecurityGroup:
        """The security group ACK makes for a cluster that brings none; it is released with the cluster."""
        group = SecurityGroup(
            security_group_id=ids.security_group_id(cluster.region_id),
            vpc_id=cluster.vpc_id,
            region_id=cluster.region_id,
            name=f"alicloud-cs-auto-created-security-group-{cluster.cluster_id}",
            description=f"security group of ACK cluster {cluster.cluster_id}",
            security_group_type="enterprise" if enterprise else "normal",
            tags=[tag.model_copy() for tag in cluster.tags],
            created_by_cluster=cluster.cluster_id,
            created=self.world.clock.now(),
        )
        self.world.security_groups[group.security_group_id] = group
        return group

    # tasks

    def _new_task(
        self,
        cluster: Cluster,
        task_type: TaskType,
        target_id: str,
        target_type: Literal["cluster", "nodepool"],
    ) -> Task:
        now = self.world.clock.now()
        task = Task(
            task_id=ids.task_id(),
            task_type=task_type,
            cluster_id=cluster.cluster_id,
            target_id=target_id,
            target_type=target_type,
            created=now,
            updated=now,
        )
        self.world.tasks[task.task_id] = task
        cluster.task_ids.append(task.task_id)
        return task

    def _begin_stage(self, task: Task, index: int) -> None:
        name, message, _ = CREATE_STAGES[index]
        self._begin_stage_named(task, name, message)

    def _begin_stage_named(self, task: Task, name: str, message: str) -> None:
        now = self.world.clock.now()
        task.current_stage = name
        task.stages.append(TaskStage(message=message, start_time=now))
        task.updated = now
        self._event(task, name, message)

    def _end_stage(self, task: Task, state: Literal["success", "failed"]) -> None:
        now = self.world.clock.now()
        if task.stages and task.stages[-1].end_time is None:
            task.stages[-1].state = state
            task.stages[-1].end_time = now
        task.updated = now

    def _event(self, task: Task, reason: str, message: str, level: Literal["Normal", "Warning"] = "Normal") -> None:
        now = self.world.clock.now()
        task.events.append(TaskEvent(action=task.task_type, level=level, message=message, reason=reason, timestamp=now))


def _up_args(cluster: Cluster) -> tuple[str, str, str, bool]:
    return cluster.cluster_id, _bare_version(cluster.kubernetes_version), cluster.region_id, cluster.unresponsive


def _bare_version(version: str) -> str:
    """`1.31.1-aliyun.1` -> `1.31.1`, the form the Kubernetes API reports."""
    return version.split("-", 1)[0]
