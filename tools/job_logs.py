"""Following a running job's log: each get_operation returns the lines written since that caller's last poll.

The server keeps the cursor (operation, caller -> pod and lines already returned) in the ledger, so an agent
passes nothing and two people following the same job each see every line once. The finished job's log tail is in
the operation's result, which outlives the Job's TTL.
"""

from __future__ import annotations

import logging

from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.kube_workloads import KubeWorkloads
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.identity import current_caller
from ack_compute.tools.job_spec import CONTAINER, RUN_LABEL
from ack_compute.tools.ledger import Ledger
from ack_compute.tools.operation_params import RunJobParams
from ack_compute.tools.operations import OperationStatus
from ack_compute.tools.targets import Targets

log = logging.getLogger("ack_compute.job_logs")

MAX_READ_BYTES = 8 * 1024 * 1024  # a poll reads at most this much of the pod's log


class JobLogs:
    def __init__(self, targets: Targets, ledger: Ledger, timeout_s: float = 5.0) -> None:
        self.targets = targets
        self.ledger = ledger
        self.timeout_s = timeout_s

    def new_lines(self, status: OperationStatus) -> str | None:
        """The complete lines the job's current pod wrote since this caller's last poll (at most the run's
        log_lines and log_bytes; the rest comes next time), or None when there is nothing to say."""
        if status.kind != "run_job" or status.done or "job" not in status.params:
            return None
        p = RunJobParams.model_validate(status.params)
        try:
            access = self.targets.access(p.target, timeout_s=self.timeout_s)
        except (AckComputeError, CloudError):  # following is best effort; the result carries the final tail
            log.debug("no access to follow %s", status.operation_id, exc_info=True)
            return None
        try:
            workloads = KubeWorkloads(access)
            pods = [v for v in workloads.pods(p.namespace, f"{RUN_LABEL}={p.job}") if v.node]
            if not pods:
                return None
            pod = max(pods, key=lambda v: v.name)
            text = workloads.pod_log(p.namespace, pod.name, CONTAINER, tail_lines=None, limit_bytes=MAX_READ_BYTES)
        except CloudError:  # not started yet, or gone: the next poll (or the result) says more
            return None
        finally:
            access.close()
        return self._advance(status.operation_id, pod.name, text, p.log_lines, p.log_bytes)

    def _advance(self, operation_id: str, pod: str, text: str, max_lines: int, max_bytes: int) -> str | None:
        complete = text.splitlines(keepends=True)
        if complete and not complete[-1].endswith("\n"):
            complete.pop()  # a line still being written comes whole next time
        caller = current_caller().subject
        with self.ledger.transaction() as db:
            row = db.execute(
                "SELECT pod, lines FROM log_cursors WHERE operation_id = :op AND caller = :caller",
                {"op": operation_id, "caller": caller},
            ).fetchone()
            start = int(row["lines"]) if row and row["pod"] == pod else 0
            taken: list[str] = []
            size = 0
            for line in complete[start : start + max_lines]:
                size += len(line.encode())
                if taken and size > max_bytes:
                    break
                taken.append(line)
            db.execute(
                "INSERT INTO log_cursors (operation_id, caller, pod, lines) VALUES (:op, :caller, :pod, :lines)"
                " ON CONFLICT (operation_id, caller) DO UPDATE SET pod = excluded.pod, lines = excluded.lines",
                {"op": operation_id, "caller": caller, "pod": pod, "lines": start + len(taken)},
            )
        header = f"(pod {pod})\n" if start == 0 and taken and row is not None and row["pod"] != pod else ""
        return header + "".join(taken) if taken else None
