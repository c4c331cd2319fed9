"""Long operations: background work persisted in the ledger, awaited with a bounded wait.

MCP hosts cancel tool calls after about a minute, while a cluster takes 5-15 minutes. So a tool
waits at most `wait_seconds`, then hands back an operation id; the work goes on in a thread and
its state lives in SQLite, so another call (or another server after a restart) can pick it up.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from ack_compute.cloud.errors import CloudError
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.identity import LOCAL_OPERATOR, Caller, acting_as, current_caller
from ack_compute.tools.ledger import Ledger

log = logging.getLogger("ack_compute.operations")
OperationState = Literal["running", "succeeded", "failed"]


class OperationStatus(BaseModel):
    operation_id: str
    kind: str
    state: OperationState
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


class OperationContext:
    """Handed to the work function: progress reports and the ledger, nothing else."""

    def __init__(self, operations: Operations, operation_id: str, params: dict[str, Any]) -> None:
        self._operations = operations
        self.operation_id = operation_id
        self.params = params
        self.ledger = operations.ledger

    def progress(self, fraction: float, stage: str, message: str = "") -> None:
        self._operations._progress(self.operation_id, fraction, stage, message)


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
                " created_at, updated_at, owner, owner_admin) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    operation_id,
                    kind,
                    json.dumps(params),
                    quote_id,
                    requested_by,
                    os.getpid(),
                    now,
                    now,
                    caller.subject,
                    int(caller.admin),
                ),
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
            self._finish(operation_id, "failed", None, _failure_text(exc))
        else:
            self._finish(operation_id, "succeeded", result, None)

    def _progress(self, operation_id: str, fraction: float, stage: str, message: str) -> None:
        with self.ledger.transaction() as db:
            db.execute(
                "UPDATE operations SET progress = MAX(progress, ?), stage = ?, message = ?, updated_at = ?"
                " WHERE operation_id = ? AND state = 'running'",
                (min(max(fraction, 0.0), 0.99), stage, message, self._clock(), operation_id),
            )
        with self._changed:
            self._changed.notify_all()

    def _finish(
        self, operation_id: str, state: OperationState, result: dict[str, Any] | None, error: str | None
    ) -> None:
        with self.ledger.transaction() as db:
            db.execute(
                "UPDATE operations SET state = ?, progress = CASE WHEN ? = 'succeeded' THEN 1 ELSE progress END,"
                " result_json = ?, error = ?, updated_at = ? WHERE operation_id = ?",
                (state, state, json.dumps(result) if result is not None else None, error, self._clock(), operation_id),
            )
        with self._changed:
            self._changed.notify_all()

    def get(self, operation_id: str) -> OperationStatus:
        rows = self.ledger.query("SELECT * FROM operations WHERE operation_id = ?", (operation_id,))
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
            stage=row["stage"],
            progress=row["progress"],
            message=READ_ONLY_WAIT if waiting else row["message"],
            result=json.loads(row["result_json"]) if row["result_json"] else None,
            error=row["error"],
            created_at=datetime.fromtimestamp(row["created_at"], UTC),
            updated_at=datetime.fromtimestamp(row["updated_at"], UTC),
            waiting_for_full_server=waiting,
        )

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

    def unfinished(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """Operations of `kind` left running by a process that is gone (crash, restart)."""
        rows = self.ledger.query(
            "SELECT operation_id, params_json, owner_pid FROM operations WHERE state = 'running' AND kind = ?", (kind,)
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
        orphans = self.unfinished(kind)
        for operation_id, params in orphans:
            self.resume(operation_id, params, work)
        return [operation_id for operation_id, _ in orphans]

    def resume(self, operation_id: str, params: dict[str, Any], work: Work) -> None:
        """Adopt an orphaned operation in this process and continue it from the cloud's own state."""
        if self.read_only:
            raise AckComputeError(f"Operation {operation_id}: {READ_ONLY_WAIT}")
        with self.ledger.transaction() as db:
            db.execute(
                "UPDATE operations SET owner_pid = ?, updated_at = ? WHERE operation_id = ?",
                (os.getpid(), self._clock(), operation_id),
            )
        row = self.ledger.query("SELECT owner, owner_admin FROM operations WHERE operation_id = ?", (operation_id,))
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
