"""ensure_cluster: find, reuse or create an ACK cluster, paying only with a valid quote.

Lookup has three tiers: the exact name; then (only with reuse_any) any running `acf-*` cluster with
Ready nodes whose credentials may create Jobs; else create. Creation runs as a resumable operation.
A plan of kind `serverless` creates an ACK Serverless cluster: no node pools, one virtual node per
vSwitch zone, every pod billed as an ECI/ACS instance.

This module decides and pays; tools/cluster_reuse.py looks clusters up and reuses them, and tools/cluster_create.py
is the resumable create the purchase starts (ClusterService mixes both in, as NodePools does PoolWork).
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

from ack_compute.cloud.cs import ContainerService
from ack_compute.cloud.ecs import EcsCatalog
from ack_compute.cloud.vpc import VpcNetworks
from ack_compute.tools.cluster_create import OPERATION_KIND, ClusterCreation, ClusterOutcome, ClusterSettings
from ack_compute.tools.cluster_reuse import ClusterLookup
from ack_compute.tools.cluster_states import Disposition, describe, disposition, exists, is_usable, sentence
from ack_compute.tools.errors import AckComputeError, InvalidPlan
from ack_compute.tools.kubeconfigs import Kubeconfigs
from ack_compute.tools.operation_params import ClusterCreateParams
from ack_compute.tools.operations import Operations
from ack_compute.tools.ownership import NameBusy, Ownership
from ack_compute.tools.plans import ClusterPlan, ServerlessPlan, normalise
from ack_compute.tools.pricing import Pricer
from ack_compute.tools.purchase import Claim, Policy, bind_plan
from ack_compute.tools.quotes import QuoteBook, QuoteRecord
from ack_compute.tools.spending import Spending
from ack_compute.tools.targets import near_names

CLUSTER_NAME = r"^[0-9A-Za-z\u4e00-\u9fa5][0-9A-Za-z\u4e00-\u9fa5-]{0,62}$"
# Without a zone in a Serverless plan we need a zone where a vSwitch can be made and ECI can place pods.
# cloud/ecs.py has no plain zone listing (and VPC DescribeZones is not wrapped), so we take the zones that
# sell a mainstream general-purpose type pay-as-you-go now: they are open, current zones with ECS-grade
# capacity, which is what ECI pods run on; retired or sold-out zones drop out.
SERVERLESS_ZONE_PROBE_TYPE = "ecs.g7.xlarge"


class ClusterService(ClusterLookup, ClusterCreation, Spending):
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
            reused = self._reuse(running[0], name, region, requested_by)
            return reused if not quote_token else self._unspent(reused, plan)
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

    # -- creation --------------------------------------------------------------------------------

    def offer(self, name: str, plan: ClusterPlan | ServerlessPlan, quote_token: str) -> QuoteRecord | None:
        """What the person is asked to pay for creating `name`: the purchase path up to the question; None when a
        running cluster of that name is reused instead (nobody is asked to buy what is not bought)."""
        region = plan.region or self.default_region
        if any(is_usable(c.state) for c in self.by_name(name, region)):
            return None
        return self.purchase.check(quote_token, bind_plan(plan, region, f"cluster {name}"))

    @staticmethod
    def _unspent(reused: ClusterOutcome, plan: ClusterPlan | ServerlessPlan | None) -> ClusterOutcome:
        """A reuse that came with a quote says the quote was not spent, and how the cluster differs from its plan."""
        short = ""
        if isinstance(plan, ClusterPlan) and reused.ready_nodes is not None and reused.ready_nodes < plan.node_count:
            short = (
                f" It has {reused.ready_nodes} Ready node(s), fewer than the quoted {plan.node_count}: "
                "ensure_node_pool adds a pool of more (quoted), or another name makes a new cluster."
            )
        return reused.model_copy(
            update={"message": f"{reused.message} The quote was not spent: it can still pay for a create.{short}"}
        )

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
            near = near_names(self.ownership.visible(), name, region)
            return ClusterOutcome(
                status="quote_required",
                name=name,
                region=region,
                plan_to_quote=proposal,
                message=f"No running cluster named {name}"
                + (f" (yours with a name like it: {near}; pass that name to use it)" if near else "")
                + f"; creating {kind} costs money and needs a quote.",
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
        params = ClusterCreateParams(
            mode="create",
            resource_id=row,
            name=name,
            region=region,
            zone=zone,
            plan=plan,
            # A Serverless cluster has no workers to wait for; its virtual nodes are waited for instead.
            min_nodes=0 if isinstance(plan, ServerlessPlan) else plan.node_count,
            serverless=serverless,
            security_group_id=security_group_id or None,
        )
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
