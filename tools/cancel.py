"""cancel_operation: stop a create, a job or a cleanup cleanly and say what was removed and what was left.

The flag is in the ledger, so the work stops at its next step in whichever server runs it; an operation nobody runs
(its server is gone) is closed here. A job's Job is deleted at once (its pods stop billing now, not at the next
step). A cluster create that never reached the cloud has what it made (VPC, vSwitch) cleaned up; a cluster the cloud
already has is left for cleanup, with the exact call, since deleting it is a decision for the person.
"""

from __future__ import annotations

import logging
import time
from typing import Literal

from pydantic import BaseModel

from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.kube_workloads import KubeWorkloads
from ack_compute.tools.cleanup import Cleaner, CleanupRequest
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.job_spec import CONTAINER, RUN_LABEL, tail
from ack_compute.tools.operation_params import ENSURE_CLUSTER_PARAMS, NodePoolParams, RunJobParams
from ack_compute.tools.operations import Operations, OperationStatus
from ack_compute.tools.ownership import Ownership
from ack_compute.tools.targets import Targets

log = logging.getLogger("ack_compute.cancel")

OPERATION_ID = r"^[a-z]+-[0-9a-f]{6,32}$"


class CancelOutcome(BaseModel):
    operation_id: str
    kind: str
    status: Literal["cancelled", "cancelling", "already_done"]
    cleaned_up: list[str] = []
    left: list[str] = []
    cleanup_operation_id: str | None = None
    log: str = ""
    message: str
    next_step: str


def cleanup_call(operation_id: str) -> str:
    return f'cleanup(target="operation", operation_id="{operation_id}", dry_run=false)'


class Canceller:
    def __init__(
        self,
        operations: Operations,
        ownership: Ownership,
        targets: Targets,
        cleaner: Cleaner,
        *,
        settle_s: float = 25.0,
    ) -> None:
        """`settle_s`: how long to wait for the work to reach its next step (a cluster wait polls every <= 15 s)."""
        self.operations = operations
        self.ownership = ownership
        self.targets = targets
        self.cleaner = cleaner
        self.settle_s = settle_s

    def cancel(self, operation_id: str) -> CancelOutcome:
        """Only the operation's owner or an admin: anyone else gets 'no such operation', as with get_operation."""
        status = self.operations.get(operation_id)
        if status.done:
            how = "cancelled" if status.cancelled else status.state
            return CancelOutcome(
                operation_id=operation_id,
                kind=status.kind,
                status="already_done",
                message=f"Operation {operation_id} already ended ({how}); there is nothing to stop.",
                next_step="Use cleanup to remove what it created, if that is wanted.",
            )
        self.operations.request_cancel(operation_id)
        cleaned: list[str] = []
        left: list[str] = []
        log_tail = ""
        if status.kind == "run_job":
            log_tail = self._delete_job(status, cleaned, left)
        status = self._settle(operation_id)
        # What every answer from here says: the operation, and what was cleaned up or left (`left` grows below).
        told = {"operation_id": operation_id, "kind": status.kind, "cleaned_up": cleaned, "left": left, "log": log_tail}
        if not status.done:
            return CancelOutcome(
                **told,
                status="cancelling",
                message=f"Operation {operation_id} is told to stop; it stops at its next step.",
                next_step=f"Call get_operation with {operation_id}: it reads done/cancelled once stopped, and its "
                "error says what it left.",
            )
        cleanup_op = None
        if status.kind == "ensure_cluster" and ENSURE_CLUSTER_PARAMS.validate_python(status.params).mode == "create":
            cleanup_op = self._after_create(operation_id, cleaned, left)
        elif status.kind == "cleanup":
            left.append("deletions already sent to the cloud go on there; run cleanup again to finish and record them")
        elif status.kind == "ensure_node_pool":
            pool = self.ownership.get(NodePoolParams.model_validate(status.params).resource_id)
            if pool.cloud_id:  # made (or being resized): it bills until cleanup deletes it
                left.append(
                    f"node pool {pool.details.get('pool')} ({pool.cloud_id}) exists in the cloud and bills until "
                    f"deleted: {cleanup_call(pool.operation_id)} removes it"
                )
        message = f"Operation {operation_id} ({status.kind}) is cancelled."
        if status.kind == "run_job":
            message += " `log` is the tail its pod wrote before the Job was deleted."
        elif status.kind == "deploy_acs":
            message += (
                " The free ack-virtual-node add-on stays on the cluster; a Deployment it had already created (and "
                "paid for) is in the ledger for cleanup."
            )
        step = "Nothing is left to do."
        if cleanup_op:
            step = f"Follow the cleanup of what it made with get_operation {cleanup_op}."
        elif left:
            step = f"To remove what is left, show the person and call {cleanup_call(operation_id)}."
        return CancelOutcome(
            **told,
            status="cancelled",
            cleanup_operation_id=cleanup_op,
            message=message,
            next_step=step,
        )

    def _settle(self, operation_id: str) -> OperationStatus:
        """Wait for the work to stop at its next step; close it here when no live server runs it."""
        if not self.operations.owner_alive(operation_id):
            self.operations.finish_cancelled(operation_id, "Cancelled while no server was running it.")
            return self.operations.get(operation_id)
        deadline = time.monotonic() + self.settle_s
        status = self.operations.get(operation_id)
        while not status.done and (remaining := deadline - time.monotonic()) > 0:
            status = self.operations.wait(operation_id, min(remaining, 2.0))
        return status

    def _delete_job(self, status: OperationStatus, cleaned: list[str], left: list[str]) -> str:
        """Delete the Job (its pods go with it) and the script's ConfigMap now: ACS pods bill until they stop.
        Returns the log tail the pod wrote, read just before (the run's log_lines and log_bytes)."""
        if "job" not in status.params:
            return ""
        p = RunJobParams.model_validate(status.params)
        namespace, job, config_map = p.namespace, p.job, p.config_map
        text = ""
        try:
            access = self.targets.access(p.target)
            try:
                workloads = KubeWorkloads(access)
                text = self._log_tail(workloads, namespace, job, p.log_lines, p.log_bytes)
                if workloads.delete("Job", namespace, job):
                    cleaned.append(f"Job {namespace}/{job} (and its pods)")
                if workloads.delete("ConfigMap", namespace, config_map):
                    cleaned.append(f"ConfigMap {namespace}/{config_map}")
            finally:
                access.close()
        except (AckComputeError, CloudError) as exc:
            log.warning("cancel: could not delete job %s/%s: %s", namespace, job, exc)
            left.append(f"Job {namespace}/{job}: it could not be deleted now ({exc})")
            return text
        self.ownership.update(p.resource_id, state="deleted", details={"cancelled_at": time.time()})
        return text

    @staticmethod
    def _log_tail(workloads: KubeWorkloads, namespace: str, job: str, lines: int, limit: int) -> str:
        pods = [v for v in workloads.pods(namespace, f"{RUN_LABEL}={job}") if v.node]
        if not pods:
            return ""
        try:
            text = workloads.pod_log(
                namespace, max(pods, key=lambda v: v.name).name, CONTAINER, tail_lines=lines + 1, limit_bytes=limit
            )
        except CloudError:
            return ""
        return tail(text, lines, limit)[0]

    def _after_create(self, operation_id: str, cleaned: list[str], left: list[str]) -> str | None:
        """A cluster the cloud has is left (with the cleanup call); without one, what the create made is removed."""
        rows = [r for r in self.ownership.all() if r.operation_id == operation_id and r.origin == "created"]
        clusters = [r for r in rows if r.kind == "cluster" and r.cloud_id]
        if clusters:
            for r in clusters:
                left.append(f"cluster {r.name} ({r.cloud_id}) exists in the cloud and bills until deleted")
            left += [f"{r.kind} {r.cloud_id}" for r in rows if r.kind != "cluster" and r.cloud_id and _live(r.state)]
            return None
        request = CleanupRequest(target="operation", operation_id=operation_id, dry_run=False)
        if not any(i.action == "delete" for i in self.cleaner.plan(request).items):
            return None  # it stopped before creating anything
        report = self.cleaner.start(request, requested_by="cancel_operation")
        cleaned += [f"{i.kind} {i.cloud_id or i.name}" for i in report.items if i.action == "delete"]
        left += [f"{i.kind} {i.cloud_id or i.name}: {i.reason}" for i in report.items if i.action == "blocked"]
        return report.operation_id


def _live(state: str) -> bool:
    return state not in ("deleted", "abandoned")
