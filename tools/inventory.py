"""list_resources: what the caller's quotes paid for or the server reused for them (admins: everyone's), from the
ledger checked against the cloud, with what each costs per hour and has cost so far.

Cost so far is the quoted hourly price times the hours it has existed (until now, or until it was seen gone or the
job finished): the quote is the price the person accepted, so this is what they agreed to, not a bill.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from ack_compute.cloud.cs import ContainerService
from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.kube_workloads import KubeWorkloads, deployment_view, job_view
from ack_compute.cloud.vpc import VpcNetworks
from ack_compute.tools.cluster_states import exists
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.node_pool_spec import segments_cost
from ack_compute.tools.node_pools import NodePools
from ack_compute.tools.ownership import OwnedResource, Ownership
from ack_compute.tools.pricing import money
from ack_compute.tools.targets import CONTEXT_PREFIX, ClusterTarget, Targets, cluster_kind

CENT = Decimal("0.01")
GONE = "gone"


class Resource(BaseModel):
    kind: str
    name: str
    id: str | None
    region: str
    state: str
    origin: Literal["created", "reused"]
    owner: str
    age_hours: float
    nodes: int | None = None
    hourly: Decimal | None = None
    cost_so_far: Decimal | None = None
    currency: str = ""
    operation_id: str


class Total(BaseModel):
    currency: str
    hourly: Decimal
    cost_so_far: Decimal


class Inventory(BaseModel):
    resources: list[Resource]
    totals: list[Total]
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
    ) -> None:
        self.cs = cs
        self.vpcs = vpcs
        self.targets = targets
        self.ownership = ownership
        self._clock = clock
        self.pools = pools

    def list(self, include_gone: bool = False) -> Inventory:
        now = self._clock()
        seen: set[tuple[str, str]] = set()
        listed: list[Resource] = []
        for row in self.ownership.visible():
            if row.state in ("deleted", "abandoned") or (row.state == "failed" and not row.cloud_id):
                continue
            if row.kind == "node_pool" and row.details.get("growth_of"):
                continue  # a growth purchase shows in its pool's hourly and cost so far
            key = (row.kind, row.cloud_id or f"#{row.resource_id}")
            if key in seen:  # each reuse records a row; one line per resource
                continue
            seen.add(key)
            if row.kind == "node_pool":
                resource = self._pool(row, now)
                if resource.state != GONE or include_gone:
                    listed.append(resource)
                continue
            state = self._cloud_state(row)
            if state == GONE and not include_gone:
                continue
            listed.append(self._priced(row, state, now))
        totals: dict[str, Total] = {}
        for r in listed:
            if r.cost_so_far is None:
                continue
            t = totals.setdefault(r.currency, Total(currency=r.currency, hourly=Decimal(0), cost_so_far=Decimal(0)))
            t.cost_so_far += r.cost_so_far
            if r.state != GONE and r.hourly is not None and not r.state.startswith("finished"):
                t.hourly += r.hourly
        return Inventory(
            resources=listed,
            totals=list(totals.values()),
            note="cost_so_far = the quoted hourly price x the hours it has existed; the cloud's bill is the truth. "
            "Networks are priced within their cluster's quote; reused resources are not paid by this server.",
        )

    def _priced(self, row: OwnedResource, state: str, now: float) -> Resource:
        start = row.created_at.timestamp()
        end = now
        if state == GONE:
            end = row.updated_at.timestamp()
        elif isinstance(row.details.get("finished_at"), int | float):
            end = float(row.details["finished_at"])
        hours = max(0.0, end - start) / 3600
        resource = _listed(row, state, now)
        quote = self._quote(row) if row.origin == "created" else None
        if quote is None:
            return resource
        hourly, currency = quote
        cost = (hourly * Decimal(str(hours))).quantize(CENT)
        return resource.model_copy(update={"hourly": hourly, "cost_so_far": cost, "currency": currency})

    def _pool(self, row: OwnedResource, now: float) -> Resource:
        """A node pool: its nodes and state from the cloud, its hourly = the quoted node price x its nodes now, its
        cost so far = that price x nodes x hours for each size it had."""
        nodes = row.details.get("nodes")
        end = now
        try:
            pool = self.pools.pool_of(row) if self.pools is not None else None
            if pool is None:
                state, end = GONE, row.updated_at.timestamp()
            else:
                state, nodes = (
                    f"{pool.state}, {pool.healthy_nodes}/{pool.desired_size} nodes healthy",
                    pool.desired_size,
                )
        except CloudError as exc:
            state = GONE if exc.is_not_found else f"unknown ({exc.code or exc.status})"
        resource = _listed(row, state, now, nodes=None if state == GONE else nodes)
        if not row.details.get("node_hourly"):
            return resource
        node_hourly = Decimal(row.details["node_hourly"])
        cost = segments_cost(row.details.get("segments", []), node_hourly, end).quantize(CENT)
        hourly = money(node_hourly * int(nodes or 0))
        return resource.model_copy(
            update={"hourly": hourly, "cost_so_far": cost, "currency": row.details.get("currency", "")}
        )

    def _quote(self, row: OwnedResource) -> tuple[Decimal, str] | None:
        """The quote that pays for it: recorded on the row (a Deployment's latest), or its operation's."""
        rows = self.ownership.ledger.query(
            "SELECT hourly, currency FROM quotes WHERE quote_id = COALESCE("
            " (SELECT quote_id FROM resources WHERE resource_id = ?),"
            " (SELECT quote_id FROM operations WHERE operation_id = ?))",
            (row.resource_id, row.operation_id),
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


def _listed(row: OwnedResource, state: str, now: float, nodes: int | None = None) -> Resource:
    """A ledger row as list_resources shows it, before pricing: who made it, where, how old, in what state."""
    return Resource(
        kind=row.kind,
        name=row.name,
        id=row.cloud_id,
        region=row.region,
        state=state,
        origin=row.origin,
        owner=row.owner or "local operator",
        age_hours=round(max(0.0, now - row.created_at.timestamp()) / 3600, 2),
        nodes=nodes,
        operation_id=row.operation_id,
    )
