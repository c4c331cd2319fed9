"""The ensure_node_pool operation: make or resize the pool in the cloud, then wait, by watching, for its nodes to be
Ready. It is what resumes after a restart: it looks at the cloud's own state first and never creates twice
(CreateClusterNodePool has no client token, so a pool is found by its name and this operation's tag).

tools/node_pools.py decides and buys; this module does the work the purchase paid for.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel

from ack_compute.cloud.cs import ContainerService
from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.node_pools import NodePoolInfo, NodePoolService
from ack_compute.cloud.retry import Waits
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.kubeconfigs import Kubeconfigs
from ack_compute.tools.node_pool_spec import (
    POOL_FAILED,
    POOL_LABEL,
    POOL_READY,
    answer,
    made_by,
    pool_config,
)
from ack_compute.tools.operation_params import NodePoolParams
from ack_compute.tools.operations import OperationContext
from ack_compute.tools.ownership import OwnedResource, Ownership


class PoolSettings(BaseModel):
    pool_timeout_s: float = 1200.0
    nodes_timeout_s: float = 900.0


class PoolWork:
    """The operation's steps, mixed into NodePools (which holds the clients and the ledger)."""

    cs: ContainerService
    pools: NodePoolService
    kubeconfigs: Kubeconfigs
    ownership: Ownership
    settings: PoolSettings

    def _resized(self, row: OwnedResource, nodes: int) -> None:
        """A new stretch of the pool's size, from now: what list_resources accrues."""
        current = self.ownership.get(row.resource_id)
        if current.details.get("nodes") == nodes:
            return
        segments = [*current.details.get("segments", []), [time.time(), nodes]]
        self.ownership.update(row.resource_id, state=current.state, details={"nodes": nodes, "segments": segments})

    def run_operation(self, ctx: OperationContext) -> dict[str, Any]:
        p = NodePoolParams.model_validate(ctx.params)
        row_id = p.resource_id
        try:
            if p.mode == "create":
                nodepool_id = self._create_in_cloud(ctx, p)
            else:
                nodepool_id = str(p.nodepool_id)
                if p.mode == "grow":
                    self._scale(ctx, p, nodepool_id)
            pool = self._wait_pool(ctx, p, nodepool_id)
            ready = self._wait_ready(ctx, p) if p.nodes else 0
        except (AckComputeError, CloudError) as exc:
            with ctx.held() as db:  # a replica that took the operation over writes its own outcome
                row = self.ownership.get(row_id)
                # A definite failure frees the name; an ambiguous one (the create may have reached the cloud) keeps
                # the intent row live, so cleanup or a restart reconciles it by name and tag.
                ambiguous = isinstance(exc, CloudError) and exc.retryable
                if p.mode == "create" and row.cloud_id is None and not ambiguous:
                    self.ownership.update_in(db, row_id, state="failed", details={"error": str(exc)[:500]})
                elif row.state == "resizing":
                    self.ownership.update_in(db, row_id, state="ready")
                if p.growth_row:  # the added nodes never came: their purchase stops counting against the caps
                    self.ownership.update_in(db, p.growth_row, state="abandoned", details={"error": str(exc)[:500]})
            what = exc.message if isinstance(exc, AckComputeError) else str(exc)
            raise AckComputeError(
                f"{'Creating' if p.mode == 'create' else 'Resizing'} node pool {p.name} failed: {what.rstrip('.')}.",
                f"Call ensure_node_pool again to see where it stands; cleanup with target=operation and "
                f"operation_id={row.operation_id} removes the pool (one that reached the cloud late is found by its "
                "name and tags).",
            ) from None
        row = self.ownership.get(row_id)
        self.ownership.update(row_id, state="ready")
        if p.mode == "grow":
            self._resized(row, p.nodes)
            if p.growth_row:
                self.ownership.update(p.growth_row, state="ready")
        base = {"cluster": p.cluster, "cluster_id": p.cluster_id, "name": p.name}
        status = "created" if p.mode == "create" else "resized"
        outcome = answer(status, base, pool, self.ownership.get(row_id), origin="created")
        return outcome.model_copy(
            update={"ready_nodes": ready, "operation_id": ctx.operation_id, "removed": list(p.removed)}
        ).model_dump(mode="json")

    def _create_in_cloud(self, ctx: OperationContext, p: NodePoolParams) -> str:
        """CreateClusterNodePool takes no client token, so a resumed creation looks the name up first: a pool with
        this operation's tag is adopted, never made twice."""
        row = self.ownership.get(p.resource_id)
        if row.cloud_id:
            return row.cloud_id
        ctx.progress(0.05, "create", "looking for the pool by name")
        found = self.pools.list(p.cluster_id, p.region, name=p.name)
        if found:
            if not made_by(found[0], ctx.operation_id):
                raise AckComputeError(
                    f"a node pool named {p.name} appeared on the cluster that this server did not make; it is "
                    "left alone",
                    "Choose another pool name.",
                )
            self.ownership.update(row.resource_id, state="creating", cloud_id=found[0].nodepool_id)
            return found[0].nodepool_id
        assert p.plan is not None  # NodePoolParams requires it for a create
        config = pool_config(p.name, p.plan, p.vswitch_ids, ctx.operation_id, gpu=p.gpu)
        ctx.progress(0.1, "create", "calling CreateClusterNodePool")
        nodepool_id, task_id = self.pools.create(p.cluster_id, config, p.region)
        self.ownership.update(row.resource_id, state="creating", cloud_id=nodepool_id, details={"task_id": task_id})
        return nodepool_id

    def _scale(self, ctx: OperationContext, p: NodePoolParams, nodepool_id: str) -> None:
        pool = self.pools.get(p.cluster_id, nodepool_id, p.region)
        if pool.desired_size < p.nodes:  # a resumed grow does not scale twice (the size is absolute anyway)
            ctx.progress(0.1, "create", f"scaling to {p.nodes} nodes")
            task_id = self.pools.scale(p.cluster_id, nodepool_id, p.nodes, p.region)
            if task_id:
                self.ownership.update(p.resource_id, state="resizing", details={"task_id": task_id})

    def _wait_pool(self, ctx: OperationContext, p: NodePoolParams, nodepool_id: str) -> NodePoolInfo:
        """The pool's own state, read with backoff (1 s doubling to 10 s): ACK has no watch for pools."""
        nodes = p.nodes
        waits = Waits(self.settings.pool_timeout_s, 1.0, 10.0)
        while True:
            pool = self.pools.get(p.cluster_id, nodepool_id, p.region)
            if pool.state == POOL_READY and pool.total_nodes == nodes:
                return pool
            if pool.state == POOL_FAILED:
                raise AckComputeError(f"the pool is {pool.state} in ACK{self._task_error(p)}", "Look at it in ACK.")
            if pool.state == POOL_READY and (failed := self._task_error(p)):
                # A scale that failed leaves the pool active with the nodes it had: its task says so.
                raise AckComputeError(
                    f"the pool stayed at {pool.total_nodes} of {nodes} nodes{failed}",
                    "Try again later or with other instance types; the quote for the added nodes was used.",
                )
            ctx.progress(0.2, "create", f"pool {pool.state}, {pool.total_nodes}/{nodes} nodes")
            if not waits.wait():
                raise AckComputeError(
                    f"the pool was still {pool.state} with {pool.total_nodes}/{nodes} nodes after "
                    f"{self.settings.pool_timeout_s:.0f} s",
                    "Call ensure_node_pool again later to see where it stands.",
                )

    def _task_error(self, p: NodePoolParams) -> str:
        """The error of the pool's last task (creation or scaling), if it failed: what DescribeTaskInfo says."""
        task_id = self.ownership.get(p.resource_id).details.get("task_id")
        if not task_id:
            return ""
        try:
            task = self.cs.describe_task(str(task_id), p.region)
        except CloudError:
            return ""
        if task.state != "fail":
            return ""
        return f" (task {task.task_id}: {task.error_code} {task.error_message})".rstrip()

    def _wait_ready(self, ctx: OperationContext, p: NodePoolParams) -> int:
        """Watch the pool's nodes (by its label) until as many as the pool ends with are Ready."""
        nodes = p.nodes
        access = self.kubeconfigs.access(p.cluster_id)
        try:
            ready = access.wait_ready_nodes(
                nodes,
                self.settings.nodes_timeout_s,
                on_change=lambda r, t: ctx.progress(
                    0.5 + 0.49 * min(r, nodes) / max(nodes, 1), "nodes", f"{r}/{nodes} nodes Ready ({t} registered)"
                ),
                label_selector=f"{POOL_LABEL}={p.name}",
            )
        finally:
            access.close()
        if ready < nodes:
            raise AckComputeError(
                f"only {ready} of {nodes} nodes became Ready within {self.settings.nodes_timeout_s:.0f} s",
                "Inspect the pool's nodes in the ACK console.",
            )
        return ready
