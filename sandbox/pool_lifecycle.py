"""How a node pool of a running cluster is resized, loses nodes and is deleted, on the scaled clock.

What the sandbox follows (sources outside this repo):
- Alibaba, "Scale a node pool" (ACK API reference): resize with ModifyClusterNodePool `scaling_group.desired_size`,
  answered with a task id. Alibaba, "Manually scale a node pool" (ACK user guide): scaling out, the pool's status is
  scaling ("Expanding") until the instances are created; nodes join and turn Ready; scaling in by the expected
  node count "removes nodes immediately without draining them first" (drain first: RemoveNodePoolNodes).
- The SDK's status.state values: active, scaling, removing, deleting, updating (DescribeClusterNodePoolDetail).
- DeleteClusterNodepool `force` (SDK request doc): with nodes in the pool, false blocks the deletion with an error,
  true removes the nodes with the pool. Terraform's alicloud_cs_kubernetes_node_pool deletes with force=true by
  default and waits for the task to succeed (resource_alicloud_cs_kubernetes_node_pool.go).
- The same guide: new nodes take the pool's instance types in priority order and its vSwitches' zones; when
  one type lacks stock the next is used, and a node that cannot be created is retried until the expected count
  is reached. The sandbox places each node on the first type its zone sells (the ECS catalog's stock, as
  DescribeAvailableResource shows it); a node no zone can supply is not created and the pool stays
  initial/scaling with its task running, since the sandbox's stock never changes by itself.
The sandbox's own choices, where no public source says: scaling in removes the newest nodes first; RemoveNodePoolNodes
lowers desired_size by the nodes removed (or the pool would replace them); an injected scale failure ends the task
`fail` and leaves the pool active with the nodes it had and desired_size back at that count.
"""

from __future__ import annotations

from collections.abc import Callable

from ack_compute.sandbox.lifecycle import NODE_PROVISION_SECONDS, Lifecycle
from ack_compute.sandbox.world import Cluster, LifecycleFault, Node, NodePool, NodePoolState, Task, TaskError, TaskType

NODE_REMOVE_SECONDS = 60.0
POOL_DELETE_SECONDS = 90.0


class PoolLifecycle:
    """Node pool changes after creation; every method locks the world, kube calls happen outside it."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle
        self.world = lifecycle.world
        self.kube = lifecycle.kube

    def pool_nodes(self, cluster: Cluster, pool: NodePool) -> list[Node]:
        return [node for node in cluster.live_nodes() if node.nodepool_id == pool.nodepool_id]

    # resize

    def scale(self, cluster: Cluster, pool: NodePool, desired: int) -> Task:
        """Grow (new instances boot and join) or shrink (newest nodes released, not drained) to `desired`."""
        world = self.world
        with world.lock:
            nodes = self.pool_nodes(cluster, pool)
            task = self._task(cluster, pool, "nodepool_scale", "ScaleNodePool", f"Scaling the node pool to {desired}")
            pool.desired_size, pool.updated = desired, world.clock.now()
            cluster_id, pool_id, task_id = cluster.cluster_id, pool.nodepool_id, task.task_id
            if desired > len(nodes):
                pool.state = "scaling"
                fault = world.faults.nodepool_scale.pop(0) if world.faults.nodepool_scale else None
                world.schedule(
                    cluster_id,
                    NODE_PROVISION_SECONDS,
                    lambda: self._grow(cluster_id, pool_id, task_id, desired - len(nodes), fault),
                )
            elif desired < len(nodes):
                doomed = [node.instance_id for node in reversed(nodes)][: len(nodes) - desired]  # newest first
                self._start_removal(cluster, pool, task, doomed)
            else:
                self._succeed(task)
            return task

    def _grow(self, cluster_id: str, pool_id: str, task_id: str, count: int, fault: LifecycleFault | None) -> None:
        world, lifecycle = self.world, self.lifecycle
        with world.lock:
            cluster, task = world.clusters.get(cluster_id), world.tasks.get(task_id)
            pool = cluster.nodepool(pool_id) if cluster is not None else None
            if cluster is None or pool is None or task is None or pool.state != "scaling" or task.state != "running":
                return
            if fault is not None:
                lifecycle._end_stage(task, "failed")
                task.state, task.error = "fail", TaskError(code=fault.code, message=fault.message)
                lifecycle._event(task, "ScaleNodePoolFailed", fault.message, level="Warning")
                pool.state, pool.desired_size = "active", len(self.pool_nodes(cluster, pool))
                pool.updated = world.clock.now()
                return
            views = lifecycle._add_nodes(cluster, pool, count, by_stock=True)
            lifecycle._settle_pools(cluster)
        lifecycle._push_nodes(views)
        lifecycle._schedule_boot(cluster_id, [view.name for view in views])

    # remove nodes

    def remove_nodes(self, cluster: Cluster, pool: NodePool, instance_ids: list[str]) -> Task:
        """RemoveNodePoolNodes: the nodes are drained, leave the cluster and their instances are released."""
        with self.world.lock:
            task = self._task(cluster, pool, "nodepool_remove_nodes", "RemoveNodes", "Removing nodes from the pool")
            pool.desired_size = max(0, pool.desired_size - len(instance_ids))
            self._start_removal(cluster, pool, task, instance_ids)
            return task

    def _start_removal(self, cluster: Cluster, pool: NodePool, task: Task, instance_ids: list[str]) -> None:
        pool.state, pool.updated = "removing", self.world.clock.now()
        for node in self.pool_nodes(cluster, pool):
            if node.instance_id in instance_ids:
                node.removing = True
        cluster_id, pool_id, task_id = cluster.cluster_id, pool.nodepool_id, task.task_id
        self.world.schedule(cluster_id, NODE_REMOVE_SECONDS, lambda: self._removed(cluster_id, pool_id, task_id))

    def _removed(self, cluster_id: str, pool_id: str, task_id: str) -> None:
        self._finish(cluster_id, pool_id, task_id, lambda nodes: [node for node in nodes if node.removing], "active")

    def _finish(
        self,
        cluster_id: str,
        pool_id: str,
        task_id: str,
        going: Callable[[list[Node]], list[Node]],
        state: NodePoolState,
    ) -> None:
        """A removal or deletion ends (unless its cluster, pool or running task is gone): the `going` nodes of the
        pool are released, the pool takes `state`, the task succeeds and the nodes leave Kubernetes."""
        world = self.world
        with world.lock:
            cluster, task = world.clusters.get(cluster_id), world.tasks.get(task_id)
            pool = cluster.nodepool(pool_id) if cluster is not None else None
            if cluster is None or pool is None or task is None or task.state != "running":
                return
            names = self._release(going(self.pool_nodes(cluster, pool)))
            pool.state, pool.updated = state, world.clock.now()
            self._succeed(task)
        self._forget(cluster_id, names)

    # delete

    def delete(self, cluster: Cluster, pool: NodePool) -> Task:
        """DeleteClusterNodepool (force, or a pool without nodes): nodes released, then the pool is gone."""
        with self.world.lock:
            task = self._task(cluster, pool, "nodepool_delete", "DeleteNodePool", "Deleting the node pool")
            pool.state, pool.updated = "deleting", self.world.clock.now()
            for node in self.pool_nodes(cluster, pool):
                node.removing = True
            cluster_id, pool_id, task_id = cluster.cluster_id, pool.nodepool_id, task.task_id
            self.world.schedule(cluster_id, POOL_DELETE_SECONDS, lambda: self._deleted(cluster_id, pool_id, task_id))
            return task

    def _deleted(self, cluster_id: str, pool_id: str, task_id: str) -> None:
        self._finish(cluster_id, pool_id, task_id, lambda nodes: nodes, "deleted")

    # shared

    def _task(self, cluster: Cluster, pool: NodePool, task_type: TaskType, stage: str, message: str) -> Task:
        task = self.lifecycle._new_task(cluster, task_type, pool.nodepool_id, "nodepool")
        self.lifecycle._begin_stage_named(task, stage, message)
        return task

    def _succeed(self, task: Task) -> None:
        self.lifecycle._end_stage(task, "success")
        task.state, task.current_stage = "success", ""

    def _release(self, nodes: list[Node]) -> list[str]:
        for node in nodes:
            self.lifecycle._release_node(node)
            node.removing = False
        return [node.name for node in nodes]

    def _forget(self, cluster_id: str, names: list[str]) -> None:
        """The released nodes leave the cluster's Kubernetes API."""
        for name in names:
            self.kube.delete_node(cluster_id, name)
