"""ensure_cluster's lookup: a cluster by its name, any reusable `acf-*` one (probed concurrently, the first
suitable wins), claims on a name whose operation died, and a wait for a cluster that is still coming up. None of it
spends money, so it is kept apart from the deciding and paying in tools/ensure_cluster.py and from the resumable
create in tools/cluster_create.py.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from pydantic import BaseModel

from ack_compute.cloud.cs import ClusterInfo, ContainerService
from ack_compute.cloud.errors import CloudError
from ack_compute.tools.cluster_create import (
    NODES_NEXT_STEP,
    OPERATION_KIND,
    SERVERLESS_NEXT_STEP,
    ClusterOutcome,
    ClusterSettings,
)
from ack_compute.tools.cluster_states import is_usable, sentence
from ack_compute.tools.errors import AckComputeError, cloud_call
from ack_compute.tools.identity import current_caller
from ack_compute.tools.kubeconfigs import Kubeconfigs
from ack_compute.tools.operation_params import ClusterWaitParams
from ack_compute.tools.operations import OperationContext, Operations, UnknownOperation, process_alive
from ack_compute.tools.ownership import NAME_PREFIX, OPERATION_TAG, OwnedResource, Ownership, is_ours
from ack_compute.tools.targets import cluster_kind

DEAD_CLAIM_SECONDS = 60.0


class ProbeResult(BaseModel):
    cluster: ClusterInfo
    ok: bool
    ready_nodes: int = 0
    reason: str = ""


class ClusterLookup:
    """Finding and reusing clusters, mixed into ClusterService (which holds the clients and the ledger)."""

    cs: ContainerService
    kubeconfigs: Kubeconfigs
    ownership: Ownership
    operations: Operations
    settings: ClusterSettings
    run_operation: Callable[[OperationContext], dict[str, Any]]  # from ClusterCreation

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
        params = ClusterWaitParams(
            mode="wait",
            cluster_id=cluster.cluster_id,
            name=name,
            region=region,
            min_nodes=1,
            serverless=cluster_kind(cluster) == "serverless",  # then the nodes to wait for are virtual
        )
        op = self.operations.start(OPERATION_KIND, params, self.run_operation, requested_by=requested_by)
        return waiting_on(op, "waiting until it is running")
