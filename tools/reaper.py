"""The lease reaper: ends what nobody ended. A lease whose end plus grace has passed gets, by `lease_policy`:

- `delete`: what cleanup would delete for it, started as a cleanup operation acting as the lease's owner (so it
  reaches only that caller's rows), with a `lease_end` receipt; `ended` when that finished, `active` again (tried
  later, with a growing wait) when it did not;
- `warn`: one `lease_warning` receipt and a note; nothing is deleted;
- `off`: nothing.

It runs inside `serve` as one background thread per process, looking only while its replica leads (`leader`,
the singleton tools/background.py renews), so one replica of a team looks at a time; a compare-and-set on each
lease still lets exactly one of them end it should two ever look at once. Nothing here is in memory that a
restart would lose: a lease that ended while no server ran is simply due on the first look after the start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from ack_compute.cloud.errors import CloudError
from ack_compute.tools import receipts
from ack_compute.tools.cleanup import Cleaner, CleanupReport, CleanupRequest
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.identity import Caller, acting_as
from ack_compute.tools.leases import RELEASING_STATES, Lease, Leases
from ack_compute.tools.ledger import Db
from ack_compute.tools.node_pools import NodePools
from ack_compute.tools.operations import Operations, UnknownOperation, process_alive
from ack_compute.tools.ownership import OwnedResource, Ownership
from ack_compute.tools.replicas import Singleton

log = logging.getLogger("ack_compute.reaper")

LeasePolicy = Literal["delete", "warn", "off"]


class ReaperSettings(BaseModel):
    grace_seconds: float = Field(600.0, ge=0)
    policy: LeasePolicy = "delete"
    check_seconds: float = Field(30.0, gt=0)
    longest_retry_seconds: float = Field(3600.0, gt=0)  # a delete that keeps failing is retried at least hourly


class Reaper:
    def __init__(
        self,
        *,
        leases: Leases,
        ownership: Ownership,
        operations: Operations,
        cleaner: Cleaner,
        pools: NodePools | None = None,
        settings: ReaperSettings | None = None,
        clock: Callable[[], float] = time.time,
        leader: Singleton | None = None,
    ) -> None:
        self.leases = leases
        self.ownership = ownership
        self.operations = operations
        self.cleaner = cleaner
        self.pools = pools
        self.settings = settings or ReaperSettings()
        self._clock = clock
        self.leader = leader
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._following = False  # in the background, each end operation is followed to its end (not left to a look)
        self._followed: set[str] = set()

    # -- the background thread --------------------------------------------------------------------------------

    def start(self) -> None:
        """Look at once (leases that ended while no server ran), then every `check_seconds`."""
        self._stop.clear()
        self._following = True
        self._thread = threading.Thread(target=self._loop, name="lease-reaper", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop looking; an end operation already started goes on (the ledger keeps it, a restart resumes it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.leader is None or self.leader.held:  # renewed by tools/background.py
                    self.tick()
            except Exception:  # one bad look (the ledger busy, a bug) must not end the reaper for good
                log.exception("lease reaper: a check failed; trying again in %g s", self.settings.check_seconds)
            self._stop.wait(self.settings.check_seconds)

    def _follow(self, resource_id: int, operation_id: str) -> None:
        """Settle the lease as soon as its end operation finishes, rather than at the next look (which may be
        `check_seconds` away): the lease says `ended` when the resource is gone."""
        if not self._following or operation_id in self._followed:
            return
        self._followed.add(operation_id)

        def follow() -> None:
            while not self._stop.is_set() and not self.operations.wait(operation_id, 5).done:
                pass
            if (lease := self.leases.get(resource_id)) is not None and lease.state == "ending":
                try:
                    self._settle_one(lease)
                except Exception:
                    log.exception("lease reaper: lease on resource %d could not be settled", resource_id)

        threading.Thread(target=follow, name=f"lease-end-{operation_id}", daemon=True).start()

    # -- one look ---------------------------------------------------------------------------------------------

    def tick(self) -> list[str]:
        """Settle the leases being ended, then act on every lease due. The end operations it started."""
        self._settle()
        if self.settings.policy == "off":
            return []
        started = []
        now = self._clock()
        for lease in self.leases.due(self.settings.grace_seconds, now):
            if lease.retry_at is not None and lease.retry_at > now:
                continue
            try:
                if (operation_id := self._due(lease, now)) is not None:
                    started.append(operation_id)
            except Exception:
                log.exception("lease reaper: lease on resource %d could not be handled", lease.resource_id)
        return started

    def _why(self, lease: Lease) -> str:
        return f"lease ended at {lease.ends_iso()} + grace {self.settings.grace_seconds:g} s"

    def _due(self, lease: Lease, now: float) -> str | None:
        row = self.ownership.get(lease.resource_id)
        if row.state in RELEASING_STATES or row.origin == "reused":  # nothing of it runs (a reused row never has one)
            self.leases.set_state(
                lease.resource_id, "released", expect="active", note=f"released: its resource was {row.state}"
            )
            return None
        if self.settings.policy == "warn":
            self._warn(lease, row, now)
            return None
        return self._end(lease, row, now)

    def _warn(self, lease: Lease, row: OwnedResource, now: float) -> None:
        """Once per end (an extension's new end warns again): a receipt and the lease's note; nothing is deleted."""
        note = f"ended at {lease.ends_iso()}; lease_policy=warn: still running"
        with self.ownership.ledger.transaction() as db:
            if db.execute(
                "SELECT 1 FROM receipts WHERE event = 'lease_warning' AND resource_id = :id AND at >= :at",
                {"id": lease.resource_id, "at": lease.ends_at},
            ).fetchone():
                return
            _lease_receipt(
                db,
                "lease_warning",
                lease,
                at=now,
                body={"why": self._why(lease), "policy": "warn", "still_running": _named(row)},
            )
            self.leases.set_note(db, lease.resource_id, note)
        log.warning("lease on %s (%s) %s", _named(row), lease.owner or "the local operator", note)

    # -- ending one lease -------------------------------------------------------------------------------------

    def _request(self, lease: Lease, row: OwnedResource) -> CleanupRequest:
        """Exactly what cleanup deletes for the leased row: a cluster with the network made with it and this
        caller's work on it; anything else, the operation that created it."""
        if row.kind == "cluster" and row.cloud_id:
            return CleanupRequest(target="cluster", cluster=row.cloud_id, dry_run=False)
        return CleanupRequest(target="operation", operation_id=lease.operation_id, dry_run=False)

    def _end(self, lease: Lease, row: OwnedResource, now: float) -> str | None:
        why = self._why(lease)
        taken = self.leases.begin_end(
            lease.resource_id,
            now - self.settings.grace_seconds,
            f"ending: {why}",
            ender=self.operations.replica_id,
            hold_seconds=self.operations.lease_seconds,
        )
        if not taken:
            return None  # another server on this ledger took it, or an extension moved its end
        owner = Caller(subject=lease.owner, admin=False)
        try:
            with acting_as(owner):
                if row.kind == "node_pool" and row.details.get("growth_of"):
                    return self._end_growth(lease, row, why)
                report = self.cleaner.start(self._request(lease, row), requested_by=f"lease reaper: {why}")
        except Exception as exc:  # whatever it was, the lease is not left `ending` with nothing ending it
            if not isinstance(exc, AckComputeError | CloudError):
                log.exception("lease reaper: ending the lease on resource %d failed", lease.resource_id)
            self._retry(lease, f"could not start deleting it: {_text(exc)}")
            return None
        if report.operation_id is None:
            if report.status == "nothing_to_do":
                self.leases.set_state(lease.resource_id, "released", expect="ending", note="released: nothing was left")
            else:
                self._retry(lease, "cleanup keeps it: " + _kept(report))
            return None
        deleting = [
            {"kind": i.kind, "name": i.name, "cloud_id": i.cloud_id, "action": i.action}
            for i in report.items
            if i.action in ("delete", "gone")
        ]
        self._record(lease, report.operation_id, why, deleting)
        self._follow(lease.resource_id, report.operation_id)
        log.info(
            "lease reaper: %s; deleting %s in %s (as %s)",
            why,
            ", ".join(f"{d['kind']} {d['cloud_id'] or d['name']}" for d in deleting),
            report.operation_id,
            lease.owner or "the local operator",
        )
        return report.operation_id

    def _end_growth(self, lease: Lease, row: OwnedResource, why: str) -> str | None:
        """A node pool growth: the pool goes back down by the nodes that purchase bought (tools/node_pools.py)."""
        if self.pools is None:
            raise AckComputeError("this server was built without node pool access")
        operation_id = self.pools.end_growth(row, requested_by=f"lease reaper: {why}")
        gave = {"kind": "node_pool_nodes", "name": row.name, "cloud_id": None, "action": "remove"}
        gave["nodes"] = row.details.get("nodes")
        if operation_id is None:  # no node of it was left to give: the growth row is closed, nothing to wait for
            self._record(lease, "", why, [])
            self.leases.set_state(lease.resource_id, "ended", expect="ending", note=f"ended: {why}; no node left")
            return None
        self._record(lease, operation_id, why, [gave])
        self._follow(lease.resource_id, operation_id)
        log.info("lease reaper: %s; removing %s node(s) of %s in %s", why, gave["nodes"], row.name, operation_id)
        return operation_id

    def _record(self, lease: Lease, operation_id: str, why: str, deleting: list[dict[str, object]]) -> None:
        with self.ownership.ledger.transaction() as db:
            if operation_id:
                self.leases.record_end(db, lease.resource_id, operation_id)
            _lease_receipt(
                db,
                "lease_end",
                lease,
                at=self._clock(),
                body={
                    "why": why,
                    "policy": "delete",
                    "end_operation_id": operation_id or None,
                    "deleting": deleting,
                    "attempt": lease.attempts + 1,
                },
            )

    def _retry(self, lease: Lease, why: str, expect: Literal["active", "ending"] = "ending") -> None:
        """Active again, tried after a wait that doubles with each failure (from the check interval up to
        `longest_retry_seconds`): never a tight loop against a cloud that keeps refusing."""
        wait = min(self.settings.longest_retry_seconds, self.settings.check_seconds * 2 ** (lease.attempts + 1))
        note = f"{self._why(lease)}; attempt {lease.attempts + 1} failed: {why}; retried in {wait:g} s"
        self.leases.retry_later(lease.resource_id, expect, note[:1000], self._clock() + wait)
        log.warning("lease reaper: resource %d: %s", lease.resource_id, note)

    # -- leases being ended -----------------------------------------------------------------------------------

    def _settle(self) -> None:
        """Leases being ended: `ended` once their operation finished with the row gone, `active` again (retried
        later) when it did not, or when the process that took the lease died before starting its operation."""
        for lease in self.leases.ending():
            try:
                self._settle_one(lease)
            except Exception:
                log.exception("lease reaper: lease on resource %d could not be settled", lease.resource_id)

    def _settle_one(self, lease: Lease) -> None:
        if lease.end_operation_id is None:
            if not self._ender_alive(lease):
                self._retry(lease, "the server ending it stopped before its cleanup started")
            return
        try:
            status = self.operations.get(lease.end_operation_id)
        except UnknownOperation:
            self._retry(lease, f"its operation {lease.end_operation_id} is not in the ledger")
            return
        if not status.done:  # running here (resumed on start, say), in another server, or waiting for a restart
            self._follow(lease.resource_id, lease.end_operation_id)
            return
        row = self.ownership.get(lease.resource_id)
        if row.state in RELEASING_STATES:
            done = f"ended: {self._why(lease)}; deleted by {lease.end_operation_id}"
            if status.state == "failed":
                done += f" (which then failed: {status.error})"
            self.leases.set_state(lease.resource_id, "ended", expect="ending", note=done[:1000])
            log.info("lease reaper: lease on resource %d %s", lease.resource_id, done)
            return
        reason = status.error or _outcome_of(status.result, lease.resource_id, row) or "it is still there"
        self._retry(lease, f"{lease.end_operation_id} did not delete it: {reason}")

    def _ender_alive(self, lease: Lease) -> bool:
        """Whether the replica that took the lease may still start its end operation: its hold has not lapsed and
        it is not known dead (tools/replicas.py). A lease taken before replicas goes by its pid, as written."""
        if lease.ender is None:
            return process_alive(lease.ender_pid)
        if lease.ender == self.operations.replica_id:
            return (lease.ender_until or 0) >= self._clock()
        replica = self.operations.replica
        return (lease.ender_until or 0) >= self._clock() and not replica.gone(self.ownership.ledger, lease.ender)


def _lease_receipt(db: Db, event: receipts.Event, lease: Lease, *, at: float, body: dict[str, object]) -> None:
    """The reaper acts on the lease as granted, so its receipts name the lease's own owner, quote and operation."""
    receipts.append(
        db,
        event,
        at=at,
        caller=lease.owner,
        quote_id=lease.quote_id,
        operation_id=lease.operation_id,
        resource_id=lease.resource_id,
        body=body,
    )


def _named(row: OwnedResource) -> str:
    return f"{row.kind} {row.cloud_id or row.name}"


def _text(exc: Exception) -> str:
    if isinstance(exc, AckComputeError):
        return exc.text
    return str(exc) if isinstance(exc, CloudError) else f"internal error ({type(exc).__name__}); see the server log"


def _kept(report: CleanupReport) -> str:
    return "; ".join(f"{i.kind} {i.cloud_id or i.name}: {i.reason}" for i in report.items if i.action != "delete")


def _outcome_of(result: dict[str, object] | None, resource_id: int, row: OwnedResource) -> str:
    """What the cleanup report said of the leased row (its items carry kind and cloud id, not the row id)."""
    items = (result or {}).get("items") or []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("kind") == row.kind and item.get("cloud_id") in (row.cloud_id, None):
            return str(item.get("outcome") or item.get("reason") or "")
    return ""
