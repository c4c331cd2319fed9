"""Long operations: background work persisted in the ledger, awaited with a bounded wait.

MCP hosts cancel tool calls after about a minute, while a cluster takes 5-15 minutes. So a tool
waits at most `wait_seconds`, then hands back an operation id; the work goes on in a thread and
its state lives in SQLite, so another call (or another server after a restart) can pick it up.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ack_compute.cloud.errors import CloudError
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.identity import LOCAL_OPERATOR, Caller, acting_as, current_caller
from ack_compute.tools.ledger import Ledger

log = logging.getLogger("ack_compute.operations")
OperationState = Literal["running", "succeeded", "failed"]


class OperationStatus(BaseModel):
    """The ledger's row as the server reads it (`state` as stored); agents see `OperationView` instead."""

    operation_id: str
    kind: str
    state: OperationState
    cancelled: bool = False  # state 'failed' because someone cancelled it
    cancel_requested: bool = False
    owner: str = ""
    params: dict[str, Any] = {}
    stage: str
    progress: float
    message: str
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    waiting_for_full_server: bool = False  # orphaned, seen from a read-only server that will not continue it

    @property
    def done(self) -> bool:
        return self.state != "running"


class UnknownOperation(AckComputeError):
    pass


class Cancelled(AckComputeError):
    """Raised inside the work at its next step once someone cancelled the operation."""


class OperationContext:
    """Handed to the work function: progress reports and the ledger, nothing else."""

    def __init__(self, operations: Operations, operation_id: str, params: dict[str, Any]) -> None:
        self._operations = operations
        self.operation_id = operation_id
        self.params = params
        self.ledger = operations.ledger

    def progress(self, fraction: float, stage: str, message: str = "") -> None:
        """Record how far it got; a cancelled operation stops here (raises Cancelled)."""
        self._operations._progress(self.operation_id, fraction, stage, message)
        self.check_cancelled()

    def check_cancelled(self) -> None:
        by = self._operations.cancel_requested_by(self.operation_id)
        if by is not None:
            raise Cancelled(f"Cancelled by {by or 'the operator'}.", "")


Work = Callable[[OperationContext], dict[str, Any]]


def _failure_text(exc: BaseException) -> str:
    if isinstance(exc, AckComputeError):
        return exc.text
    if isinstance(exc, CloudError):
        return str(exc)
    return f"internal error ({type(exc).__name__}); see the server log"


READ_ONLY_WAIT = (
    "Waiting for a full server: this server is read-only and continues nothing that creates or deletes; "
    "a server without --read-only on the same state dir resumes it when it starts."
)


class Operations:
    """`read_only`: a server that may not create or delete adopts no orphaned operation (resuming one would
    call the cloud's create and delete APIs); it only shows them as waiting for a full server."""

    def __init__(self, ledger: Ledger, clock: Callable[[], float] = time.time, *, read_only: bool = False) -> None:
        self.ledger = ledger
        self.read_only = read_only
        self._clock = clock
        self._changed = threading.Condition()
        self._threads: dict[str, threading.Thread] = {}

    def start(
        self,
        kind: str,
        params: dict[str, Any],
        work: Work,
        *,
        operation_id: str | None = None,
        quote_id: str | None = None,
        requested_by: str = "",
    ) -> str:
        operation_id = operation_id or f"op-{uuid.uuid4().hex[:16]}"
        now = self._clock()
        caller = current_caller()
        with self.ledger.transaction() as db:
            db.execute(
                "INSERT INTO operations (operation_id, kind, state, params_json, quote_id, requested_by, owner_pid,"
                " created_at, updated_at, owner, owner_admin) VALUES (:op, :kind, 'running', :params, :quote_id,"
                " :requested_by, :pid, :now, :now, :owner, :admin)",
                {
                    "op": operation_id,
                    "kind": kind,
                    "params": json.dumps(params),
                    "quote_id": quote_id,
                    "requested_by": requested_by,
                    "pid": os.getpid(),
                    "now": now,
                    "owner": caller.subject,
                    "admin": int(caller.admin),
                },
            )
        self._launch(operation_id, params, work, caller)
        return operation_id

    def _launch(self, operation_id: str, params: dict[str, Any], work: Work, caller: Caller) -> None:
        """The work runs as the caller who started it: what it records is theirs, what it reads is what they see."""

        def run() -> None:
            with acting_as(caller):
                self._run(operation_id, params, work)

        thread = threading.Thread(target=run, name=operation_id, daemon=True)
        self._threads[operation_id] = thread
        thread.start()

    def in_flight(self) -> list[str]:
        """Operations this process is still working on (their threads end with it; a restart resumes them)."""
        return [op for op, thread in self._threads.items() if thread.is_alive()]

    def _run(self, operation_id: str, params: dict[str, Any], work: Work) -> None:
        context = OperationContext(self, operation_id, params)
        try:
            result = work(context)
        except Exception as exc:
            if not isinstance(exc, AckComputeError | CloudError):
                log.exception("operation %s failed unexpectedly", operation_id)
            cancelled = self.cancel_requested_by(operation_id) is not None
            self._finish(operation_id, "failed", None, _failure_text(exc), cancelled=cancelled)
        else:
            self._finish(operation_id, "succeeded", result, None)

    def _progress(self, operation_id: str, fraction: float, stage: str, message: str) -> None:
        with self.ledger.transaction() as db:
            db.execute(
                "UPDATE operations SET progress = CASE WHEN progress > :p THEN progress ELSE :p END, stage = :stage,"
                " message = :message, updated_at = :now WHERE operation_id = :op AND state = 'running'",
                {
                    "p": min(max(fraction, 0.0), 0.99),
                    "stage": stage,
                    "message": message,
                    "now": self._clock(),
                    "op": operation_id,
                },
            )
        with self._changed:
            self._changed.notify_all()

    def _finish(
        self,
        operation_id: str,
        state: OperationState,
        result: dict[str, Any] | None,
        error: str | None,
        *,
        cancelled: bool = False,
    ) -> None:
        with self.ledger.transaction() as db:
            db.execute(
                "UPDATE operations SET state = :state, progress = CASE WHEN :state = 'succeeded' THEN 1 ELSE progress"
                " END, result_json = :result, error = :error, updated_at = :now, outcome = :outcome"
                " WHERE operation_id = :op AND state = 'running'",
                {
                    "state": state,
                    "result": json.dumps(result) if result is not None else None,
                    "error": error,
                    "now": self._clock(),
                    "outcome": "cancelled" if cancelled else state,
                    "op": operation_id,
                },
            )
        with self._changed:
            self._changed.notify_all()

    def get(self, operation_id: str) -> OperationStatus:
        rows = self.ledger.query("SELECT * FROM operations WHERE operation_id = :op", {"op": operation_id})
        if not rows or not current_caller().sees(rows[0]["owner"]):  # another user's operation does not exist
            raise UnknownOperation(
                f"No operation {operation_id!r} in this server's ledger.",
                "Check the id; operation ids look like op-0123456789abcdef.",
            )
        row = rows[0]
        waiting = self.read_only and row["state"] == "running" and not _alive(row["owner_pid"])
        return OperationStatus(
            operation_id=row["operation_id"],
            kind=row["kind"],
            state=row["state"],
            cancelled=row["outcome"] == "cancelled",
            cancel_requested=row["cancel_requested_by"] is not None,
            owner=row["owner"],
            params=json.loads(row["params_json"]),
            stage=row["stage"],
            progress=row["progress"],
            message=READ_ONLY_WAIT if waiting else row["message"],
            result=json.loads(row["result_json"]) if row["result_json"] else None,
            error=row["error"],
            created_at=datetime.fromtimestamp(row["created_at"], UTC),
            updated_at=datetime.fromtimestamp(row["updated_at"], UTC),
            waiting_for_full_server=waiting,
        )

    def cancel_requested_by(self, operation_id: str) -> str | None:
        """Who asked to cancel it ('' for the local operator), or None when nobody did."""
        rows = self.ledger.query(
            "SELECT cancel_requested_by FROM operations WHERE operation_id = :op", {"op": operation_id}
        )
        return rows[0]["cancel_requested_by"] if rows else None

    def request_cancel(self, operation_id: str) -> OperationStatus:
        """Ask a running operation to stop at its next step (the caller must see it: its owner or an admin)."""
        status = self.get(operation_id)
        if status.state == "running":
            with self.ledger.transaction() as db:
                db.execute(
                    "UPDATE operations SET cancel_requested_by = COALESCE(cancel_requested_by, :by), updated_at = :now"
                    " WHERE operation_id = :op AND state = 'running'",
                    {"by": current_caller().subject, "now": self._clock(), "op": operation_id},
                )
            with self._changed:
                self._changed.notify_all()
        return self.get(operation_id)

    def owner_alive(self, operation_id: str) -> bool:
        """Whether a live process (this one or another server on the ledger) is working on the operation."""
        if operation_id in self.in_flight():
            return True
        rows = self.ledger.query("SELECT owner_pid FROM operations WHERE operation_id = :op", {"op": operation_id})
        return bool(rows) and rows[0]["owner_pid"] != os.getpid() and _alive(rows[0]["owner_pid"])

    def finish_cancelled(self, operation_id: str, error: str) -> None:
        """Close a cancelled operation nobody is working on (its process is gone): nothing will resume it."""
        self._finish(operation_id, "failed", None, error, cancelled=True)

    def wait(self, operation_id: str, timeout_s: float) -> OperationStatus:
        """Block until the operation finishes or changes, at most `timeout_s`; never longer."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        status = self.get(operation_id)
        seen = (status.updated_at, status.state)
        while not status.done and not status.waiting_for_full_server and (remaining := deadline - time.monotonic()) > 0:
            with self._changed:
                self._changed.wait(timeout=min(remaining, 1.0))  # 1 s cap also sees other processes' writes
            status = self.get(operation_id)
            if (status.updated_at, status.state) != seen:
                return status
        return status

    def running(self, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(id, owner, params) of every operation of `kind` still running, oldest first."""
        rows = self.ledger.query(
            "SELECT operation_id, owner, params_json FROM operations WHERE state = 'running' AND kind = :kind"
            " AND cancel_requested_by IS NULL ORDER BY created_at",
            {"kind": kind},
        )
        return [(r["operation_id"], r["owner"], json.loads(r["params_json"])) for r in rows]

    def unfinished(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """Operations of `kind` left running by a process that is gone (crash, restart)."""
        rows = self.ledger.query(
            "SELECT operation_id, params_json, owner_pid FROM operations WHERE state = 'running' AND kind = :kind",
            {"kind": kind},
        )
        return [(r["operation_id"], json.loads(r["params_json"])) for r in rows if not _alive(r["owner_pid"])]

    def orphaned(self) -> list[str]:
        """Every operation left running by a process that is gone, whatever its kind."""
        rows = self.ledger.query("SELECT operation_id, owner_pid FROM operations WHERE state = 'running'")
        return [r["operation_id"] for r in rows if not _alive(r["owner_pid"])]

    def resume_all(self, kind: str, work: Work) -> list[str]:
        """After a restart: continue every operation of `kind` whose process is gone; returns their ids.
        A read-only server continues none (see `orphaned` for what waits for a full server)."""
        if self.read_only:
            return []
        resumed = []
        for operation_id, params in self.unfinished(kind):
            if (by := self.cancel_requested_by(operation_id)) is not None:  # cancelled while no server ran it
                self.finish_cancelled(operation_id, f"Cancelled by {by or 'the operator'} before it could resume.")
                continue
            self.resume(operation_id, params, work)
            resumed.append(operation_id)
        return resumed

    def resume(self, operation_id: str, params: dict[str, Any], work: Work) -> None:
        """Adopt an orphaned operation in this process and continue it from the cloud's own state."""
        if self.read_only:
            raise AckComputeError(f"Operation {operation_id}: {READ_ONLY_WAIT}")
        with self.ledger.transaction() as db:
            db.execute(
                "UPDATE operations SET owner_pid = :pid, updated_at = :now WHERE operation_id = :op",
                {"pid": os.getpid(), "now": self._clock(), "op": operation_id},
            )
        row = self.ledger.query(
            "SELECT owner, owner_admin FROM operations WHERE operation_id = :op", {"op": operation_id}
        )
        caller = Caller(subject=row[0]["owner"], admin=bool(row[0]["owner_admin"])) if row else LOCAL_OPERATOR
        log.info("resuming operation %s", operation_id)
        self._launch(operation_id, params, work, caller)


def process_alive(pid: int | None) -> bool:
    """Whether the process that owns an operation (or a claim) still runs on this machine."""
    return _alive(pid)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- what an agent sees of an operation -----------------------------------------------------------------------------

MAX_WAIT = 50  # hosts cancel tool calls at about 60 s, so no single wait is longer
# The stages each kind goes through, in order (the names its work reports); others are placed by progress.
STAGES: dict[str, tuple[str, ...]] = {
    "ensure_cluster": ("network", "create", "nodes"),
    "run_job": ("running", "Pending", "Running"),
    "cleanup": ("deleting",),
    "ensure_node_pool": ("create", "nodes"),
    "deploy_acs": ("add-on", "deploy"),
}
# What a whole operation usually takes when its progress says too little yet: ACK creates a cluster in 5-15 minutes
# (DESIGN.md), so 10; a cleanup deletes a cluster in a few minutes.
TYPICAL_SECONDS = {"ensure_cluster": 600.0, "cleanup": 300.0, "ensure_node_pool": 300.0, "deploy_acs": 180.0}


class OperationView(BaseModel):
    """get_operation's answer: `state` says whether it is over, `outcome` how it ended."""

    operation_id: str
    kind: str
    state: Literal["running", "done"]
    outcome: Literal["succeeded", "failed", "cancelled"] | None = None
    stage: str = Field(description="What it is doing, with its place among the stages: 'create (2 of 3)'.")
    progress: float
    elapsed_seconds: int
    seconds_left: int | None = Field(None, description="Expected; for a job, at most (its deadline).")
    poll_after_seconds: int | None = None
    message: str
    result: dict[str, Any] | None = None
    error: str | None = None
    log: str | None = Field(None, description="A running job's log lines written since your last poll.")
    lease_ends_at: str | None = None
    next_step: str


def _stage(status: OperationStatus) -> str:
    stages = STAGES.get(status.kind, ())
    if not status.stage or not stages:
        return status.stage
    n = len(stages)
    k = stages.index(status.stage) + 1 if status.stage in stages else min(n, max(1, math.ceil(status.progress * n)))
    return f"{status.stage} ({k} of {n})"


def _seconds_left(status: OperationStatus, elapsed: float, now: float) -> int:
    if status.kind == "run_job" and "started_at" in status.params:
        deadline = float(status.params["started_at"]) + int(status.params.get("timeout_seconds", 0))
        return max(0, round(deadline - now))
    if status.progress >= 0.1:
        return max(1, round(elapsed * (1 - status.progress) / status.progress))
    return max(10, round(TYPICAL_SECONDS.get(status.kind, 120.0) - elapsed))


def view(status: OperationStatus, *, now: float | None = None, log_lines: str | None = None) -> OperationView:
    """The status an agent reads: running or done, how it ended, where it is and when to ask again."""
    now = time.time() if now is None else now
    end = status.updated_at.timestamp() if status.done else now
    elapsed = max(0.0, end - status.created_at.timestamp())
    left = poll = None
    outcome: Literal["succeeded", "failed", "cancelled"] | None = None
    if status.waiting_for_full_server:
        step = "Ask the operator to start ack-compute-mcp without --read-only; this server cannot continue it."
    elif not status.done:
        left = _seconds_left(status, elapsed, now)
        poll = min(MAX_WAIT, max(5, left // 4))
        step = f"Still running; call get_operation with {status.operation_id} again (wait_seconds up to {MAX_WAIT})."
        if status.cancel_requested:
            step = "Cancelling: it stops at its next step. " + step
    elif status.cancelled:
        outcome = "cancelled"
        step = "It was cancelled; the error says what it cleaned up or left."
    elif status.state == "succeeded":
        # The work ran to its end; what it ran may still have failed (a script that exits 2): say so.
        outcome = "failed" if (status.result or {}).get("status") == "failed" else "succeeded"
        step = (status.result or {}).get("next_step", "Done.")
    else:
        outcome = "failed"
        step = "It failed; the error says what was done. Resources it created are in the ledger for cleanup."
    return OperationView(
        operation_id=status.operation_id,
        kind=status.kind,
        state="done" if status.done else "running",
        outcome=outcome,
        stage=_stage(status),
        progress=round(status.progress, 2),
        elapsed_seconds=round(elapsed),
        seconds_left=left,
        poll_after_seconds=poll,
        message=status.message,
        result=status.result,
        error=status.error,
        log=log_lines,
        next_step=step,
    )
