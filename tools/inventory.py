"""list_resources: what the caller's quotes paid for or the server reused for them (admins: everyone's), from the
ledger checked against the cloud, with the spend meter: what each costs per hour, the hours it ran, what it accrued
(tools/meter.py), when its lease ends, and totals per currency and per caller.

Accrued is the quoted hourly price times the hours it ran: the price the person accepted, an estimate of the bill.
Where the account gives bills (the `bills` hook), each resource shows what was billed next to it.

A read-only server reaches no cluster (tools/targets.py): its Jobs, Deployments and Services show the state the ledger
recorded, said as such; clusters, node pools, networks and bills it still checks (the read-only RAM policy's
"inventory" group, cloud/diagnostics.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from ack_compute.cloud.cs import ContainerService
from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.kube_workloads import KubeWorkloads, deployment_view, job_view
from ack_compute.cloud.vpc import VpcNetworks
from ack_compute.tools.budgets import CallerBudget, Spend
from ack_compute.tools.cluster_states import exists
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.identity import current_caller
from ack_compute.tools.leases import Lease
from ack_compute.tools.meter import Meter, Metered, cents, day_start, metered, ran_until
from ack_compute.tools.node_pools import NodePools
from ack_compute.tools.ownership import OwnedResource, Ownership
from ack_compute.tools.pricing import money
from ack_compute.tools.targets import CONTEXT_PREFIX, ClusterTarget, Targets, cluster_kind

log = logging.getLogger("ack_compute.inventory")
GONE = "gone"
RECORDED = "as recorded: a read-only server does not read clusters"
# What the account billed so far per ledger resource_id, or None when it gives no bills (cloud/billing.py).
Bills = Callable[[list[OwnedResource]], dict[int, Decimal] | None]


class Resource(BaseModel):
    kind: str
    name: str
    id: str | None
    region: str
    state: str
    origin: Literal["created", "reused"]
    owner: str
    hours: float  # how long it ran (until now, or until it stopped)
    nodes: int | None = None
    hourly: Decimal | None = None
    accrued: Decimal | None = None
    billed: Decimal | None = None
    meter: Literal["estimated", "billed"] | None = None
    currency: str = ""
    lease_ends_at: str | None = None  # UTC; what the quote paid for is deleted then unless extended
    operation_id: str


class Total(BaseModel):
    currency: str
    hourly: Decimal
    accrued: Decimal
    today: Decimal  # accrued this UTC day by what is listed
    billed: Decimal | None = None


class CallerSpend(BaseModel):
    """One caller's spend as their budgets count it: accrued today and this UTC month by everything their quotes
    paid for (also what is gone), and what their live leases still commit until they end."""

    caller: str
    currency: str
    today: Decimal
    month: Decimal
    committed: Decimal
    daily_budget: Decimal | None = None
    monthly_budget: Decimal | None = None


class Inventory(BaseModel):
    resources: list[Resource]
    totals: list[Total]
    callers: list[CallerSpend] = []
    note: str


class Inventories:
    def __init__(
        self,
        *,
        cs: ContainerService,
        vpcs: VpcNetworks,
        targets: Targets,
        ownership: Ownership,
        clock: Callable[[], float] = time.time,
        pools: NodePools | None = None,
        bills: Bills | None = None,
        budgets: Callable[[], CallerBudget] | None = None,
        budget_currency: str = "CNY",
    ) -> None:
        self.cs = cs
        self.vpcs = vpcs
        self.targets = targets
        self.ownership = ownership
        self._clock = clock
        self.pools = pools
        self.bills = bills
        self.budgets = budgets  # the current caller's budgets, shown on their own line
        self.budget_currency = budget_currency
        self.meter = Meter(ownership.ledger, clock)

    def list(self, include_gone: bool = False) -> Inventory:
        now = self._clock()
        leases = {
            r["resource_id"]: Lease.model_validate(dict(r)) for r in self.ownership.ledger.query("SELECT * FROM leases")
        }
        seen: set[tuple[str, str]] = set()
        listed: list[tuple[Resource, OwnedResource, Metered | None]] = []
        for row in self.ownership.visible():
            if row.state in ("deleted", "abandoned") or (row.state == "failed" and not row.cloud_id):
                continue
            if row.kind == "node_pool" and row.details.get("growth_of"):
                continue  # a growth purchase shows in its pool's hourly and accrued
            key = (row.kind, row.cloud_id or f"#{row.resource_id}")
            if key in seen:  # each reuse records a row; one line per resource
                continue
            seen.add(key)
            lease = leases.get(row.resource_id)
            if row.kind == "node_pool":
                state, nodes = self._pool_state(row)
            else:
                state, nodes = self._cloud_state(row), None
            if state == GONE and not include_gone:
                continue
            item = metered(row, self._quote(row), now, lease, gone=state == GONE, nodes=nodes)
            resource = _listed(row, state, now, item, lease, nodes=None if state == GONE else nodes)
            listed.append((resource, row, item))
        self._bill(listed)
        return Inventory(
            resources=[r for r, _, _ in listed],
            totals=_totals(listed, now),
            callers=self._callers(now),
            note="accrued = the quoted hourly price x the hours it ran (meter: estimated; the cloud's bill is the "
            "truth); callers: spend as budgets count it. Networks are priced within their cluster's quote; reused "
            "resources are not paid by this server.",
        )

    def _bill(self, listed: list[tuple[Resource, OwnedResource, Metered | None]]) -> None:
        """What the account billed so far next to what accrued; `meter: estimated` where it gives no bill."""
        priced = [(r, row) for r, row, item in listed if item is not None]
        bills: dict[int, Decimal] | None = None
        if self.bills is not None and priced:
            try:
                bills = self.bills([row for _, row in priced])
            except (CloudError, AckComputeError) as exc:  # a denied or failing bill query leaves the estimate
                log.warning("bills unavailable, the meter shows estimates: %s", exc)
        for resource, row in priced:
            billed = (bills or {}).get(row.resource_id)
            resource.billed = None if billed is None else cents(billed)
            resource.meter = "estimated" if billed is None else "billed"

    def _callers(self, now: float) -> list[CallerSpend]:
        """One line per caller and currency for an admin; the caller's own otherwise (also before they spent anything,
        when they have a budget to show)."""
        caller = current_caller()
        reading = self.meter.read(None if caller.admin else caller.subject)
        budget = self.budgets() if self.budgets is not None else CallerBudget()
        spends = reading.totals(now)
        if budget != CallerBudget() and caller.subject not in spends:
            spends[caller.subject] = {self.budget_currency: Spend(currency=self.budget_currency)}
        lines = []
        for owner, by_currency in sorted(spends.items()):
            for currency, spend in by_currency.items():
                own = owner == caller.subject
                lines.append(
                    CallerSpend(
                        caller=owner or "local operator",
                        currency=currency,
                        today=cents(spend.today),
                        month=cents(spend.month),
                        committed=cents(spend.committed),
                        daily_budget=budget.daily_budget if own else None,
                        monthly_budget=budget.monthly_budget if own else None,
                    )
                )
        return lines

    def _pool_state(self, row: OwnedResource) -> tuple[str, int | None]:
        """A node pool's state and size from the cloud (the ledger's size when the cloud cannot say)."""
        nodes = row.details.get("nodes")
        try:
            pool = self.pools.pool_of(row) if self.pools is not None else None
            if pool is None:
                return GONE, nodes
            return f"{pool.state}, {pool.healthy_nodes}/{pool.desired_size} nodes healthy", pool.desired_size
        except CloudError as exc:
            return (GONE if exc.is_not_found else f"unknown ({exc.code or exc.status})"), nodes

    def _quote(self, row: OwnedResource) -> tuple[Decimal, str] | None:
        """The quote that pays for it: recorded on the row (a Deployment's latest), or its operation's."""
        if row.origin != "created":
            return None
        rows = self.ownership.ledger.query(
            "SELECT hourly, currency FROM quotes WHERE quote_id = COALESCE("
            " (SELECT quote_id FROM resources WHERE resource_id = :id),"
            " (SELECT quote_id FROM operations WHERE operation_id = :op))",
            {"id": row.resource_id, "op": row.operation_id},
        )
        if not rows or row.kind in ("vpc", "vswitch", "service"):
            return None  # networks and Services ride on the quote of the cluster or Deployment they serve
        return Decimal(rows[0]["hourly"]), rows[0]["currency"]

    def _cloud_state(self, row: OwnedResource) -> str:
        """What the cloud says now; the ledger's own state when there is nothing to ask yet."""
        if row.kind in ("job", "deployment", "service"):
            return self._workload_state(row)
        if not row.cloud_id:
            return row.state
        try:
            if row.kind == "cluster":
                state = self.cs.describe_cluster(row.cloud_id, row.region).state
                return state if exists(state) else GONE
            if row.kind == "vpc":
                vpc = self.vpcs.vpc(row.region, row.cloud_id)
                return GONE if vpc is None else vpc.status or "available"
            if row.kind == "vswitch" and row.details.get("vpc_id"):
                found = [
                    s for s in self.vpcs.vswitches(row.region, row.details["vpc_id"]) if s.vswitch_id == row.cloud_id
                ]
                return found[0].status or "available" if found else GONE
        except CloudError as exc:
            return GONE if exc.is_not_found else f"unknown ({exc.code or exc.status})"
        return row.state

    def _workload_state(self, row: OwnedResource) -> str:
        if self.targets.read_only:  # it reaches no cluster (tools/targets.py): the ledger's word, said as such
            # A Job's row reads "ready" from its submission until its end is seen: submitted is all that is known.
            recorded = "submitted" if (row.kind, row.state) == ("job", "ready") else row.state
            return f"{recorded} ({RECORDED})"
        cluster = str(row.details.get("cluster") or "")
        namespace = str(row.details.get("namespace") or "default")
        name = str(row.details.get("job") or row.details.get("name") or row.name.rsplit("/", 1)[-1])
        kind = {"job": "Job", "deployment": "Deployment", "service": "Service"}[row.kind]
        try:
            if cluster.startswith(CONTEXT_PREFIX):
                target = ClusterTarget(
                    ref=cluster, kind="context", region=row.region, context=cluster[len(CONTEXT_PREFIX) :]
                )
            else:
                info = self.cs.describe_cluster(cluster, row.region)
                target = ClusterTarget(
                    ref=cluster, kind=cluster_kind(info), region=row.region, cluster_id=cluster, info=info
                )
            access = self.targets.access(target, timeout_s=5.0)
            try:
                raw = KubeWorkloads(access).read(kind, namespace, name)
            finally:
                access.close()
        except CloudError as exc:
            return GONE if exc.is_not_found else f"unknown ({exc.code or exc.status})"
        except AckComputeError as exc:
            return f"unknown ({exc.message})"
        if raw is None:
            return GONE
        if row.kind == "deployment":
            view = deployment_view(raw)
            return f"{view.ready_replicas}/{view.replicas} ready"
        if row.kind == "job":
            job = job_view(raw)
            return {"Complete": "finished (succeeded)", "Failed": "finished (failed)"}.get(job.condition, "running")
        return "available"


def _listed(
    row: OwnedResource,
    state: str,
    now: float,
    item: Metered | None,
    lease: Lease | None,
    nodes: int | None = None,
) -> Resource:
    """A ledger row as list_resources shows it: who made it, where, its state, and its meter."""
    end = item.end if item is not None else ran_until(row, now, lease, gone=state == GONE)
    resource = Resource(
        kind=row.kind,
        name=row.name,
        id=row.cloud_id,
        region=row.region,
        state=state,
        origin=row.origin,
        owner=row.owner or "local operator",
        hours=round(max(0.0, end - row.created_at.timestamp()) / 3600, 2),
        nodes=nodes,
        operation_id=row.operation_id,
        lease_ends_at=lease.ends_iso() if lease is not None and lease.state in ("active", "ending") else None,
    )
    if item is not None:
        resource.hourly = money(item.hourly)
        resource.accrued = cents(item.accrued())
        resource.currency = item.currency
    return resource


def _totals(listed: list[tuple[Resource, OwnedResource, Metered | None]], now: float) -> list[Total]:
    """Per currency: the hourly of what still runs, what all listed accrued, and what they accrued today."""
    totals: dict[str, Total] = {}
    today = day_start(now)
    for resource, _, item in listed:
        if item is None or resource.accrued is None:
            continue
        t = totals.setdefault(
            item.currency, Total(currency=item.currency, hourly=Decimal(0), accrued=Decimal(0), today=Decimal(0))
        )
        t.accrued += resource.accrued
        t.today += cents(item.accrued(since=today))
        if resource.billed is not None:
            t.billed = (t.billed or Decimal(0)) + resource.billed
        if resource.state != GONE and resource.hourly is not None and not resource.state.startswith("finished"):
            t.hourly += resource.hourly
    return list(totals.values())
