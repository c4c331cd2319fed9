"""The ensure_cluster operation: create the cluster in the cloud (or adopt the one this operation's tag marks), wait
for it to run, then watch until its nodes (virtual nodes for ACK Serverless) are Ready. It is what resumes after a
restart, so it reads the ledger and the cloud before it calls CreateCluster again.

tools/ensure_cluster.py decides and buys; this module does the work the purchase paid for. The answer every path
gives (ClusterOutcome) and the settings live here because the operation returns and uses them too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

from ack_compute.cloud.cs import ClusterInfo, ContainerService
from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.retry import Waits, while_token_processing
from ack_compute.cloud.vpc import VpcNetworks
from ack_compute.tools.acs_placement import VIRTUAL_NODE_LABEL
from ack_compute.tools.cluster_spec import create_spec
from ack_compute.tools.cluster_states import Disposition, describe, disposition, exists, is_usable, sentence
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.kubeconfigs import Kubeconfigs
from ack_compute.tools.network import prepare_network
from ack_compute.tools.operation_params import ENSURE_CLUSTER_PARAMS, ClusterCreateParams, ClusterWaitParams
from ack_compute.tools.operations import Cancelled, OperationContext, Operations
from ack_compute.tools.ownership import OPERATION_TAG, Ownership, mark
from ack_compute.tools.plans import AnyClusterPlan

OPERATION_KIND = "ensure_cluster"
VIRTUAL_NODE_SELECTOR = "=".join(VIRTUAL_NODE_LABEL)
NODES_NEXT_STEP = "Use this cluster_id with run_job."
SERVERLESS_NEXT_STEP = (
    "This ACK Serverless cluster has no worker nodes: every pod is billed per pod. Quote an acs plan with "
    "estimate_cost, then use this cluster_id with deploy_acs or run_job with compute=acs."
)


class ClusterOutcome(BaseModel):
    status: Literal["reused", "created", "creating", "waiting", "quote_required", "declined"]
    name: str
    region: str
    cluster_id: str | None = None
    cluster_state: str | None = Field(None, description="The cluster's own state in ACK (running, initial...).")
    origin: Literal["created", "reused"] | None = None
    ready_nodes: int | None = None
    operation_id: str | None = None
    plan_to_quote: AnyClusterPlan | None = Field(None, description="Estimate this plan to get a quote for creation.")
    lease_ends_at: str | None = None
    message: str
    next_step: str

    @classmethod
    def about(cls, cluster: ClusterInfo, **answer: Any) -> ClusterOutcome:
        """An answer about a cluster the cloud listed: its id and its own state as ACK reports them."""
        return cls(cluster_id=cluster.cluster_id, cluster_state=cluster.state, **answer)


class ClusterSettings(BaseModel):
    probe_timeout_s: float = 3.0
    probe_concurrency: int = 32
    create_timeout_s: float = 1800.0
    nodes_timeout_s: float = 900.0


class ClusterCreation:
    """The operation's steps, mixed into ClusterService (which holds the clients and the ledger)."""

    cs: ContainerService
    vpcs: VpcNetworks
    kubeconfigs: Kubeconfigs
    ownership: Ownership
    operations: Operations
    settings: ClusterSettings
    by_name: Callable[[str, str], list[ClusterInfo]]  # from ClusterLookup

    def run_operation(self, ctx: OperationContext) -> dict[str, Any]:
        p = ENSURE_CLUSTER_PARAMS.validate_python(ctx.params)
        serverless = p.serverless
        try:
            cluster_id = self._create_in_cloud(ctx, p) if isinstance(p, ClusterCreateParams) else p.cluster_id
            cluster = self._wait_running(ctx, cluster_id, p)
            if serverless:  # pods can be placed once a virtual node is Ready
                ready = self._wait_nodes(ctx, cluster_id, 1, label_selector=VIRTUAL_NODE_SELECTOR)
            else:
                ready = self._wait_nodes(ctx, cluster_id, p.min_nodes)
        except (AckComputeError, CloudError) as exc:
            if not isinstance(p, ClusterCreateParams):
                raise
            self._mark_failed(ctx, p.resource_id, exc)
            rows = [r for r in self.ownership.all() if r.operation_id == ctx.operation_id and r.origin == "created"]
            made = [f"{r.kind} {r.cloud_id}" for r in rows if r.cloud_id and r.state not in ("deleted", "abandoned")]
            maybe = any(r.cloud_id is None and r.state == "intent" for r in rows)
            what = exc.message if isinstance(exc, AckComputeError) else str(exc)
            left = f" It had created: {', '.join(made)}." if made else " It had created nothing it knows of."
            if maybe:
                left += " The create call may still have reached the cloud."
            ended = "was stopped" if isinstance(exc, Cancelled) else "failed"
            raise AckComputeError(
                f"Creating cluster {p.name} {ended}: {what.rstrip('.')}.{left}",
                f"Run cleanup with target=operation and operation_id={ctx.operation_id} to remove what it created "
                "(a create that reached the cloud late is found by its tag), then try again with a new quote.",
            ) from None
        if isinstance(p, ClusterCreateParams):
            self.ownership.update(p.resource_id, state="ready", details={"ready_nodes": ready})
        return ClusterOutcome(
            status="created" if p.mode == "create" else "reused",
            name=p.name,
            region=p.region,
            cluster_id=cluster_id,
            cluster_state=cluster.state,
            origin="created" if p.mode == "create" else "reused",
            ready_nodes=ready,
            operation_id=ctx.operation_id,
            message=(
                f"ACK Serverless cluster {p.name} ({cluster_id}) is running with {ready} Ready virtual nodes; "
                "it has no worker nodes and bills nothing per node."
                if serverless
                else f"Cluster {p.name} ({cluster_id}) is running with {ready} Ready nodes."
            ),
            next_step=SERVERLESS_NEXT_STEP if serverless else NODES_NEXT_STEP,
        ).model_dump(mode="json")

    def _mark_failed(self, ctx: OperationContext, resource_id: int, exc: Exception) -> None:
        """A definite failure frees the name; an ambiguous one (the create may have reached the cloud
        but we never heard back) keeps the intent row live so a restart reconciles it by tag. Written only while
        this replica holds the operation: one that took it over may have the cluster on its way."""
        with ctx.held() as db:
            row = self.ownership.get(resource_id)
            ambiguous = isinstance(exc, CloudError) and exc.retryable and row.cloud_id is None
            if not ambiguous:
                self.ownership.update_in(db, resource_id, state="failed", details={"error": str(exc)[:500]})

    def _create_in_cloud(self, ctx: OperationContext, p: ClusterCreateParams) -> str:
        row = self.ownership.get(p.resource_id)
        if row.cloud_id:  # resumed after the create call returned
            return row.cloud_id
        adopted = self._adopt_by_tag(p.name, p.region, ctx.operation_id)
        if adopted:  # resumed after the call reached the cloud but before we recorded the id
            self.ownership.update(row.resource_id, state="creating", cloud_id=adopted)
            return adopted
        plan = p.plan
        tags = mark(ctx.operation_id)
        ctx.progress(0.05, "network", "preparing VPC and vSwitch")
        net = prepare_network(
            self.vpcs,
            self.ownership,
            ctx.operation_id,
            p.region,
            p.zone,
            tags,
            progress=lambda m: ctx.progress(0.08, "network", m),
            cidrs_in_vpc=lambda vpc_id: [
                cidr
                for c in self.cs.list_clusters(region=p.region)
                if c.vpc_id == vpc_id and exists(c.state)
                for cidr in (c.container_cidr, c.service_cidr)
                if cidr
            ],
        )
        ctx.progress(0.12, "create", "calling CreateCluster")
        body = create_spec(p.name, p.region, plan, net, tags, row.client_token, p.security_group_id)
        cluster_id, task_id = while_token_processing(
            lambda: self.cs.create_cluster(body),
            self.settings.create_timeout_s,
            lambda _: ctx.progress(0.12, "create", "the cloud is still processing an earlier call with this token"),
        )
        self.ownership.update(
            row.resource_id,
            state="creating",
            cloud_id=cluster_id,
            details={"task_id": task_id, "vpc_id": net.vpc_id, "vswitch_id": net.vswitch_id},
        )
        return cluster_id

    def _adopt_by_tag(self, name: str, region: str, operation_id: str) -> str | None:
        for c in self.by_name(name, region):
            if c.tags.get(OPERATION_TAG) == operation_id:
                return c.cluster_id
        return None

    def _wait_running(
        self, ctx: OperationContext, cluster_id: str, p: ClusterCreateParams | ClusterWaitParams
    ) -> ClusterInfo:
        """The cloud's own state, read with backoff (1 s doubling to 15 s): ACK has no watch API."""
        started = time.monotonic()
        waits = Waits(self.settings.create_timeout_s, 1.0, 15.0)
        while True:
            cluster = self.cs.describe_cluster(cluster_id)
            if is_usable(cluster.state):
                ctx.progress(0.7, "nodes", "cluster running; waiting for nodes")
                return cluster
            if disposition(cluster.state) is not Disposition.WAIT:
                # Broken, going, gone, or needing a person (inactive, unavailable, unknown): waiting will not help.
                detail = self._task_error(p)
                raise AckComputeError(
                    f"{sentence(cluster.name or cluster_id, cluster_id, cluster.state)}{detail}.",
                    f"{describe(cluster.state).what_to_do} If this server created it, it is in the ledger and "
                    "cleanup removes it and what was created for it.",
                )
            # ACK reports no percentage; creation typically takes 5-10 minutes.
            elapsed = time.monotonic() - started
            ctx.progress(0.15 + 0.5 * min(1.0, elapsed / 600), "create", f"cluster {cluster.state}")
            if not waits.wait():
                raise AckComputeError(
                    f"Cluster {cluster_id} was not running after {self.settings.create_timeout_s:.0f} s.",
                    "Check it in the console or retry.",
                )

    def _task_error(self, p: ClusterCreateParams | ClusterWaitParams) -> str:
        row_id = p.resource_id if isinstance(p, ClusterCreateParams) else None
        task_id = self.ownership.get(row_id).details.get("task_id") if row_id else None
        if not task_id:
            return ""
        try:
            task = self.cs.describe_task(task_id)
        except CloudError:
            return ""
        return f" (task {task.task_id}: {task.error_code} {task.error_message})" if task.error_code else ""

    def _wait_nodes(
        self, ctx: OperationContext, cluster_id: str, minimum: int, *, label_selector: str | None = None
    ) -> int:
        """Watch until `minimum` nodes (only those matching `label_selector`, if given) are Ready."""
        if minimum <= 0:
            return 0
        what = "virtual nodes" if label_selector == VIRTUAL_NODE_SELECTOR else "nodes"
        access = self.kubeconfigs.access(cluster_id)
        try:
            ready = access.wait_ready_nodes(
                minimum,
                self.settings.nodes_timeout_s,
                on_change=lambda r, t: ctx.progress(
                    0.7 + 0.29 * min(r, minimum) / max(minimum, 1),
                    "nodes",
                    f"{r}/{minimum} {what} Ready ({t} registered)",
                ),
                label_selector=label_selector,
            )
        finally:
            access.close()
        if ready < minimum:
            hint = (
                "Check the cluster's ack-virtual-node add-on and its vSwitch; cleanup removes the cluster if this "
                "server created it."
                if label_selector
                else "Inspect the node pool; cleanup removes the cluster if this server created it."
            )
            raise AckComputeError(
                f"Cluster {cluster_id} is running but only {ready} of {minimum} {what} became Ready within "
                f"{self.settings.nodes_timeout_s:.0f} s.",
                hint,
            )
        return ready

    def resume_unfinished(self) -> list[str]:
        """After a restart: continue every ensure_cluster operation whose process is gone."""
        return self.operations.resume_all(OPERATION_KIND, self.run_operation)
