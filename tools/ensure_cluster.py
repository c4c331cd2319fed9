"""ensure_cluster: find, reuse or create an ACK cluster, paying only with a valid quote.

Lookup has three tiers: the exact name; then (only with reuse_any) any running `acf-*` cluster with
Ready nodes whose credentials may create Jobs; else create. Creation runs as a resumable operation.
A plan of kind `serverless` creates an ACK Serverless cluster: no node pools, one virtual node per
vSwitch zone, every pod billed as an ECI/ACS instance.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from ack_compute.cloud.cs import ClusterInfo, ContainerService
from ack_compute.cloud.ecs import EcsCatalog
from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.retry import Waits, while_token_processing
from ack_compute.cloud.vpc import VpcNetworks
from ack_compute.tools.acs_placement import VIRTUAL_NODE_LABEL
from ack_compute.tools.cluster_spec import create_spec
from ack_compute.tools.cluster_states import Disposition, describe, disposition, exists, is_usable, sentence
from ack_compute.tools.errors import AckComputeError, InvalidPlan, cloud_call
from ack_compute.tools.identity import current_caller
from ack_compute.tools.kubeconfigs import Kubeconfigs
from ack_compute.tools.network import prepare_network
from ack_compute.tools.operation_params import ENSURE_CLUSTER_PARAMS, ClusterCreateParams, ClusterWaitParams
from ack_compute.tools.operations import Cancelled, OperationContext, Operations, UnknownOperation, process_alive
from ack_compute.tools.ownership import NAME_PREFIX, OPERATION_TAG, NameBusy, OwnedResource, Ownership, is_ours, mark
from ack_compute.tools.plans import AnyClusterPlan, ClusterPlan, ServerlessPlan, normalise
from ack_compute.tools.pricing import Pricer
from ack_compute.tools.purchase import Claim, Policy, bind_plan
from ack_compute.tools.quotes import QuoteBook, QuoteRecord
from ack_compute.tools.spending import Spending
from ack_compute.tools.targets import cluster_kind

CLUSTER_NAME = r"^[0-9A-Za-z\u4e00-\u9fa5][0-9A-Za-z\u4e00-\u9fa5-]{0,62}$"
OPERATION_KIND = "ensure_cluster"
DEAD_CLAIM_SECONDS = 60.0
VIRTUAL_NODE_SELECTOR = "=".join(VIRTUAL_NODE_LABEL)
# Without a zone in a Serverless plan we need a zone where a vSwitch can be made and ECI can place pods.
# cloud/ecs.py has no plain zone listing (and VPC DescribeZones is not wrapped), so we take the zones that
# sell a mainstream general-purpose type pay-as-you-go now: they are open, current zones with ECS-grade
# capacity, which is what ECI pods run on; retired or sold-out zones drop out.
SERVERLESS_ZONE_PROBE_TYPE = "ecs.g7.xlarge"
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


class ProbeResult(BaseModel):
    cluster: ClusterInfo
    ok: bool
    ready_nodes: int = 0
    reason: str = ""


class ClusterSettings(BaseModel):
    probe_timeout_s: float = 3.0
    probe_concurrency: int = 32
    create_timeout_s: float = 1800.0
    nodes_timeout_s: float = 900.0


class ClusterService(Spending):
    def __init__(
        self,
        *,
        cs: ContainerService,
        ecs: EcsCatalog,
        vpcs: VpcNetworks,
        kubeconfigs: Kubeconfigs,
        quotes: QuoteBook,
        pricer: Pricer,
        ownership: Ownership,
        operations: Operations,
        default_region: str,
        settings: ClusterSettings | None = None,
    ) -> None:
        super().__init__(quotes=quotes, pricer=pricer, ownership=ownership, operations=operations)
        self.cs = cs
        self.ecs = ecs
        self.vpcs = vpcs
        self.kubeconfigs = kubeconfigs
        self.default_region = default_region
        self.settings = settings or ClusterSettings()

    # -- lookup --------------------------------------------------------------------------------

    def _cloud(self, fn: Any) -> Any:
        return cloud_call(fn, "Nothing was created by this call; retry when the cloud answers.")

    def by_name(self, name: str, region: str) -> list[ClusterInfo]:
        listed = self._cloud(lambda: self.cs.list_clusters(name=name, region=region))
        return [c for c in listed if c.name == name and (not c.region_id or c.region_id == region)]

    def probe(self, cluster: ClusterInfo, *, need_ready_nodes: bool) -> ProbeResult:
        """May our credentials run Jobs there, and (optionally) are nodes Ready? Bounded by the probe timeout."""
        try:
            access = self.kubeconfigs.access(cluster.cluster_id, timeout_s=self.settings.probe_timeout_s)
            try:
                allowed, reason = access.can_i("create", "jobs", group="batch")
                if not allowed:
                    return ProbeResult(
                        cluster=cluster,
                        ok=False,
                        reason=f"these credentials may not create batch/jobs ({reason or 'RBAC'})",
                    )
                ready = sum(n.ready for n in access.nodes())
            finally:
                access.close()
        except CloudError as exc:
            return ProbeResult(cluster=cluster, ok=False, reason=str(exc))
        if need_ready_nodes and ready == 0:
            return ProbeResult(cluster=cluster, ok=False, ready_nodes=0, reason="no Ready nodes")
        return ProbeResult(cluster=cluster, ok=True, ready_nodes=ready)

    def first_reusable(self, candidates: list[ClusterInfo]) -> tuple[ProbeResult | None, list[ProbeResult]]:
        """Probe all candidates concurrently; the first suitable one wins and the rest are abandoned.

        Each probe is bounded by the probe timeout (its HTTP calls carry it), and so is the whole
        decision: a candidate that never answers costs at most one timeout, not one per worker slot.
        """
        if not candidates:
            return None, []
        pool = ThreadPoolExecutor(
            max_workers=min(self.settings.probe_concurrency, len(candidates)), thread_name_prefix="probe"
        )
        futures: set[Future[ProbeResult]] = {pool.submit(self.probe, c, need_ready_nodes=True) for c in candidates}
        deadline = time.monotonic() + self.settings.probe_timeout_s + 0.25
        rejected: list[ProbeResult] = []
        try:
            while futures and (remaining := deadline - time.monotonic()) > 0:
                done, futures = wait(futures, timeout=remaining, return_when=FIRST_COMPLETED)
                for future in done:
                    result = future.result()
                    if result.ok:
                        return result, rejected
                    rejected.append(result)
            return None, rejected
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    # -- the tool --------------------------------------------------------------------------------

    def ensure(
        self,
        name: str,
        *,
        reuse_any: bool = False,
        plan: ClusterPlan | ServerlessPlan | None = None,
        quote_token: str | None = None,
        consent_id: str | None = None,
        confirmation_policy: Policy = "token",
        requested_by: str = "",
        security_group_id: str | None = None,
    ) -> ClusterOutcome:
        """`consent_id`: the person's answer as the server recorded it (None: no client could be asked)."""
        region = (plan.region if plan and plan.region else None) or self.default_region
        same_name = self.by_name(name, region)
        for c in same_name:
            self._adopt_if_ours(c)
        running = [c for c in same_name if is_usable(c.state)]
        if running:
            return self._reuse(running[0], name, region, requested_by)
        # Ours being created (by this or another server on the ledger) is answered with its own operation, whether
        # or not the cloud lists it yet: asking again never starts a second operation for the same cluster.
        ours = self.ownership.live_creation("cluster", region, name)
        if ours is not None and not self._still_running(ours):
            self._release_dead_claim(ours)
            ours = None
        busy = [c for c in same_name if disposition(c.state) is Disposition.WAIT]
        if busy and ours is None:
            return self._wait_for_existing(busy[0], name, region, requested_by)
        if ours is not None:
            # Being created by us (this or another server on the ledger), not yet listed as initial.
            return ClusterOutcome(
                status="creating",
                name=name,
                region=region,
                cluster_id=ours.cloud_id,
                origin="created",
                operation_id=ours.operation_id,
                message=f"Cluster {name} is being created by operation {ours.operation_id}.",
                next_step=f"Call get_operation with {ours.operation_id} to follow it.",
            )
        if reuse_any:
            found = self._reuse_any(region, requested_by)
            if found is not None:
                return found
        # The name is taken by every cluster not yet deleted, whatever its state (known or not): never a second one.
        for c in same_name:
            if exists(c.state):
                raise AckComputeError(
                    f"{sentence(name, c.cluster_id, c.state)}, so no second cluster of that name is created.",
                    describe(c.state).what_to_do,
                )
        return self._create(
            name, region, plan, quote_token, consent_id, confirmation_policy, requested_by, security_group_id
        )

    def _waiting_on(self, cluster_id: str) -> str | None:
        """A running wait for this cluster that the caller may follow (theirs, or any for an admin)."""
        for operation_id, owner, params in self.operations.running(OPERATION_KIND):
            if params.get("mode") == "wait" and params.get("cluster_id") == cluster_id and current_caller().sees(owner):
                return operation_id
        return None

    def _still_running(self, row: OwnedResource) -> bool:
        try:
            return self.operations.get(row.operation_id).state == "running"
        except UnknownOperation:
            # Claimed an instant ago, the operation row follows the intent row, unless the claiming replica died
            # in between (before any create call): then the claim is dead. A replica of this machine is judged by
            # its process; another machine's (or a claim recorded by pid only, before replicas) by age.
            replica = row.details.get("claimed_by")
            if isinstance(replica, str):
                alive = self.operations.replica.alive(self.operations.ledger, replica)
                if alive is not None:
                    return alive
            elif isinstance(pid := row.details.get("claimed_by_pid"), int):
                return process_alive(pid)
            return time.time() - row.created_at.timestamp() < DEAD_CLAIM_SECONDS

    def _release_dead_claim(self, row: OwnedResource) -> None:
        """Free the name held by a claim whose operation is over or never started. A row with a cloud id, or an
        ambiguous failure (the create may have reached the cloud), stays live for cleanup to reconcile."""
        try:
            state = self.operations.get(row.operation_id).state
        except UnknownOperation:
            state = "never started"
        if row.cloud_id is not None:
            return
        if state == "never started":
            self.ownership.update(
                row.resource_id,
                state="abandoned",
                details={"abandoned": "the server stopped between the claim and the operation; nothing was created"},
            )
        elif state == "failed":
            # An ambiguous failure (the create may have reached the cloud). The caller already looked the name up
            # and adopted any cluster tagged with this operation, so none landed: the name is free again.
            self.ownership.update(
                row.resource_id, state="failed", details={"released": "no cluster carries this operation's tag"}
            )

    def _adopt_if_ours(self, cluster: ClusterInfo) -> bool:
        """A cluster tagged with one of our operations whose create call never reported back (timeout, crash):
        write its id into that operation's intent row, so it counts as created by this server, not as reused."""
        if not is_ours(cluster.tags):
            return False
        operation = cluster.tags.get(OPERATION_TAG)
        for row in self.ownership.all():
            if row.kind == "cluster" and row.origin == "created" and row.operation_id == operation:
                if row.cloud_id is None:
                    state = "ready" if is_usable(cluster.state) else "creating"
                    self.ownership.update(row.resource_id, state=state, cloud_id=cluster.cluster_id)
                return True
        return False

    def _reuse(self, cluster: ClusterInfo, name: str, region: str, requested_by: str) -> ClusterOutcome:
        probe = self.probe(cluster, need_ready_nodes=False)
        if not probe.ok:
            raise AckComputeError(
                f"Cluster {name} ({cluster.cluster_id}) is running but cannot be used: {probe.reason}.",
                "Grant these credentials RBAC to create batch/jobs there, or choose another cluster name.",
            )
        self._record_reuse(cluster, region, requested_by)
        serverless = cluster_kind(cluster) == "serverless"
        what = "ACK Serverless cluster" if serverless else "cluster"
        ours = cluster.cluster_id in self.ownership.owned_cloud_ids("cluster")
        return ClusterOutcome.about(
            cluster,
            status="reused",
            name=name,
            region=region,
            origin="created" if ours else "reused",
            ready_nodes=probe.ready_nodes,
            message=f"Reusing running {what} {name} ({cluster.cluster_id}) with {probe.ready_nodes} Ready "
            f"{'virtual ' if serverless else ''}nodes; no new cost from this call.",
            next_step=f"{SERVERLESS_NEXT_STEP if serverless else NODES_NEXT_STEP} "
            + (
                "This server created it, so cleanup can delete it."
                if ours
                else "A reused cluster is never deleted by cleanup."
            ),
        )

    def _record_reuse(self, cluster: ClusterInfo, region: str, requested_by: str) -> None:
        if cluster.cluster_id in self.ownership.owned_cloud_ids("cluster"):
            return  # ours already: it stays 'created', so cleanup may remove it later
        op = f"reuse-{uuid.uuid4().hex[:12]}"
        self.ownership.record_reuse(
            op, "cluster", region, cluster.name, cluster.cluster_id, {"requested_by": requested_by}
        )

    def _reuse_any(self, region: str, requested_by: str) -> ClusterOutcome | None:
        listed = self._cloud(lambda: self.cs.list_clusters(region=region))
        candidates = [c for c in listed if c.name.startswith(NAME_PREFIX) and is_usable(c.state)]
        winner, _rejected = self.first_reusable(candidates)
        if winner is None:
            return None
        self._record_reuse(winner.cluster, region, requested_by)
        c = winner.cluster
        serverless = cluster_kind(c) == "serverless"
        return ClusterOutcome.about(
            c,
            status="reused",
            name=c.name,
            region=region,
            origin="reused",
            ready_nodes=winner.ready_nodes,
            message=f"Reusing running cluster {c.name} ({c.cluster_id}), {winner.ready_nodes} Ready nodes, chosen "
            f"from {len(candidates)} acf- candidates; no new cost from this call.",
            next_step=f"{SERVERLESS_NEXT_STEP if serverless else NODES_NEXT_STEP} A reused cluster is never deleted "
            "by cleanup.",
        )

    def _wait_for_existing(self, cluster: ClusterInfo, name: str, region: str, requested_by: str) -> ClusterOutcome:
        def waiting_on(op: str, how: str) -> ClusterOutcome:
            return ClusterOutcome.about(
                cluster,
                status="waiting",
                name=name,
                region=region,
                operation_id=op,
                message=f"{sentence(name, cluster.cluster_id, cluster.state)}; {how}.",
                next_step=f"Call get_operation with {op} until it finishes.",
            )

        waiting = self._waiting_on(cluster.cluster_id)
        if waiting is not None:
            return waiting_on(waiting, f"operation {waiting} is waiting for it")
        params = {
            "mode": "wait",
            "cluster_id": cluster.cluster_id,
            "name": name,
            "region": region,
            "min_nodes": 1,
            "serverless": cluster_kind(cluster) == "serverless",  # then the nodes to wait for are virtual
        }
        op = self.operations.start(OPERATION_KIND, params, self.run_operation, requested_by=requested_by)
        return waiting_on(op, "waiting until it is running")

    # -- creation --------------------------------------------------------------------------------

    def offer(self, name: str, plan: ClusterPlan | ServerlessPlan, quote_token: str) -> QuoteRecord:
        """What the person is asked to pay for creating `name`: the purchase path up to the question."""
        region = plan.region or self.default_region
        return self.purchase.check(quote_token, bind_plan(plan, region, f"cluster {name}"))

    def _create(
        self,
        name: str,
        region: str,
        plan: ClusterPlan | ServerlessPlan | None,
        quote_token: str | None,
        consent_id: str | None,
        policy: Policy,
        requested_by: str,
        security_group_id: str | None = None,
    ) -> ClusterOutcome:
        if plan is None or not quote_token:
            # Propose the agent's own plan when it gave one (a serverless plan stays serverless), else the default.
            proposal = normalise(plan, region) if plan is not None else normalise(ClusterPlan(), region)
            kind = "an ACK Serverless cluster" if isinstance(proposal, ServerlessPlan) else "one"
            return ClusterOutcome(
                status="quote_required",
                name=name,
                region=region,
                plan_to_quote=proposal,
                message=f"No running cluster named {name}; creating {kind} costs money and needs a quote.",
                next_step="Call estimate_cost with plan_to_quote (adjust it first if the person wants), show the "
                "quote to the person, and on their yes call ensure_cluster again with this name and the quote_id. "
                "Nothing was created.",
            )
        plan = bind_plan(plan, region, f"cluster {name}")
        if self.purchase.approved(quote_token, plan, consent_id, policy) is None:
            return ClusterOutcome(
                status="declined",
                name=name,
                region=region,
                message="The person declined the quoted cost; the quote is now void.",
                next_step="Ask what to change, estimate again, and get a new yes.",
            )
        zone = plan.zone or self._choose_zone(plan)
        operation_id = f"op-{uuid.uuid4().hex[:16]}"
        self.operations.replica.register(self.operations.ledger, time.time())  # the claim names it (_still_running)
        claim = Claim(
            operation_id,
            "cluster",
            region,
            name,
            client_token=uuid.uuid4().hex,
            details={"plan": plan.model_dump(mode="json"), "zone": zone, "claimed_by": self.operations.replica_id},
        )
        try:
            bought = self.purchase.buy(
                quote_token,
                plan,
                claim=claim,
                current_hourly=self._current_hourly(plan),
                note=f"ensure_cluster {name} {operation_id}",
            )
        except NameBusy as busy:
            return ClusterOutcome(
                status="creating",
                name=name,
                region=region,
                origin="created",
                operation_id=busy.existing.operation_id,
                message=f"Cluster {name} is already being created by {busy.existing.operation_id}; the quote "
                "was not used.",
                next_step=f"Call get_operation with {busy.existing.operation_id}.",
            )
        row, redemption = bought.resource_id, bought.redemption
        serverless = isinstance(plan, ServerlessPlan)
        params = {
            "mode": "create",
            "resource_id": row,
            "name": name,
            "region": region,
            "zone": zone,
            "plan": plan.model_dump(mode="json"),
            # A Serverless cluster has no workers to wait for; its virtual nodes are waited for instead.
            "min_nodes": 0 if isinstance(plan, ServerlessPlan) else plan.node_count,
            "serverless": serverless,
            **({"security_group_id": security_group_id} if security_group_id else {}),
        }
        op = self.operations.start(
            OPERATION_KIND,
            params,
            self.run_operation,
            operation_id=operation_id,
            quote_id=redemption.quote_id,
            requested_by=requested_by,
        )
        return ClusterOutcome(
            status="creating",
            name=name,
            region=region,
            origin="created",
            operation_id=op,
            message=f"Creating {'ACK Serverless ' if serverless else ''}cluster {name} in {zone} (quote "
            f"{redemption.quote_id}, {redemption.hourly} {redemption.currency}/h). This takes several minutes.",
            next_step=f"Call get_operation with {op} until it finishes.",
        )

    def _current_hourly(self, plan: ClusterPlan | ServerlessPlan) -> Decimal | None:
        try:
            return self.pricer.hourly_now(plan)
        except AckComputeError:
            return None  # pricing trouble must not block a quote that is otherwise valid

    def _choose_zone(self, plan: ClusterPlan | ServerlessPlan) -> str:
        region = plan.region or self.default_region
        if isinstance(plan, ServerlessPlan):
            probe, hint = SERVERLESS_ZONE_PROBE_TYPE, "Give the plan a zone of the region, or pick another region."
        else:
            probe, hint = plan.instance_types[0], "Pick other instance types or another region."
        for zone in self._cloud(lambda: self.ecs.zones_with_stock(region, probe)):
            return zone
        raise InvalidPlan("zone", f"no zone in {region} has {probe} in stock.", hint)

    # -- the operation (also what resumes after a restart) ---------------------------------------

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
