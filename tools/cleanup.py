"""cleanup: delete what this server created, newest first, and nothing else.

The ledger says what is ours; the cloud's tags (and Kubernetes labels) must agree before anything is deleted, so a
row that somehow points at someone else's resource is kept and reported, not deleted. Order: Jobs, Deployments and
Services first, then clusters (each deletion awaited), then vSwitches, then VPCs. Already gone counts as done, so
cleanup can be run again after any failure. A dry run (the default) returns the plan and changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from ack_compute.cloud.cs import ContainerService
from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.kube_workloads import KubeWorkloads
from ack_compute.cloud.retry import Waits
from ack_compute.cloud.vpc import VpcNetworks
from ack_compute.tools.cluster_states import CleanupAction, Disposition, describe, disposition, exists
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.identity import current_caller
from ack_compute.tools.node_pool_spec import made_by
from ack_compute.tools.node_pools import NodePools
from ack_compute.tools.operations import OperationContext, Operations
from ack_compute.tools.ownership import LIVE, OPERATION_TAG, OwnedResource, Ownership, is_ours
from ack_compute.tools.pricing import money
from ack_compute.tools.targets import CONTEXT_PREFIX, ClusterTarget, Targets, cluster_kind

log = logging.getLogger("ack_compute.cleanup")

OPERATION_KIND = "cleanup"
DONE_STATES = ("deleted", "abandoned")
# Kubernetes objects first, then the node pools they ran on, then their clusters, then the network under them.
KIND_ORDER = {
    "job": 0,
    "deployment": 1,
    "service": 2,
    "node_pool": 2.5,
    "cluster": 3,
    "security_group": 4,
    "vswitch": 5,
    "vpc": 6,
}
Action = Literal["delete", "keep", "gone", "blocked"]
# What an item takes of its ledger row, as the row says it (OwnedResource's fields of the same names).
LISTED_KINDS = ("cluster", "node_pool", "job", "deployment")  # what a person names; networks go with their cluster
ROW_FIELDS = {"resource_id", "kind", "name", "cloud_id", "region", "operation_id"}


class CleanupItem(BaseModel):
    # The ledger's row id, region and creating operation are the server's bookkeeping (the reason names the
    # operation): kept inside, left out of what the agent reads.
    resource_id: int = Field(0, exclude=True)
    kind: str
    name: str
    cloud_id: str | None = None
    region: str = Field("", exclude=True)
    operation_id: str = Field("", exclude=True)
    action: Action
    reason: str = ""  # why it goes or stays; once deleted, the outcome says it all
    hourly: Decimal | None = Field(None, description="What it costs per hour now, from its quote, when known.")
    currency: str = Field("", exclude=True)  # the report's currency
    outcome: str = ""


class CleanupReport(BaseModel):
    dry_run: bool
    status: Literal["planned", "nothing_to_do", "running", "done", "partial"]
    items: list[CleanupItem]
    hourly_stops: Decimal = Decimal(0)
    currency: str = ""
    operation_id: str | None = None
    message: str
    next_step: str


Target = Literal["all", "operation", "cluster", "workload"]
STORED = "stored"  # validation context: params read back from the ledger, not the caller's arguments
SELECTORS: dict[Target, str] = {"operation": "operation_id", "cluster": "cluster", "workload": "workload"}


class CleanupRequest(BaseModel):
    target: Target = "all"
    operation_id: str | None = Field(None, pattern=r"^[a-z]+-[0-9a-f]{6,32}$")
    cluster: str | None = Field(None, min_length=1, max_length=300)
    workload: str | None = Field(None, min_length=1, max_length=300)
    dry_run: bool = True
    include_failed: bool = True

    @model_validator(mode="after")
    def _one_selection(self, info: ValidationInfo) -> CleanupRequest:
        """A selector narrows: `cluster=x` alone (target left at "all") cleans up x, never everything; a workload
        with its cluster is that workload there only. Other pairs, or a selector that is not the target's, are
        refused rather than guessed between."""
        if info.context == STORED:  # a stored request is what its plan was made from, whichever version wrote it
            return self
        given = [t for t, field in SELECTORS.items() if getattr(self, field)]
        if given == ["cluster", "workload"] and self.target in ("all", "workload"):
            self.target = "workload"
        elif self.target == "all" and len(given) == 1:
            self.target = given[0]
        elif len(given) > 1 or (given and given != [self.target]):
            names = " and ".join(SELECTORS[t] for t in given)
            raise AckComputeError(  # not a ValueError: pydantic passes it on as it is, in these words
                f"cleanup got {names}"
                + (f" with target={self.target}" if self.target != "all" else "")
                + ": nothing was deleted.",
                "Give one of operation_id, cluster or workload (its target follows from it; a workload may come "
                "with its cluster), or none with target=all for everything.",
            )
        return self

    def selection(self) -> str:
        """What the request names, in the words the agent used."""
        if self.target == "all":
            return "everything"
        where = f" on cluster {self.cluster}" if self.target == "workload" and self.cluster else ""
        return f"{self.target} {getattr(self, SELECTORS[self.target]) or '(none given)'}{where}"


class CleanupParams(BaseModel):
    """The cleanup operation's params (see tools/operation_params.py): the request, chosen again when it runs, and
    the ledger rows the plan named (nothing chosen later is deleted)."""

    model_config = ConfigDict(frozen=True)

    request: CleanupRequest
    rows: list[int]


class CleanupSettings(BaseModel):
    delete_timeout_s: float = 1800.0
    dependency_retry_s: float = 120.0


class Cleaner:
    def __init__(
        self,
        *,
        cs: ContainerService,
        vpcs: VpcNetworks,
        targets: Targets,
        ownership: Ownership,
        operations: Operations,
        settings: CleanupSettings | None = None,
        pools: NodePools | None = None,
    ) -> None:
        self.cs = cs
        self.vpcs = vpcs
        self.targets = targets
        self.ownership = ownership
        self.operations = operations
        self.settings = settings or CleanupSettings()
        self.pools = pools

    # -- choosing ------------------------------------------------------------------------------------------

    def select(self, request: CleanupRequest) -> list[OwnedResource]:
        return self._matching(request, [r for r in self.ownership.visible() if r.state not in DONE_STATES])

    def _matching(self, request: CleanupRequest, visible: list[OwnedResource]) -> list[OwnedResource]:
        # A pool's growth purchases go with their pool: they are never selected by themselves.
        rows = [r for r in visible if not (r.kind == "node_pool" and r.details.get("growth_of"))]
        if request.target == "operation":
            if not request.operation_id:
                raise AckComputeError("target=operation needs operation_id.", "Pass the operation id to clean up.")
            rows = [r for r in rows if r.operation_id == request.operation_id]
        elif request.target == "cluster":
            if not request.cluster:
                raise AckComputeError("target=cluster needs cluster (its id).", "Pass the cluster id.")
            chosen = [r for r in rows if r.kind == "cluster" and request.cluster in (r.cloud_id, r.name)]
            ops = {r.operation_id for r in chosen if r.origin == "created"}
            ids = {r.cloud_id for r in chosen} | {request.cluster}
            rows = [
                r
                for r in rows
                if r in chosen
                or (r.operation_id in ops and r.kind in ("vpc", "vswitch", "security_group"))
                or (r.kind in ("job", "deployment", "service", "node_pool") and r.details.get("cluster") in ids)
            ]
        elif request.target == "workload":
            if not request.workload:
                raise AckComputeError("target=workload needs workload (a Job or Deployment name).", "Pass its name.")
            on = {request.cluster} | {r.cloud_id for r in visible if r.kind == "cluster" and r.name == request.cluster}
            rows = [
                r
                for r in rows
                if r.kind in ("job", "deployment", "service")
                and (request.workload in (r.name, r.details.get("name"), r.details.get("job")))
                and (not request.cluster or r.details.get("cluster") in on)
            ]
        return sorted(rows, key=lambda r: (KIND_ORDER.get(r.kind, 9), -r.resource_id))

    def plan(self, request: CleanupRequest) -> CleanupReport:
        rows = self.select(request)
        if not rows and request.target != "all":
            return self._nothing_matches(request)
        items = [self._assess(r) for r in rows]
        stays = {i.operation_id for i in items if i.kind == "cluster" and i.action in ("keep", "blocked")}
        items = [
            i.model_copy(update={"action": "keep", "reason": "the cluster created with it stays, and uses it"})
            if i.kind in ("vpc", "vswitch") and i.action == "delete" and i.operation_id in stays
            else i
            for i in items
        ]
        return self._report(items, dry_run=True)

    # -- what would happen to one row -------------------------------------------------------------------------

    def _item(self, row: OwnedResource, action: Action, reason: str) -> CleanupItem:
        return CleanupItem(**row.model_dump(include=ROW_FIELDS), action=action, reason=reason)

    def _assess(self, row: OwnedResource) -> CleanupItem:
        if row.origin == "reused":
            if self._reused_gone(row):
                return self._item(row, "gone", "reused, and since deleted by its owner: only the ledger row goes")
            return self._item(row, "keep", "reused, not created by this server: never deleted")
        try:
            if row.kind == "cluster":
                return self._assess_cluster(row)
            if row.kind in ("vpc", "vswitch"):
                return self._assess_network(row)
            if row.kind in ("job", "deployment", "service"):
                return self._assess_workload(row)
            if row.kind == "node_pool":
                return self._assess_pool(row)
        except CloudError as exc:
            if exc.is_not_found:
                return self._item(row, "gone", "already deleted")
            return self._item(row, "blocked", f"could not be checked: {exc}")
        return self._item(row, "keep", f"this server does not delete {row.kind} resources")

    def _reused_gone(self, row: OwnedResource) -> bool:
        """Whether a resource this server only reused no longer exists (so its ledger row can be closed)."""
        try:
            if row.kind == "cluster" and row.cloud_id:
                return not exists(self.cs.describe_cluster(row.cloud_id).state)
            if row.kind == "vpc" and row.cloud_id:
                return self.vpcs.vpc(row.region, row.cloud_id) is None
        except CloudError as exc:
            return exc.is_not_found
        return False

    def _priced(self, item: CleanupItem, row: OwnedResource) -> CleanupItem:
        """The hourly price its quote stated, which stops when it is deleted: the quote of the operation that
        created it (clusters, jobs on ACS) or the one recorded on the row (a Deployment's latest quote)."""
        rows = self.ownership.ledger.query(
            "SELECT hourly, currency FROM quotes WHERE quote_id = COALESCE(:quote_id,"
            " (SELECT quote_id FROM operations WHERE operation_id = :op))",
            {"quote_id": row.details.get("quote_id"), "op": item.operation_id},
        )
        if not rows:
            return item
        return item.model_copy(update={"hourly": Decimal(rows[0]["hourly"]), "currency": rows[0]["currency"]})

    def _cluster_id(self, row: OwnedResource) -> str | None:
        """The cloud id, or for an intent row whose create call never reported back, the cluster tagged with
        the row's operation (found by name), so a crash between the call and the record leaks nothing."""
        if row.cloud_id:
            return row.cloud_id
        for c in self.cs.list_clusters(name=row.name, region=row.region):
            if c.name == row.name and c.tags.get(OPERATION_TAG) == row.operation_id:
                self.ownership.update(row.resource_id, state=row.state, cloud_id=c.cluster_id)
                return c.cluster_id
        return None

    def _assess_cluster(self, row: OwnedResource) -> CleanupItem:
        cluster_id = self._cluster_id(row)
        if cluster_id is None:
            return self._item(row, "gone", "never created (no cluster carries this operation's tag)")
        info = self.cs.describe_cluster(cluster_id)
        row = row.model_copy(update={"cloud_id": cluster_id})
        state = describe(info.state)
        if state.cleanup is CleanupAction.GONE:
            return self._item(row, "gone", "already deleted")
        if not is_ours(info.tags, row.operation_id):
            return self._item(row, "keep", "its tags do not name this server and operation: not touched")
        if state.cleanup is CleanupAction.DEFER:
            return self._item(
                row, "blocked", f"it {state.meaning}, so it is left alone now; run cleanup again when it is running"
            )
        if info.deletion_protection:
            return self._item(
                row, "blocked", "deletion protection is on; turn it off (ACK console) if it should go, then rerun"
            )
        others = self._others_on(cluster_id)
        if others:
            # How many, never whose or which: other callers' names and workloads are theirs alone.
            what = f"{others} workload{'s' if others > 1 else ''} of other callers"
            return self._item(
                row,
                "blocked",
                f"still in use by {what}; it is kept until they clean up theirs (an admin's cleanup can remove "
                "everything)",
            )
        what = "ACK Serverless cluster" if cluster_kind(info) == "serverless" else "cluster"
        return self._priced(self._item(row, "delete", f"{what} created by {row.operation_id} ({info.state})"), row)

    def _others_on(self, cluster_id: str) -> int:
        """How many running Jobs, Deployments and node pools on this cluster the caller cannot see: someone else's
        work, which deleting the cluster would pull from under them."""
        caller = current_caller()
        return sum(
            1
            for r in self.ownership.all()
            if r.kind in ("job", "deployment", "node_pool")
            and not r.details.get("growth_of")
            and r.state in (*LIVE, "resizing")
            and r.details.get("cluster") == cluster_id
            and not caller.sees(r.owner)
        )

    def _assess_pool(self, row: OwnedResource) -> CleanupItem:
        """A node pool goes only when the ledger made it and the pool's own tags name this server and operation."""
        if self.pools is None:
            return self._item(row, "keep", "this server was built without node pool access")
        pool = self.pools.pool_of(row)
        if pool is None:
            why = "already deleted" if row.cloud_id else "never created (no pool of its name carries its tags)"
            return self._item(row, "gone", why)
        row = row.model_copy(update={"cloud_id": pool.nodepool_id})
        if not made_by(pool, row.operation_id):
            return self._item(row, "keep", "its tags do not name this server and operation: not touched")
        item = self._item(
            row, "delete", f"node pool {pool.name} with {pool.total_nodes} nodes, created by {row.operation_id}"
        )
        if row.details.get("node_hourly"):
            hourly = money(Decimal(row.details["node_hourly"]) * pool.desired_size)
            item = item.model_copy(update={"hourly": hourly, "currency": row.details.get("currency", "")})
        return item

    def _delete_pool(self, ctx: OperationContext, row: OwnedResource, item: CleanupItem) -> None:
        """DeleteClusterNodepool (force: its nodes are drained and released with it), awaited until it is gone;
        then the pool's growth purchases stop counting too."""
        assert self.pools is not None
        task_id = self.pools.delete(row, item.cloud_id or "")
        self.ownership.update(row.resource_id, state="deleting", details={"delete_task_id": task_id})
        backoff = self._backoff(ctx, f"node pool {item.cloud_id}", longest=10.0)
        while (pool := self.pools.pool_of(row.model_copy(update={"cloud_id": item.cloud_id}))) is not None:
            backoff(pool.state)
        for growth in self.ownership.all():
            if growth.kind == "node_pool" and growth.details.get("growth_of") == row.resource_id:
                self.ownership.update(growth.resource_id, state="deleted", details={"cleanup": "pool deleted"})

    def _assess_network(self, row: OwnedResource) -> CleanupItem:
        cloud_id = row.cloud_id or self._network_by_tag(row)
        if cloud_id is None:
            return self._item(row, "gone", "never created (nothing carries this operation's tag)")
        row = row.model_copy(update={"cloud_id": cloud_id})
        tags = self._network_tags(row)
        if tags is None:
            return self._item(row, "gone", "already deleted")
        if not is_ours(tags, row.operation_id):
            return self._item(row, "keep", "its tags do not name this server and operation: not touched")
        return self._item(row, "delete", f"{row.kind} created by {row.operation_id}")

    def _network_by_tag(self, row: OwnedResource) -> str | None:
        if row.kind == "vpc":
            found = [
                v for v in self.vpcs.vpcs(row.region, name=row.name) if v.tags.get(OPERATION_TAG) == row.operation_id
            ]
            vid = found[0].vpc_id if found else None
        else:
            vpc_id = row.details.get("vpc_id")
            if not vpc_id:
                return None
            found_sw = [
                s for s in self.vpcs.vswitches(row.region, vpc_id) if s.tags.get(OPERATION_TAG) == row.operation_id
            ]
            vid = found_sw[0].vswitch_id if found_sw else None
        if vid:
            self.ownership.update(row.resource_id, state=row.state, cloud_id=vid)
        return vid

    def _network_tags(self, row: OwnedResource) -> dict[str, str] | None:
        assert row.cloud_id
        if row.kind == "vpc":
            vpc = self.vpcs.vpc(row.region, row.cloud_id)
            return vpc.tags if vpc is not None else None
        vpc_id = row.details.get("vpc_id")
        if not vpc_id:
            return {}
        found = [s for s in self.vpcs.vswitches(row.region, vpc_id) if s.vswitch_id == row.cloud_id]
        return found[0].tags if found else None

    def _workload_target(self, row: OwnedResource) -> ClusterTarget | None:
        cluster = str(row.details.get("cluster") or "")
        if cluster.startswith(CONTEXT_PREFIX):
            return ClusterTarget(ref=cluster, kind="context", region=row.region, context=cluster[len(CONTEXT_PREFIX) :])
        try:
            info = self.cs.describe_cluster(cluster)
        except CloudError as exc:
            if exc.is_not_found:
                return None
            raise
        if disposition(info.state) in (Disposition.GOING, Disposition.GONE):
            return None
        return ClusterTarget(ref=cluster, kind=cluster_kind(info), region=row.region, cluster_id=cluster, info=info)

    def _workload_object(self, row: OwnedResource) -> tuple[str, str, str]:
        namespace = str(row.details.get("namespace") or "default")
        if row.kind == "job":
            return "Job", namespace, str(row.details.get("job") or row.name.rsplit("/", 1)[-1])
        kind = "Deployment" if row.kind == "deployment" else "Service"
        return kind, namespace, str(row.details.get("name") or row.name.rsplit("/", 1)[-1])

    def _assess_workload(self, row: OwnedResource) -> CleanupItem:
        target = self._workload_target(row)
        if target is None:
            return self._item(row, "gone", "its cluster is gone")
        kind, namespace, name = self._workload_object(row)
        access = self.targets.access(target)
        try:
            found = KubeWorkloads(access).read(kind, namespace, name)  # type: ignore[arg-type]
        finally:
            access.close()
        meta = (found or {}).get("metadata") or {}
        labels = dict(meta.get("labels") or {}) if found is not None else None
        if found is not None and (recorded := row.details.get("uid")) and meta.get("uid") != recorded:
            # Ours was deleted and another object took the name (labels are anyone's to copy; the uid is not).
            return self._item(
                row,
                "gone",
                f"{kind} {namespace}/{name} is not the one this server created (it was replaced): only the ledger "
                "row goes, the object is not touched",
            )
        if labels is None and row.kind == "job" and row.details.get("config_map"):
            # The script's ConfigMap is created before its Job; a crash in between leaves it alone.
            access = self.targets.access(target)
            try:
                cm_labels = KubeWorkloads(access).labels_of("ConfigMap", namespace, str(row.details["config_map"]))
            finally:
                access.close()
            if cm_labels is not None and is_ours(cm_labels):
                return self._item(
                    row,
                    "delete",
                    f"the script ConfigMap {namespace}/{row.details['config_map']} is left without its Job",
                )
        if labels is None:
            return self._item(row, "gone", "already deleted (finished Jobs are removed 300 s after they end)")
        if not is_ours(labels):
            return self._item(row, "keep", f"{kind} {namespace}/{name} lacks this server's label: not touched")
        item = self._item(row, "delete", f"{kind} {namespace}/{name} created by {row.operation_id}")
        return self._priced(item, row) if row.kind in ("deployment", "job") else item

    # -- doing it -------------------------------------------------------------------------------------------

    def start(self, request: CleanupRequest, requested_by: str = "") -> CleanupReport:
        planned = self.plan(request)
        if not any(i.action in ("delete", "gone") for i in planned.items):
            if planned.status == "nothing_to_do":  # says what the selection missed (a dry run or not, the same)
                return planned.model_copy(update={"dry_run": False})
            return self._report(planned.items, dry_run=False)
        params = CleanupParams(request=request, rows=[i.resource_id for i in planned.items])
        operation_id = f"cl-{uuid.uuid4().hex[:16]}"
        self.operations.start(
            OPERATION_KIND, params, self.run_operation, operation_id=operation_id, requested_by=requested_by
        )
        return planned.model_copy(
            update={
                "dry_run": False,
                "status": "running",
                "operation_id": operation_id,
                "message": f"Deleting {sum(i.action == 'delete' for i in planned.items)} resource(s), newest first.",
                "next_step": f"Call get_operation with {operation_id} until it finishes.",
            }
        )

    def run_operation(self, ctx: OperationContext) -> dict[str, Any]:
        p = CleanupParams.model_validate(ctx.params, context=STORED)
        wanted = set(p.rows)
        rows = [r for r in self.select(p.request) if r.resource_id in wanted]
        items: list[CleanupItem] = []
        stuck: set[str] = set()  # operations whose cluster could not be deleted: their network is still in use
        for n, row in enumerate(rows):
            item = self._assess(row)
            verb = {"delete": "deleting", "gone": "already gone"}.get(item.action, "keeping")
            ctx.progress(n / max(len(rows), 1), verb, f"{item.kind} {item.cloud_id or item.name}")
            if item.action == "delete" and row.kind in ("vpc", "vswitch") and row.operation_id in stuck:
                item = item.model_copy(
                    update={"action": "blocked", "outcome": "kept: the cluster created with it was not deleted"}
                )
            elif item.action == "gone":
                self.ownership.update(row.resource_id, state="deleted", details={"cleanup": item.reason})
                item.outcome = "already gone"
            elif item.action == "delete":
                item = self._delete(ctx, row, item)
            if row.kind == "cluster" and item.action in ("blocked", "keep"):
                stuck.add(row.operation_id)
            items.append(item)
        return self._report(items, dry_run=False).model_dump(mode="json")

    def _delete(self, ctx: OperationContext, row: OwnedResource, item: CleanupItem) -> CleanupItem:
        try:
            if row.kind == "cluster":
                self._delete_cluster(ctx, row, item)
            elif row.kind in ("vpc", "vswitch"):
                self._delete_network(row, item)
            elif row.kind == "node_pool":
                self._delete_pool(ctx, row, item)
            else:
                self._delete_workload(row)
        except (CloudError, AckComputeError) as exc:
            if isinstance(exc, CloudError) and exc.is_not_found:
                self.ownership.update(row.resource_id, state="deleted", details={"cleanup": "already gone"})
                return item.model_copy(update={"outcome": "already gone"})
            text = exc.text if isinstance(exc, AckComputeError) else str(exc)
            self.ownership.update(row.resource_id, state=row.state, details={"cleanup_error": text[:500]})
            return item.model_copy(update={"action": "blocked", "outcome": text})
        self.ownership.update(row.resource_id, state="deleted", details={"cleanup": "deleted"})
        return item.model_copy(update={"outcome": "deleted"})

    def _delete_workload(self, row: OwnedResource) -> None:
        target = self._workload_target(row)
        if target is None:
            return
        kind, namespace, name = self._workload_object(row)
        access = self.targets.access(target)
        try:
            workloads = KubeWorkloads(access)
            workloads.delete(kind, namespace, name)  # type: ignore[arg-type]
            if row.kind == "job" and row.details.get("config_map"):
                workloads.delete("ConfigMap", namespace, str(row.details["config_map"]))
        finally:
            access.close()

    def _backoff(self, ctx: OperationContext, what: str, longest: float) -> Callable[[str], None]:
        """The wait between two looks at a deletion (1 s, doubling up to `longest`): reports `what` and its state,
        and gives up once the delete timeout would pass before the next look."""
        waits = Waits(self.settings.delete_timeout_s, 1.0, longest)

        def wait(state: str) -> None:
            if waits.over():
                raise AckComputeError(
                    f"{what[0].upper()}{what[1:]} was still {state} after {self.settings.delete_timeout_s:.0f} s.",
                    "Run cleanup again later; it continues where it stopped.",
                )
            ctx.progress(0.5, "deleting", f"{what} {state}")
            waits.sleep()

        return wait

    def _delete_cluster(self, ctx: OperationContext, row: OwnedResource, item: CleanupItem) -> None:
        cluster_id = item.cloud_id or ""
        task_id = self.cs.delete_cluster(cluster_id)
        self.ownership.update(row.resource_id, state="deleting", details={"delete_task_id": task_id})
        backoff = self._backoff(ctx, f"cluster {cluster_id}", longest=15.0)
        while True:
            try:
                info = self.cs.describe_cluster(cluster_id)
            except CloudError as exc:
                if exc.is_not_found:
                    return
                raise
            if not exists(info.state):
                return
            if info.state == "delete_failed":  # reported, not retried: each cleanup run asks ACK once
                detail = ""
                try:
                    task = self.cs.describe_task(task_id)
                    detail = f" (task {task.task_id}: {task.error_code} {task.error_message})".rstrip()
                except CloudError:
                    pass
                raise AckComputeError(
                    f"Deleting cluster {cluster_id} failed{detail}.",
                    "Look at the cluster in the ACK console (often a resource it cannot release), then run cleanup "
                    "again; the ledger still lists it.",
                )
            backoff(info.state)

    def _delete_network(self, row: OwnedResource, item: CleanupItem) -> None:
        """DependencyViolation right after a cluster goes usually means ENIs still being released: retry for a
        while, then report what still uses it."""
        waits = Waits(self.settings.dependency_retry_s, 1.0, 10.0)
        while True:
            try:
                if row.kind == "vswitch":
                    self.vpcs.delete_vswitch(row.region, item.cloud_id or "")
                else:
                    self.vpcs.delete_vpc(row.region, item.cloud_id or "")
                return
            except CloudError as exc:
                if not exc.code.startswith(("DependencyViolation", "IncorrectVSwitchStatus", "IncorrectVpcStatus")):
                    raise
                if not waits.wait():
                    raise AckComputeError(
                        f"{row.kind} {item.cloud_id} is still in use ({exc.code}): {exc.message}",
                        "Something else still uses it (another cluster or vSwitch); it is kept and stays in the "
                        "ledger, so cleanup removes it once that is gone.",
                    ) from None

    # -- reporting ------------------------------------------------------------------------------------------

    def _nothing_matches(self, request: CleanupRequest) -> CleanupReport:
        """A selection that names nothing live: said as such (a typo must not read as "all clean" while the rest
        bills on), with what is live to pick from, or that what it names was deleted already."""
        visible = self.ownership.visible()
        done = self._matching(request, [r for r in visible if r.state in DONE_STATES])
        live = [r for r in visible if r.state not in DONE_STATES and r.kind in LISTED_KINDS]
        named = ", ".join(f"{r.kind} {r.name}" + (f" ({r.cloud_id})" if r.kind == "cluster" else "") for r in live[:8])
        if done:
            message = f"Nothing live matches {request.selection()}: what it names was deleted already."
        else:
            message = f"Nothing this server created for you matches {request.selection()}; nothing was deleted."
        if live:
            message += f" Live now: {named}" + (f" and {len(live) - 8} more" if len(live) > 8 else "") + "."
            step = "Check the name or id against those (list_resources shows them all), or pass no selector for all."
        else:
            message += " Nothing this server created for you is live."
            step = "Nothing to do."
        return CleanupReport(dry_run=request.dry_run, status="nothing_to_do", items=[], message=message, next_step=step)

    def _report(self, items: list[CleanupItem], *, dry_run: bool) -> CleanupReport:
        deleting = [i for i in items if i.action == "delete"]
        hourly = sum((i.hourly or Decimal(0) for i in deleting), Decimal(0))
        kept = [i for i in items if i.action in ("keep", "blocked")]
        if not items:
            return CleanupReport(
                dry_run=dry_run,
                status="nothing_to_do",
                items=[],
                message="Nothing to clean up: the ledger lists nothing live that this server created.",
                next_step="Nothing to do.",
            )
        if dry_run:
            status: Literal["planned", "done", "partial"] = "planned"
            message = (
                f"Would delete {len(deleting)} resource(s) in this order, keep {len(kept)}"
                + (f"; {hourly} {next((i.currency for i in deleting if i.currency), '')}/h stops" if hourly else "")
                + "."
            )
            step = (
                "Show this plan to the person; call cleanup again with dry_run=false to delete."
                if deleting
                else ("Nothing can be deleted; the reasons say why.")
            )
        else:
            failed = [i for i in items if i.action == "blocked"]
            status = "partial" if failed else "done"
            gone = ("deleted", "already gone")
            items = [i.model_copy(update={"reason": ""}) if i.outcome in gone else i for i in items]
            done = [i for i in items if i.outcome in ("deleted", "already gone")]
            message = f"Deleted or found gone: {len(done)}; kept or blocked: {len(kept)}."
            step = (
                "Fix what the blocked items say, then run cleanup again; it continues where it stopped."
                if failed
                else "Done: nothing this server created is left in this selection."
            )
        currency = next((i.currency for i in deleting if i.currency), "")
        return CleanupReport(
            dry_run=dry_run,
            status=status,
            items=items,
            hourly_stops=hourly,
            currency=currency,
            message=message,
            next_step=step,
        )

    def after_job(self, cluster_id: str) -> tuple[str | None, str]:
        """cleanup_after: delete the cluster and what was created with it, only if this server created it."""
        request = CleanupRequest(target="cluster", cluster=cluster_id, dry_run=False)
        plan = self.plan(request)
        cluster = next((i for i in plan.items if i.kind == "cluster" and i.cloud_id == cluster_id), None)
        if cluster is None or cluster.action != "delete":
            why = cluster.reason if cluster is not None else "this server did not create it"
            return None, f"cleanup_after: cluster {cluster_id} is kept ({why})."
        report = self.start(request)
        return report.operation_id, f"cleanup_after: deleting cluster {cluster_id} and the network created with it."

    def resume_unfinished(self) -> list[str]:
        return self.operations.resume_all(OPERATION_KIND, self.run_operation)
