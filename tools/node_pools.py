"""ensure_node_pool: add a node pool to an ACK cluster (this server's or a reused one), paid by a quote, or resize a
pool this server made: growth buys the added nodes with their own quote, shrinking is free and names the nodes it
removes. Creation and resizing run as resumable operations that wait, by watching, for the nodes to be Ready.

Nothing here touches a pool this server did not make: the ledger row and the pool's own tags must both say so.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from ack_compute.cloud.cs import ContainerService
from ack_compute.cloud.ecs import EcsCatalog
from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.node_pools import NodePoolInfo, NodePoolService
from ack_compute.cloud.vpc import VpcNetworks
from ack_compute.tools.errors import AckComputeError, InvalidPlan, cloud_call
from ack_compute.tools.identity import current_caller
from ack_compute.tools.kubeconfigs import Kubeconfigs
from ack_compute.tools.node_pool_spec import (
    OPERATION_KIND,
    POOL_LABEL,
    NodePoolOutcome,
    PoolNodeView,
    answer,
    details,
    ledger_name,
    made_by,
    nodes_to_remove,
    placement,
)
from ack_compute.tools.node_pool_work import PoolSettings, PoolWork
from ack_compute.tools.operation_params import NodePoolParams
from ack_compute.tools.operations import Operations
from ack_compute.tools.ownership import LIVE, NameBusy, OwnedResource, Ownership
from ack_compute.tools.plans import NodePoolPlan, normalise
from ack_compute.tools.pricing import Pricer
from ack_compute.tools.purchase import Bought, Claim, Policy, bind_plan
from ack_compute.tools.quotes import QuoteBook, QuoteRecord
from ack_compute.tools.spending import Spending
from ack_compute.tools.targets import ClusterTarget, Targets

NOTHING = "Nothing was created or changed."


@dataclass(frozen=True)
class _Payment:
    """What a creating or growing call pays with: the quoted plan, the quote, the person's recorded answer, the
    server's confirmation policy, and who asked."""

    plan: NodePoolPlan | None
    token: str | None
    consent_id: str | None
    policy: Policy
    requested_by: str


class NodePools(PoolWork, Spending):
    def __init__(
        self,
        *,
        cs: ContainerService,
        pools: NodePoolService,
        ecs: EcsCatalog,
        targets: Targets,
        kubeconfigs: Kubeconfigs,
        quotes: QuoteBook,
        pricer: Pricer,
        ownership: Ownership,
        operations: Operations,
        settings: PoolSettings | None = None,
        vpcs: VpcNetworks | None = None,
    ) -> None:
        super().__init__(quotes=quotes, pricer=pricer, ownership=ownership, operations=operations)
        self.cs = cs
        self.pools = pools
        self.ecs = ecs
        self.targets = targets
        self.kubeconfigs = kubeconfigs
        self.settings = settings or PoolSettings()
        self.vpcs = vpcs  # the vSwitches' zones, for the stock check before a purchase

    # -- where, and what is there ------------------------------------------------------------------------------

    def _cloud(self, fn: Any) -> Any:
        return cloud_call(fn, f"{NOTHING} Retry when the cloud answers.")

    def target(self, cluster: str, region: str | None = None) -> ClusterTarget:
        """The ACK cluster a pool goes on; ACK Serverless and kubeconfig contexts have no node pools to manage."""
        target = self.targets.resolve(cluster, region)
        if target.kind == "serverless":
            raise AckComputeError(
                f"Cluster {target.name or cluster} is ACK Serverless: it has no node pools (its pods run on virtual "
                "nodes, each billed per pod).",
                "For compute there, quote an acs plan (deploy_acs, or run_job with compute=acs) or an eci plan "
                f"(deploy_acs). For a node pool, use an ACK Pro or Basic cluster. {NOTHING}",
            )
        if target.kind != "ack" or not target.cluster_id:
            raise AckComputeError(
                f"{cluster} is not an ACK cluster this server can reach by id or name, so it cannot manage its node "
                "pools.",
                f"Name an ACK cluster by its id or name. {NOTHING}",
            )
        return target

    def find(self, target: ClusterTarget, name: str) -> NodePoolInfo | None:
        found = self._cloud(lambda: self.pools.list(target.cluster_id or "", target.region, name=name))
        return found[0] if found else None

    def _row(self, cluster_id: str, region: str, name: str) -> OwnedResource | None:
        """This server's live ledger row for the pool (not a growth purchase's row)."""
        key = ledger_name(cluster_id, name)
        rows = [
            r
            for r in self.ownership.all()
            if r.kind == "node_pool" and r.origin == "created" and r.name == key and r.region == region
        ]
        live = [r for r in rows if r.state in (*LIVE, "resizing")]
        return live[-1] if live else None

    @staticmethod
    def _yours(pool: NodePoolInfo, row: OwnedResource | None) -> bool:
        """The one rule for resizing: the ledger row and the pool's own tags say this server made it, for this caller
        (or an admin); over HTTP another caller's pool is theirs to resize."""
        return (
            row is not None
            and row.cloud_id == pool.nodepool_id
            and made_by(pool, row.operation_id)
            and current_caller().sees(row.owner)
        )

    @staticmethod
    def _not_yours(target: ClusterTarget, cluster: str, name: str) -> AckComputeError:
        return AckComputeError(
            f"Node pool {name} on cluster {target.name or cluster} was not created by this server for you, so it is "
            "never resized or deleted by it.",
            "Ask its owner to resize it, or create a pool of your own under another name. " + NOTHING,
        )

    def _running(self, row: OwnedResource) -> str | None:
        """The operation still working on this pool (creating or resizing it), if any."""
        for operation_id, _owner, params in self.operations.running(OPERATION_KIND):
            if params.get("resource_id") == row.resource_id:
                return operation_id
        return None

    def placement_for(self, target: ClusterTarget, name: str) -> dict[str, Any]:
        """run_job's node_pool: the node selector and tolerations for pool `name`, refused in plain words when the
        cluster has no such pool (or it is not one whose nodes this server labels)."""
        where = target.name or target.key
        if target.kind != "ack" or not target.cluster_id:
            raise AckComputeError(
                f"node_pool needs an ACK cluster named by id or name; {where} is not one.",
                "Leave node_pool out, or name the ACK cluster. Nothing was created.",
            )
        pool = self.find(target, name)
        if pool is None:
            names = [p.name for p in self._cloud(lambda: self.pools.list(target.cluster_id or "", target.region))]
            raise AckComputeError(
                f"Cluster {where} has no node pool named {name}"
                + (f" (it has: {', '.join(sorted(names))})." if names else "."),
                "Create it with ensure_node_pool (quote a node_pool plan first), or leave node_pool out. Nothing was "
                "created.",
            )
        row = self._row(target.cluster_id or "", target.region, name)
        if row is not None and row.cloud_id == pool.nodepool_id and not current_caller().sees(row.owner):
            # Another caller bought these nodes: their pool is theirs to use, as it is theirs to resize.
            raise AckComputeError(
                f"Node pool {name} on {where} belongs to another caller; only its owner or an admin can send work to "
                "it.",
                "Create a pool of your own with ensure_node_pool (quote a node_pool plan first), or leave node_pool "
                "out. Nothing was created.",
            )
        if pool.labels.get(POOL_LABEL) != name:
            raise AckComputeError(
                f"Node pool {name} on {where} was not made by ensure_node_pool: its nodes carry no {POOL_LABEL} "
                "label to send work to.",
                "Use a pool made with ensure_node_pool, or leave node_pool out. Nothing was created.",
            )
        return placement(pool)

    # -- the tool ------------------------------------------------------------------------------------------------

    def ensure(
        self,
        cluster: str,
        name: str,
        *,
        node_count: int | None = None,
        plan: NodePoolPlan | None = None,
        quote_token: str | None = None,
        consent_id: str | None = None,
        confirmation_policy: Policy = "token",
        requested_by: str = "",
    ) -> NodePoolOutcome:
        target = self.target(cluster, plan.region if plan else None)
        cluster_id = target.cluster_id or ""
        base = {"cluster": cluster, "cluster_id": cluster_id, "name": name}
        row = self._row(cluster_id, target.region, name)
        if row is not None and (running := self._running(row)):
            return NodePoolOutcome(
                status="resizing" if row.state == "resizing" else "creating",
                operation_id=running,
                origin="created",
                message=f"Node pool {name} is being {'resized' if row.state == 'resizing' else 'created'} by "
                f"{running}.",
                next_step=f"Call get_operation with {running} until it finishes.",
                **base,
            )
        pool = self.find(target, name)
        if pool is None and row is not None and row.cloud_id:  # ours, since deleted elsewhere: the name is free again
            self.ownership.update(row.resource_id, state="deleted", details={"gone": "not found by name"})
        elif pool is None and row is not None:
            raise AckComputeError(
                f"Creating node pool {name} ({row.operation_id}) stopped before the cloud confirmed it.",
                f"Run cleanup with target=operation and operation_id={row.operation_id} (it finds a pool that landed "
                f"late by its tags), then call ensure_node_pool again. {NOTHING}",
            )
        if pool is None:
            return self._create(
                target,
                cluster,
                name,
                node_count,
                _Payment(plan, quote_token, consent_id, confirmation_policy, requested_by),
            )
        if not self._yours(pool, row):
            if node_count is not None and node_count != pool.desired_size:
                raise self._not_yours(target, cluster, name)
            return answer("exists", base, pool, None, origin="not_ours")
        assert row is not None
        if node_count is None or node_count == pool.desired_size:
            return answer("unchanged", base, pool, row, origin="created")
        if node_count < pool.desired_size:
            return self._shrink(target, pool, row, node_count, base, requested_by)
        return self._grow(
            target,
            base,
            pool,
            row,
            node_count,
            _Payment(plan, quote_token, consent_id, confirmation_policy, requested_by),
        )

    def offer(
        self, cluster: str, name: str, node_count: int | None, plan: NodePoolPlan, token: str
    ) -> QuoteRecord | None:
        """What the person is asked to pay: the purchase path up to the question (None: this call buys nothing).
        Raises what `ensure` would raise, so nobody is asked to pay for a pool that cannot be made."""
        target = self.target(cluster, plan.region)
        pool = self.find(target, name)
        if pool is None:
            bound = self._bind_new(target, cluster, name, node_count, plan)
            self._in_stock(target, bound)
            return self.purchase.check(token, bound)
        if node_count is None or node_count == pool.desired_size:
            return None
        row = self._row(target.cluster_id or "", target.region, name)
        if not self._yours(pool, row):  # nobody is asked to pay for a resize that `ensure` refuses
            raise self._not_yours(target, cluster, name)
        if row is None or node_count < pool.desired_size:
            return None
        bound = self._bind_growth(target, cluster, name, pool, row, node_count, plan)
        return self.purchase.check(token, bound)

    # -- creating --------------------------------------------------------------------------------------------------

    def _bind_new(
        self, target: ClusterTarget, cluster: str, name: str, node_count: int | None, plan: NodePoolPlan
    ) -> NodePoolPlan:
        self._same_cluster(target, cluster, plan)
        if node_count is not None and node_count != plan.node_count:
            raise InvalidPlan(
                "node_count",
                f"node_count {node_count} differs from the quoted plan's {plan.node_count} nodes.",
                f"Leave node_count out (the quote says how many), or estimate a plan with {node_count} nodes. "
                + NOTHING,
            )
        return bind_plan(plan, target.region, f"cluster {target.name or cluster}")

    @staticmethod
    def _same_cluster(target: ClusterTarget, cluster: str, plan: NodePoolPlan) -> None:
        if plan.cluster and plan.cluster not in (cluster, target.cluster_id, target.name):
            raise InvalidPlan(
                "cluster",
                f"the quote is for a pool on cluster {plan.cluster}, not on {target.name or cluster}.",
                f"Estimate a node_pool plan with cluster {cluster} and pass its quote_id. {NOTHING}",
            )

    def _vswitches(self, target: ClusterTarget) -> list[str]:
        switches = list(target.info.vswitch_ids) if target.info else []
        if not switches:
            raise AckComputeError(
                f"Cluster {target.name or target.key} reports no vSwitch for its nodes, so a pool has nowhere to go.",
                f"Check the cluster in the ACK console. {NOTHING}",
            )
        return switches

    def _in_stock(self, target: ClusterTarget, plan: NodePoolPlan) -> None:
        """Refused before the question when no zone of the cluster's vSwitches sells any of the plan's types: ACK
        would keep the pool scaling, retrying, with no node ("Manually scale a node pool": types by priority,
        retried until the expected count), while the person waits for nothing."""
        vpc_id = target.info.vpc_id if target.info else ""
        if not vpc_id or self.vpcs is None:
            return
        wanted = set(self._vswitches(target))
        switches = self._cloud(lambda: self.vpcs.vswitches(target.region, vpc_id))  # type: ignore[union-attr]
        zones = sorted({s.zone_id for s in switches if s.vswitch_id in wanted})
        for zone in zones:
            stock = self._cloud(lambda z=zone: self.ecs.zone_stock(target.region, z))
            if any(t in stock.available for t in plan.instance_types):
                return
        if zones:
            raise InvalidPlan(
                "instance_types",
                f"none of {', '.join(plan.instance_types)} is sold in the zones of cluster {target.name or target.key}"
                f"'s vSwitches ({', '.join(zones)}).",
                f"Pick instance types sold there, estimate again and show the person the new quote. {NOTHING}",
            )

    def _gpu(self, plan: NodePoolPlan) -> bool:
        infos = self._cloud(lambda: self.ecs.describe_instance_types(plan.region or "", list(plan.instance_types)))
        return any(info.gpu_amount for info in infos.values())

    def _create(
        self,
        target: ClusterTarget,
        cluster: str,
        name: str,
        node_count: int | None,
        pay: _Payment,
    ) -> NodePoolOutcome:
        base = {"cluster": cluster, "cluster_id": target.cluster_id, "name": name}
        plan, token = pay.plan, pay.token
        if plan is None or not token:
            proposal = plan or NodePoolPlan(cluster=cluster, node_count=node_count or 1)
            if node_count is not None:
                proposal = proposal.model_copy(update={"node_count": node_count})
            return NodePoolOutcome(
                status="quote_required",
                plan_to_quote=normalise(NodePoolPlan.model_validate(proposal.model_dump()), target.region),
                message=f"Cluster {target.name or cluster} has no node pool named {name}; adding one costs money and "
                "needs a quote.",
                next_step="Call estimate_cost with plan_to_quote (set instance_types, e.g. a GPU type, and "
                "node_count first), show the quote to the person, and on their yes call ensure_node_pool again with "
                f"the quote_id. {NOTHING}",
                **base,
            )
        bound = self._bind_new(target, cluster, name, node_count, plan)
        vswitches = self._vswitches(target)
        self._in_stock(target, bound)
        gpu = self._gpu(bound)
        quote = self.purchase.approved(token, bound, pay.consent_id, pay.policy)
        if quote is None:
            return self._declined(base)
        operation_id = f"op-{uuid.uuid4().hex[:16]}"
        node_hourly = quote.hourly / Decimal(bound.node_count)
        claim = Claim(
            operation_id,
            "node_pool",
            target.region,
            ledger_name(target.cluster_id or "", name),
            details=details(bound, target.cluster_id or "", name, node_hourly, quote.currency, time.time()),
        )
        try:
            bought = self.purchase.buy(
                token, bound, claim=claim, current_hourly=self._hourly_now(bound), note=f"ensure_node_pool {name}"
            )
        except NameBusy as busy:
            return NodePoolOutcome(
                status="creating",
                operation_id=busy.existing.operation_id,
                origin="created",
                message=f"Node pool {name} is already being created by {busy.existing.operation_id}; the quote was "
                "not used.",
                next_step=f"Call get_operation with {busy.existing.operation_id}.",
                **base,
            )
        self._record_cluster_reuse(target)
        params = self._params(
            "create", bought.resource_id, target, base, bound.node_count, plan=bound, gpu=gpu, vswitch_ids=vswitches
        )
        return self._started(
            params,
            operation_id,
            pay.requested_by,
            bought,
            status="creating",
            nodes=bound.node_count,
            hourly=bought.redemption.hourly,
            currency=bought.redemption.currency,
            message=f"Adding node pool {name} ({bound.node_count} x {bound.instance_types[0]}"
            + (", tainted: only work sent with node_pool lands there" if gpu else "")
            + f") to cluster {target.name or cluster} (quote {bought.redemption.quote_id}).",
            **base,
        )

    @staticmethod
    def _params(
        mode: Literal["create", "grow", "shrink"],
        resource_id: int,
        target: ClusterTarget,
        base: dict[str, Any],
        nodes: int,
        **more: Any,
    ) -> NodePoolParams:
        """The resumable operation's parameters: the pool's ledger row and where it is, and the size it ends at."""
        return NodePoolParams(
            mode=mode,
            resource_id=resource_id,
            cluster=base["cluster"],
            cluster_id=target.cluster_id or "",
            region=target.region,
            name=base["name"],
            nodes=nodes,
            **more,
        )

    def _started(
        self, params: NodePoolParams, operation_id: str, requested_by: str, bought: Bought | None, **answer: Any
    ) -> NodePoolOutcome:
        """Start the resumable pool operation (paid by `bought`'s quote, if any) and answer with it (`answer`: the
        outcome's other fields)."""
        quote_id = bought.redemption.quote_id if bought else None
        op = self.operations.start(
            OPERATION_KIND,
            params,
            self.run_operation,
            operation_id=operation_id,
            quote_id=quote_id,
            requested_by=requested_by,
        )
        return NodePoolOutcome(
            operation_id=op, origin="created", next_step=f"Call get_operation with {op} until it finishes.", **answer
        )

    def _hourly_now(self, plan: NodePoolPlan) -> Decimal | None:
        try:
            return self.pricer.hourly_now(plan)
        except AckComputeError:
            return None  # pricing trouble must not block a quote that is otherwise valid

    def _record_cluster_reuse(self, target: ClusterTarget) -> None:
        """The pool's cluster shows in list_resources too; one this server did not create is recorded as reused
        (cleanup never deletes it)."""
        cluster_id = target.cluster_id or ""
        if any(r.kind == "cluster" and r.cloud_id == cluster_id for r in self.ownership.visible()):
            return
        if cluster_id in self.ownership.owned_cloud_ids("cluster"):
            return
        self.ownership.record_reuse(
            f"reuse-{uuid.uuid4().hex[:12]}", "cluster", target.region, target.name or cluster_id, cluster_id
        )

    def _declined(self, base: dict[str, Any]) -> NodePoolOutcome:
        return NodePoolOutcome(
            status="declined",
            message="The person declined the quoted cost; the quote is now void.",
            next_step="Ask what to change, estimate again, and get a new yes.",
            **base,
        )

    # -- resizing ------------------------------------------------------------------------------------------------

    def _paid_plan(self, row: OwnedResource) -> NodePoolPlan:
        return NodePoolPlan.model_validate(row.details["plan"])

    def _bind_growth(
        self,
        target: ClusterTarget,
        cluster: str,
        name: str,
        pool: NodePoolInfo,
        row: OwnedResource,
        node_count: int,
        plan: NodePoolPlan,
    ) -> NodePoolPlan:
        """A growth quote buys exactly the added nodes, of the pool's own kind: the paid plan with node_count = the
        nodes added (its hours are the agent's)."""
        self._same_cluster(target, cluster, plan)
        added = node_count - pool.desired_size
        wanted = self._growth_plan(row, added, plan.hours, plan.cluster)
        bound = bind_plan(plan, target.region, f"cluster {target.name or cluster}")
        if bound.model_dump(exclude={"hours", "cluster"}) != wanted.model_dump(exclude={"hours", "cluster"}):
            raise InvalidPlan(
                "plan",
                f"growing pool {name} from {pool.desired_size} to {node_count} nodes buys {added} more of its own "
                "nodes; the quote is for another plan.",
                "Estimate the plan_to_quote that ensure_node_pool returns without a quote_id, then pass its quote_id. "
                + NOTHING,
            )
        return bound

    def _growth_plan(self, row: OwnedResource, added: int, hours: float, cluster: str | None) -> NodePoolPlan:
        paid = self._paid_plan(row)
        return NodePoolPlan.model_validate(
            {**paid.model_dump(), "node_count": added, "hours": hours, "cluster": cluster}
        )

    def _grow(
        self,
        target: ClusterTarget,
        base: dict[str, Any],
        pool: NodePoolInfo,
        row: OwnedResource,
        node_count: int,
        pay: _Payment,
    ) -> NodePoolOutcome:
        added = node_count - pool.desired_size
        cluster = base["cluster"]
        plan, token = pay.plan, pay.token
        if plan is None or not token:
            return NodePoolOutcome(
                status="quote_required",
                nodepool_id=pool.nodepool_id,
                pool_state=pool.state,
                nodes=pool.desired_size,
                origin="created",
                plan_to_quote=self._growth_plan(row, added, self._paid_plan(row).hours, cluster),
                message=f"Growing node pool {base['name']} from {pool.desired_size} to {node_count} nodes buys "
                f"{added} more; that needs a quote for the {added} added node{'s' if added > 1 else ''}.",
                next_step="Call estimate_cost with plan_to_quote, show the quote to the person, and on their yes call "
                f"ensure_node_pool again with node_count {node_count} and the quote_id. {NOTHING}",
                **base,
            )
        bound = self._bind_growth(target, cluster, base["name"], pool, row, node_count, plan)
        quote = self.purchase.approved(token, bound, pay.consent_id, pay.policy)
        if quote is None:
            return self._declined(base)
        operation_id = f"op-{uuid.uuid4().hex[:16]}"
        claim = Claim(
            operation_id,
            "node_pool",
            target.region,
            f"{row.name}+{operation_id}",
            details={"growth_of": row.resource_id, "nodes": added, "cluster": target.cluster_id},
        )
        bought = self.purchase.buy(token, bound, claim=claim, note=f"ensure_node_pool {base['name']} +{added}")
        self.ownership.update(row.resource_id, state="resizing")
        params = self._params(
            "grow",
            row.resource_id,
            target,
            base,
            node_count,
            growth_row=bought.resource_id,
            nodepool_id=pool.nodepool_id,
        )
        return self._started(
            params,
            operation_id,
            pay.requested_by,
            bought,
            status="resizing",
            nodepool_id=pool.nodepool_id,
            nodes=node_count,
            message=f"Growing node pool {base['name']} from {pool.desired_size} to {node_count} nodes (quote "
            f"{bought.redemption.quote_id}, +{bought.redemption.hourly} {bought.redemption.currency}/h).",
            **base,
        )

    def _shrink(
        self,
        target: ClusterTarget,
        pool: NodePoolInfo,
        row: OwnedResource,
        node_count: int,
        base: dict[str, Any],
        requested_by: str,
        growth: OwnedResource | None = None,
    ) -> NodePoolOutcome:
        """Free and destructive: exactly these nodes are drained and released (RemoveNodePoolNodes with their
        instance ids), so the answer names what goes before anything else could choose. `growth`: the purchase
        whose lease ended (tools/reaper.py); only it stops counting."""
        cluster_id = target.cluster_id or ""
        listed = self._cloud(lambda: self.pools.nodes(cluster_id, pool.nodepool_id, target.region))
        going = nodes_to_remove(listed, pool.desired_size - node_count)
        if not going:
            return answer("unchanged", base, pool, row, origin="created")
        task_id = self._cloud(
            lambda: self.pools.remove_nodes(cluster_id, pool.nodepool_id, [n.instance_id for n in going], target.region)
        )
        self.ownership.update(row.resource_id, state=row.state, details={"task_id": task_id})
        target_size = pool.desired_size - len(going)
        self._resized(row, target_size)
        if growth is None:
            self._release_growth(row, len(going))
        else:
            self.ownership.update(growth.resource_id, state="deleted", details={"released": "its lease ended"})
        removed = [PoolNodeView(node=n.node_name, instance_id=n.instance_id, state=n.node_status) for n in going]
        operation_id = f"op-{uuid.uuid4().hex[:16]}"
        self.ownership.update(row.resource_id, state="resizing")
        return self._started(
            self._params(
                "shrink", row.resource_id, target, base, target_size, nodepool_id=pool.nodepool_id, removed=removed
            ),
            operation_id,
            requested_by,
            None,
            status="resizing",
            nodepool_id=pool.nodepool_id,
            nodes=target_size,
            removed=removed,
            message=f"Shrinking node pool {base['name']} from {pool.desired_size} to {target_size} nodes at no cost: "
            f"{', '.join(n.node for n in removed)} are drained and released (their pods are evicted).",
            **base,
        )

    def _release_growth(self, row: OwnedResource, removed: int) -> None:
        """Growth purchases whose nodes a shrink released stop counting against the caps (newest first, whole
        purchases only, so the caps never count less than runs)."""
        growths = [
            r
            for r in self.ownership.all()
            if r.kind == "node_pool" and r.details.get("growth_of") == row.resource_id and r.state in LIVE
        ]
        for growth in reversed(growths):
            nodes = int(growth.details.get("nodes") or 0)
            if nodes > removed:
                break
            removed -= nodes
            self.ownership.update(growth.resource_id, state="deleted", details={"released": "the pool shrank"})

    def end_growth(self, growth: OwnedResource, requested_by: str) -> str | None:
        """A growth purchase's lease ended: the pool gives back the nodes it bought (never below what the pool's
        own purchase paid for), as a shrink does. The operation id, or None when nothing was left to remove.
        Raises AckComputeError, changing nothing, when that cannot be done safely now."""
        pool_row = self.ownership.get(int(growth.details["growth_of"]))
        running = self._running(pool_row)
        if pool_row.state not in LIVE or running:
            raise AckComputeError(f"its pool is {'being resized by ' + running if running else pool_row.state}")
        pool = self.pool_of(pool_row)
        if pool is None or not made_by(pool, pool_row.operation_id):
            raise AckComputeError("its pool is not found with this server's tags: nothing is touched")
        size = max(self._paid_plan(pool_row).node_count, pool.desired_size - int(growth.details.get("nodes") or 0))
        if size >= pool.desired_size:
            self.ownership.update(growth.resource_id, state="deleted", details={"released": "no node left to give"})
            return None
        cluster_id = str(pool_row.details.get("cluster") or "")
        target = self.target(cluster_id, pool_row.region)
        base = {"cluster": cluster_id, "cluster_id": cluster_id, "name": str(pool_row.details.get("pool") or "")}
        outcome = self._shrink(target, pool, pool_row, size, base, requested_by, growth=growth)
        if outcome.operation_id is None:
            raise AckComputeError("none of the pool's nodes could be chosen to remove")
        return outcome.operation_id

    def resume_unfinished(self) -> list[str]:
        """After a restart: continue every ensure_node_pool operation whose process is gone."""
        return self.operations.resume_all(OPERATION_KIND, self.run_operation)

    # -- for list_resources and cleanup ------------------------------------------------------------------------

    def delete(self, row: OwnedResource, nodepool_id: str) -> str:
        """DeleteClusterNodepool (force: its nodes are drained and released with it); cleanup checked it is ours."""
        return self.pools.delete(str(row.details.get("cluster") or ""), nodepool_id, row.region)

    def pool_of(self, row: OwnedResource) -> NodePoolInfo | None:
        """The pool a ledger row names, as the cloud has it now (None: gone). Raises CloudError otherwise."""
        cluster_id = str(row.details.get("cluster") or "")
        if row.cloud_id:
            try:
                return self.pools.get(cluster_id, row.cloud_id, row.region)
            except CloudError as exc:
                if exc.is_not_found:
                    return None
                raise
        found = self.pools.list(cluster_id, row.region, name=str(row.details.get("pool") or ""))
        if found and made_by(found[0], row.operation_id):  # the create reached the cloud but was never recorded
            self.ownership.update(row.resource_id, state=row.state, cloud_id=found[0].nodepool_id)
            return found[0]
        return None
