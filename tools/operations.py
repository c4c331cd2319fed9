"""Long operations: background work persisted in the ledger, awaited with a bounded wait.

MCP hosts cancel tool calls after about a minute, while a cluster takes 5-15 minutes. So a tool
waits at most `wait_seconds`, then hands back an operation id; the work goes on in a thread and
its state lives in the ledger, so another call (or another server after a restart) can pick it up.

Several replicas may share the ledger: the replica running an operation holds it (`holder`, `held_until`) and
renews the hold every `heartbeat_seconds` (tools/replicas.py). When the hold lapses (the replica died), another
takes the operation over with one compare-and-set and resumes it from the cloud's own state. A replica that finds
its hold taken stops the work at its next step and writes nothing more of it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ack_compute.cloud.errors import CloudError
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.identity import LOCAL_OPERATOR, Caller, acting_as, current_caller
from ack_compute.tools.ledger import Db, Ledger, LedgerBusy
from ack_compute.tools.operation_params import RunJobParams
from ack_compute.tools.replicas import Replica
from ack_compute.tools.replicas import process_alive as process_alive

log = logging.getLogger("ack_compute.operations")
FINISH_RETRIES = (1.0, 2.0, 4.0, None)  # seconds between tries of an operation's final write; None: give up
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


class LostHold(BaseException):
    """Raised inside the work at its next step once another replica holds the operation (this one's hold lapsed,
    or this server is stopping): the work stops and writes no result; the holder finishes it. A BaseException, like
    asyncio's CancelledError: no failure path of the work (which records the failure) and no `except Exception` that
    turns errors into CloudError on the way (cloud/kube.py) catches it."""


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

    def held(self) -> contextlib.AbstractContextManager[Db]:
        """A ledger transaction in which this replica still holds the operation (else LostHold, writing nothing):
        what the work records on failure must not overwrite what a replica that took it over has done since."""
        return self._operations._while_held(self.operation_id)

    def check_cancelled(self) -> None:
        if self.operation_id in self._operations._lost or self._operations._stopping.is_set():
            raise LostHold(self.operation_id)
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
    call the cloud's create and delete APIs); it only shows them as waiting for a full server.
    `lease_seconds` / `heartbeat_seconds`: how long a hold lasts unrenewed, and how often the running replica
    renews it (server/settings.py: operation_lease_seconds, operation_heartbeat_seconds)."""

    def __init__(
        self,
        ledger: Ledger,
        clock: Callable[[], float] = time.time,
        *,
        read_only: bool = False,
        replica: Replica | None = None,
        lease_seconds: float = 30.0,
        heartbeat_seconds: float = 10.0,
    ) -> None:
        if heartbeat_seconds >= lease_seconds:
            raise ValueError(
                f"the operation heartbeat ({heartbeat_seconds:g} s) must be shorter than the operation lease "
                f"({lease_seconds:g} s), or a live replica's operations would be taken over between two beats"
            )
        self.ledger = ledger
        self.read_only = read_only
        self.replica = replica or Replica()
        self.lease_seconds = lease_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self._clock = clock
        self._changed = threading.Condition()
        self._threads: dict[str, threading.Thread] = {}
        self._lost: set[str] = set()  # operations whose hold another replica took: their work stops at its next step
        self._stopping = threading.Event()
        self._beating: threading.Thread | None = None
        self._beat_lock = threading.Lock()

    @property
    def replica_id(self) -> str:
        return self.replica.replica_id

    def start(
        self,
        kind: str,
        params: BaseModel | dict[str, Any],
        work: Work,
        *,
        operation_id: str | None = None,
        quote_id: str | None = None,
        requested_by: str = "",
    ) -> str:
        """Record the operation (its typed params as JSON: what a resume reads back); `work` runs in the background."""
        operation_id = operation_id or f"op-{uuid.uuid4().hex[:16]}"
        now = self._clock()
        caller = current_caller()
        self.replica.register(self.ledger, now)
        with self.ledger.transaction() as db:
            db.execute(
                "INSERT INTO operations (operation_id, kind, state, params_json, quote_id, requested_by, owner_pid,"
                " created_at, updated_at, owner, owner_admin, holder, held_until) VALUES (:op, :kind, 'running',"
                " :params, :quote, :by, :pid, :now, :now, :owner, :admin, :me, :until)",
                {
                    "op": operation_id,
                    "kind": kind,
                    "params": json.dumps(params.model_dump(mode="json") if isinstance(params, BaseModel) else params),
                    "quote": quote_id,
                    "by": requested_by,
                    "pid": os.getpid(),  # for people reading the ledger; the hold decides who runs it
                    "now": now,
                    "owner": caller.subject,
                    "admin": int(caller.admin),
                    "me": self.replica_id,
                    "until": now + self.lease_seconds,
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
        self._lost.discard(operation_id)
        self._threads[operation_id] = thread
        thread.start()
        self._keep_beating()

    def in_flight(self) -> list[str]:
        """Operations this process is still working on (their threads end with it; a restart resumes them)."""
        return [op for op, thread in self._threads.items() if thread.is_alive()]

    def _run(self, operation_id: str, params: dict[str, Any], work: Work) -> None:
        context = OperationContext(self, operation_id, params)
        try:
            result = work(context)
        except LostHold:
            log.warning(
                "operation %s: stopped here, %s",
                operation_id,
                "this server is stopping" if self._stopping.is_set() else "another replica holds it now",
            )
            return
        except Exception as exc:
            if not isinstance(exc, AckComputeError | CloudError):
                log.exception("operation %s failed unexpectedly", operation_id)
            cancelled = self.cancel_requested_by(operation_id) is not None
            self._finish(operation_id, "failed", None, _failure_text(exc), cancelled=cancelled)
        else:
            self._finish(operation_id, "succeeded", result, None)

    def _progress(self, operation_id: str, fraction: float, stage: str, message: str) -> None:
        """Record a step, renewing the hold with it; a step of an operation another replica holds raises LostHold."""
        if operation_id in self._lost or self._stopping.is_set():
            raise LostHold(operation_id)
        now = self._clock()
        fraction = min(max(fraction, 0.0), 0.99)
        try:
            changed = self._write_progress(operation_id, fraction, stage, message, now)
        except LedgerBusy:  # a step's note is not worth failing the work for: the heartbeat keeps the hold
            log.warning("operation %s: progress not recorded, the ledger is busy", operation_id)
            return
        if not changed:
            self._check_held(operation_id)
        with self._changed:
            self._changed.notify_all()

    @contextlib.contextmanager
    def _while_held(self, operation_id: str) -> Iterator[Db]:
        # Every write transaction excludes every other writer (tools/ledger.py), a takeover's compare-and-set too.
        with self.ledger.transaction() as db:
            row = db.execute(
                "SELECT holder FROM operations WHERE operation_id = :op AND state = 'running'", {"op": operation_id}
            ).fetchone()
            if row is None or row["holder"] != self.replica_id:
                raise LostHold(operation_id)
            yield db

    def _write_progress(self, operation_id: str, fraction: float, stage: str, message: str, now: float) -> int:
        return self._write_held(
            operation_id,
            "progress = CASE WHEN progress > :p THEN progress ELSE :p END, stage = :stage, message = :message,"
            " updated_at = :now, held_until = :until",
            {"p": fraction, "stage": stage, "message": message, "now": now, "until": now + self.lease_seconds},
        )

    def _write_held(self, operation_id: str, assignments: str, values: dict[str, Any]) -> int:
        """Set `assignments` on a running operation only while this replica holds it; 0 rows means it lost the hold."""
        with self.ledger.transaction() as db:
            return db.execute(
                f"UPDATE operations SET {assignments} WHERE operation_id = :op AND state = 'running' AND holder = :me",
                {**values, "op": operation_id, "me": self.replica_id},
            ).rowcount

    def _check_held(self, operation_id: str) -> None:
        """After a write that matched nothing: a running operation with another holder was taken over."""
        rows = self.ledger.query("SELECT state, holder FROM operations WHERE operation_id = :op", {"op": operation_id})
        if rows and rows[0]["state"] == "running" and rows[0]["holder"] != self.replica_id:
            self._lose(operation_id, rows[0]["holder"])
            raise LostHold(operation_id)

    def _lose(self, operation_id: str, holder: str | None) -> None:
        if operation_id not in self._lost:
            self._lost.add(operation_id)
            log.warning(
                "operation %s: replica %s lost its hold (now %s); it stops at its next step",
                operation_id,
                self.replica.label(),
                holder or "nobody",
            )

    # -- holds: heartbeat, takeover, release --------------------------------------------------------------

    def _keep_beating(self) -> None:
        with self._beat_lock:
            if self._beating is None or not self._beating.is_alive():
                self._beating = threading.Thread(target=self._beat_loop, name="operation-heartbeat", daemon=True)
                self._beating.start()

    def _beat_loop(self) -> None:
        while not self._stopping.wait(self.heartbeat_seconds):
            try:
                self.renew()
            except LedgerBusy:  # the next beat tries again (the hold outlasts two missed beats)
                log.warning("operation heartbeat: the ledger is busy; trying again in %g s", self.heartbeat_seconds)
            except Exception:
                log.exception("operation heartbeat failed; trying again in %g s", self.heartbeat_seconds)
            if not self.in_flight():
                with self._beat_lock:
                    if not self.in_flight():
                        self._beating = None
                        return

    def renew(self) -> list[str]:
        """One heartbeat: extend the hold on every operation this process works on; those whose hold another
        replica took are marked lost (their work stops at its next step). Returns the ones renewed."""
        renewed = []
        for operation_id in self.in_flight():
            if operation_id in self._lost:
                continue
            now = self._clock()
            if self._write_held(operation_id, "held_until = :until", {"until": now + self.lease_seconds}):
                renewed.append(operation_id)
                continue
            with contextlib.suppress(LostHold):
                self._check_held(operation_id)
        return renewed

    def _free(self, row: Any, now: float) -> bool:
        """Whether nobody alive holds this running operation: its hold lapsed, or its holder is a replica of this
        machine whose process is gone. A row from before holds (no holder) goes by its pid, as it was written."""
        holder = row["holder"]
        if holder == self.replica_id:  # free only when no work of it runs here (a row reopened by hand, say)
            lapsed = row["held_until"] is None or row["held_until"] < now
            return lapsed and row["operation_id"] not in self.in_flight()
        if holder is None:
            return not _alive(row["owner_pid"])
        if row["held_until"] is None or row["held_until"] < now:
            return True
        return self.replica.gone(self.ledger, holder)

    def take(self, operation_id: str) -> bool:
        """The compare-and-set that lets exactly one replica take over an operation nobody alive holds: the hold
        moves to this replica only if it is still the one read as lapsed. True when this replica now holds it."""
        now = self._clock()
        rows = self.ledger.query(
            "SELECT operation_id, state, holder, held_until, owner_pid FROM operations WHERE operation_id = :op",
            {"op": operation_id},
        )
        if not rows or rows[0]["state"] != "running" or not self._free(rows[0], now):
            return False
        old = rows[0]["holder"]
        self.replica.register(self.ledger, now)
        same_holder = "holder IS NULL" if old is None else "holder = :old"
        with self.ledger.transaction() as db:
            took = db.execute(
                "UPDATE operations SET holder = :me, held_until = :until, owner_pid = :pid, updated_at = :now"
                f" WHERE operation_id = :op AND state = 'running' AND {same_holder}"
                " AND (held_until IS NULL OR held_until = :seen)",
                {
                    "me": self.replica_id,
                    "until": now + self.lease_seconds,
                    "pid": os.getpid(),
                    "now": now,
                    "op": operation_id,
                    "old": old,
                    "seen": rows[0]["held_until"],
                },
            ).rowcount
        if took == 1:
            self._lost.discard(operation_id)
            if old is not None and old != self.replica_id:
                log.info("operation %s: taken over by replica %s from %s", operation_id, self.replica.label(), old)
        return took == 1

    def release_all(self) -> list[str]:
        """On a clean stop: the work here stops at its next step and its holds lapse now, so another replica (or
        the next start) takes them over at once rather than after `lease_seconds`."""
        self._stopping.set()
        held = self.in_flight()
        with self.ledger.transaction() as db:
            db.execute(
                "UPDATE operations SET held_until = 0 WHERE holder = :me AND state = 'running'",
                {"me": self.replica_id},
            )
        return held

    def _finish(
        self,
        operation_id: str,
        state: OperationState,
        result: dict[str, Any] | None,
        error: str | None,
        *,
        cancelled: bool = False,
    ) -> bool:
        """The end, written only by the operation's holder (a replica that lost it writes nothing over the new
        holder's work); the hold ends with it. True when this replica wrote it. A busy ledger is tried again a few
        times; past that the operation stays running, and its lapsed hold lets it be resumed from the cloud."""
        for wait in FINISH_RETRIES:
            try:
                wrote = self._write_finish(operation_id, state, result, error, cancelled)
                break
            except LedgerBusy:
                if wait is None:
                    log.error("operation %s: its end could not be written, the ledger stayed busy", operation_id)
                    return False
                time.sleep(wait)
        if not wrote:
            log.warning("operation %s: its end was not written here: another replica holds it", operation_id)
        with self._changed:
            self._changed.notify_all()
        return wrote == 1

    def _write_finish(
        self,
        operation_id: str,
        state: OperationState,
        result: dict[str, Any] | None,
        error: str | None,
        cancelled: bool,
    ) -> int:
        return self._write_held(
            operation_id,
            "state = :state, progress = CASE WHEN :state = 'succeeded' THEN 1 ELSE progress END,"
            " result_json = :result, error = :error, updated_at = :now, outcome = :outcome, held_until = NULL",
            {
                "state": state,
                "result": json.dumps(result) if result is not None else None,
                "error": error,
                "now": self._clock(),
                "outcome": "cancelled" if cancelled else state,
            },
        )

    def get(self, operation_id: str) -> OperationStatus:
        rows = self.ledger.query("SELECT * FROM operations WHERE operation_id = :op", {"op": operation_id})
        if not rows or not current_caller().sees(rows[0]["owner"]):  # another user's operation does not exist
            raise UnknownOperation(
                f"No operation {operation_id!r} in this server's ledger.",
                "Check the id; operation ids look like op-0123456789abcdef.",
            )
        row = rows[0]
        waiting = self.read_only and row["state"] == "running" and self._free(row, self._clock())
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
        """Whether a live replica (this one or another server on the ledger) holds the operation."""
        if operation_id in self.in_flight():
            return True
        rows = self.ledger.query(
            "SELECT operation_id, holder, held_until, owner_pid FROM operations WHERE operation_id = :op",
            {"op": operation_id},
        )
        return bool(rows) and not self._free(rows[0], self._clock())

    def finish_cancelled(self, operation_id: str, error: str) -> None:
        """Close a cancelled operation nobody holds (its replica is gone): taken first, so exactly one replica
        closes it and none resumes it. When another replica took it meanwhile, its work sees the cancel."""
        if self.take(operation_id):
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
        """Operations of `kind` left running that nobody alive holds (a crash, a restart, a replica gone)."""
        now = self._clock()
        rows = self.ledger.query(
            "SELECT operation_id, params_json, holder, held_until, owner_pid FROM operations"
            " WHERE state = 'running' AND kind = :kind ORDER BY created_at",
            {"kind": kind},
        )
        return [(r["operation_id"], json.loads(r["params_json"])) for r in rows if self._free(r, now)]

    def orphaned(self) -> list[str]:
        """Every operation left running that nobody alive holds, whatever its kind."""
        now = self._clock()
        rows = self.ledger.query(
            "SELECT operation_id, holder, held_until, owner_pid FROM operations WHERE state = 'running'"
            " ORDER BY created_at"
        )
        return [r["operation_id"] for r in rows if self._free(r, now)]

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
            if self.resume(operation_id, params, work):
                resumed.append(operation_id)
        return resumed

    def resume(self, operation_id: str, params: dict[str, Any], work: Work) -> bool:
        """Take over an operation nobody alive holds and continue it here from the cloud's own state. False when
        another replica took it first (or holds it): then it is theirs to finish."""
        if self.read_only:
            raise AckComputeError(f"Operation {operation_id}: {READ_ONLY_WAIT}")
        if not self.take(operation_id):
            return False
        row = self.ledger.query(
            "SELECT owner, owner_admin FROM operations WHERE operation_id = :op", {"op": operation_id}
        )
        caller = Caller(subject=row[0]["owner"], admin=bool(row[0]["owner_admin"])) if row else LOCAL_OPERATOR
        log.info("resuming operation %s on replica %s", operation_id, self.replica.label())
        self._launch(operation_id, params, work, caller)
        return True


_alive = process_alive


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
    if status.kind == "run_job" and "job" in status.params:  # its own deadline, not a guess from progress
        params = RunJobParams.model_validate(status.params)
        return max(0, round(params.started_at + params.timeout_seconds - now))
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
    # What the view already says at its top (the id, the next step taken from the result) is not said twice.
    result = status.result
    if result:
        result = {
            k: v
            for k, v in result.items()
            if not (k == "operation_id" and v == status.operation_id) and not (k == "next_step" and v == step)
        }
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
        result=result,
        error=status.error,
        log=log_lines,
        next_step=step,
    )
