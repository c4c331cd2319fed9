"""Leases: a quote's hours made real. Every row a quote pays for gets a lease ending at redemption + the quoted
hours; at the end (plus grace) the reaper deletes what the lease bounds unless an extension moved the end.

The lease starts when the quote is redeemed, not when the resource is ready: the cloud bills from the create
call, so the quoted total stays an honest bound on what the person pays. A reused resource has no lease: it was
never ours to end.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from ack_compute.tools.ledger import Db, Ledger

if TYPE_CHECKING:  # quotes reads the meter, which reads leases: only the annotation needs QuoteRecord
    from ack_compute.tools.quotes import QuoteRecord

LeaseState = Literal["active", "ending", "ended", "released"]
# A ledger row in one of these states runs nothing a lease bounds any more (the person's cleanup deleted it, a
# run_job Job on ACS finished, a shrink gave a growth's nodes back): its lease is released, never reaped.
RELEASING_STATES = ("deleted", "abandoned", "finished")


class Lease(BaseModel):
    """`active` until its end; `ending` once the reaper started deleting; `ended` when that finished;
    `released` when the resource went away before its end (cleanup, a finished job)."""

    resource_id: int
    operation_id: str
    quote_id: str
    owner: str
    currency: str
    hourly: Decimal
    starts_at: float
    ends_at: float
    state: LeaseState
    ended_at: float | None = None
    end_operation_id: str | None = None
    note: str = ""
    # The reaper's bookkeeping (migrations 7 and 8), never shown: the replica ending it and until when that hold
    # lasts (`ender_pid` on leases taken before replicas), failed tries, the next try.
    ender: str | None = Field(None, exclude=True)
    ender_until: float | None = Field(None, exclude=True)
    ender_pid: int | None = Field(None, exclude=True)
    attempts: int = Field(0, exclude=True)
    retry_at: float | None = Field(None, exclude=True)

    def ends_iso(self) -> str:
        return iso(self.ends_at)

    def committed(self, now: float) -> Decimal:
        """What this lease still commits from `now` until its end (nothing once it is no longer active)."""
        if self.state != "active":
            return Decimal(0)
        return self.hourly * Decimal(str(max(0.0, self.ends_at - now) / 3600))


def iso(ts: float) -> str:
    """Seconds since the epoch as the compact UTC time every result shows (e.g. 2026-12-03T20:15:00Z)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def release_with_row(db: Db, resource_id: int, row_state: str, now: float) -> None:
    """Inside the transaction that moves a ledger row to `row_state`: the one rule that releases its lease when
    the row no longer runs anything (only an active lease: one the reaper is ending stays its to finish)."""
    if row_state in RELEASING_STATES:
        db.execute(
            "UPDATE leases SET state = 'released', ended_at = :now, note = :note"
            " WHERE resource_id = :id AND state = 'active'",
            {
                "now": now,
                "note": f"released: its resource was {row_state} before the lease was reaped",
                "id": resource_id,
            },
        )


def _lease(row: Mapping[str, Any]) -> Lease:
    return Lease.model_validate(dict(row))


class Leases:
    def __init__(self, ledger: Ledger, clock: Callable[[], float] = time.time) -> None:
        self._ledger = ledger
        self._clock = clock

    def grant(self, db: Db, resource_id: int, operation_id: str, quote: QuoteRecord, now: float) -> Lease:
        """Inside the redemption's transaction: the row `resource_id` is bounded by `quote`'s hours from `now`.
        A row repointed at a costlier quote gets the new quote's lease (its hours count from the new purchase)."""
        lease = Lease(
            resource_id=resource_id,
            operation_id=operation_id,
            quote_id=quote.quote_id,
            owner=quote.owner,
            currency=quote.currency,
            hourly=quote.hourly,
            starts_at=now,
            ends_at=now + quote.hours * 3600,
            state="active",
        )
        db.execute(
            # A repointed row's lease is replaced whole: every column set anew, the reaper's bookkeeping reset.
            "INSERT INTO leases (resource_id, operation_id, quote_id, owner, currency, hourly, starts_at, ends_at,"
            " state) VALUES (:resource_id, :operation_id, :quote_id, :owner, :currency, :hourly, :starts_at,"
            " :ends_at, 'active')"
            " ON CONFLICT (resource_id) DO UPDATE SET operation_id = excluded.operation_id,"
            " quote_id = excluded.quote_id, owner = excluded.owner, currency = excluded.currency,"
            " hourly = excluded.hourly, starts_at = excluded.starts_at, ends_at = excluded.ends_at, state = 'active',"
            " ended_at = NULL, end_operation_id = NULL, note = '', ender_pid = NULL, attempts = 0, retry_at = NULL",
            {
                "resource_id": resource_id,
                "operation_id": operation_id,
                "quote_id": quote.quote_id,
                "owner": quote.owner,
                "currency": quote.currency,
                "hourly": str(quote.hourly),
                "starts_at": now,
                "ends_at": lease.ends_at,
            },
        )
        return lease

    def get(self, resource_id: int) -> Lease | None:
        rows = self._ledger.query("SELECT * FROM leases WHERE resource_id = :id", {"id": resource_id})
        return _lease(rows[0]) if rows else None

    def of_operation(self, operation_id: str) -> list[Lease]:
        rows = self._ledger.query(
            "SELECT * FROM leases WHERE operation_id = :op ORDER BY resource_id", {"op": operation_id}
        )
        return [_lease(r) for r in rows]

    def active(self, owner: str | None = None) -> list[Lease]:
        """Live leases (everyone's, or one caller's): what they commit until they end counts against budgets."""
        if owner is None:
            rows = self._ledger.query("SELECT * FROM leases WHERE state = 'active' ORDER BY ends_at")
        else:
            rows = self._ledger.query(
                "SELECT * FROM leases WHERE state = 'active' AND owner = :owner ORDER BY ends_at", {"owner": owner}
            )
        return [_lease(r) for r in rows]

    def due(self, grace_seconds: float, now: float | None = None) -> list[Lease]:
        """Active leases whose end plus grace has passed, soonest first."""
        at = (self._clock() if now is None else now) - grace_seconds
        rows = self._ledger.query(
            "SELECT * FROM leases WHERE state = 'active' AND ends_at <= :at ORDER BY ends_at", {"at": at}
        )
        return [_lease(r) for r in rows]

    def set_state(
        self,
        resource_id: int,
        state: LeaseState,
        *,
        expect: LeaseState | None = None,
        end_operation_id: str | None = None,
        note: str = "",
    ) -> bool:
        """Move a lease on; with `expect`, only from that state (so two reapers cannot both start ending it).
        True when the row changed."""
        ended_at = self._clock() if state in ("ended", "released") else None
        sql = (
            "UPDATE leases SET state = :state, ended_at = COALESCE(:ended_at, ended_at),"
            " end_operation_id = COALESCE(:end_op, end_operation_id),"
            " note = CASE WHEN :note = '' THEN note ELSE :note END"
            " WHERE resource_id = :id"
        )
        params: dict[str, object] = {
            "state": state,
            "ended_at": ended_at,
            "end_op": end_operation_id,
            "note": note,
            "id": resource_id,
        }
        if expect is not None:
            sql += " AND state = :expect"
            params["expect"] = expect
        with self._ledger.transaction() as db:
            return db.execute(sql, params).rowcount == 1

    def extend(self, db: Db, resource_id: int, quote: QuoteRecord, now: float) -> Lease:
        """Inside the extension quote's redemption: the end moves by the quote's hours (from the old end, or from
        now when the lease already ran out within its grace). Refuses a lease that is not active."""
        row = db.execute("SELECT * FROM leases WHERE resource_id = :id", {"id": resource_id}).fetchone()
        if row is None or row["state"] != "active":
            raise LookupError(f"lease on resource {resource_id} is not active")
        old_end = float(row["ends_at"])
        new_end = max(old_end, now) + quote.hours * 3600
        db.execute("UPDATE leases SET ends_at = :end WHERE resource_id = :id", {"end": new_end, "id": resource_id})
        db.execute(
            "INSERT INTO lease_extensions (quote_id, resource_id, hours, old_ends_at, new_ends_at, at)"
            " VALUES (:quote_id, :id, :hours, :old, :new, :at)",
            {
                "quote_id": quote.quote_id,
                "id": resource_id,
                "hours": quote.hours,
                "old": old_end,
                "new": new_end,
                "at": now,
            },
        )
        row = db.execute("SELECT * FROM leases WHERE resource_id = :id", {"id": resource_id}).fetchone()
        assert row is not None
        return _lease(row)

    # -- the reaper's steps (tools/reaper.py) ------------------------------------------------------------------

    def ending(self) -> list[Lease]:
        rows = self._ledger.query("SELECT * FROM leases WHERE state = 'ending' ORDER BY ends_at")
        return [_lease(r) for r in rows]

    def begin_end(self, resource_id: int, due_by: float, note: str, *, ender: str, hold_seconds: float) -> bool:
        """The compare-and-set that lets exactly one reaper (of all the replicas on this ledger) end a lease: active
        -> ending, only while its end (plus grace) is still at or before `due_by` (an extension that landed since
        keeps it) and its next try is due. The replica `ender` holds it for `hold_seconds` to start its end
        operation; a lease still without one after that is given back (tools/reaper.py). True when it took it."""
        now = self._clock()
        with self._ledger.transaction() as db:
            return (
                db.execute(
                    "UPDATE leases SET state = 'ending', ender = :ender, ender_until = :until, ender_pid = :pid,"
                    " end_operation_id = NULL, note = :note WHERE resource_id = :id AND state = 'active'"
                    " AND ends_at <= :due AND (retry_at IS NULL OR retry_at <= :now)",
                    {
                        "ender": ender,
                        "until": now + hold_seconds,
                        "pid": os.getpid(),  # for people reading the ledger; `ender` decides
                        "note": note,
                        "id": resource_id,
                        "due": due_by,
                        "now": now,
                    },
                ).rowcount
                == 1
            )

    def record_end(self, db: Db, resource_id: int, end_operation_id: str) -> None:
        """Inside the lease_end receipt's transaction: the operation that deletes what the lease bounds."""
        db.execute(
            "UPDATE leases SET end_operation_id = :end_op WHERE resource_id = :id AND state = 'ending'",
            {"end_op": end_operation_id, "id": resource_id},
        )

    def retry_later(self, resource_id: int, expect: LeaseState, note: str, retry_at: float) -> bool:
        """Ending it failed (or could not be done safely yet): active again, one more attempt counted, not tried
        before `retry_at`."""
        with self._ledger.transaction() as db:
            return (
                db.execute(
                    "UPDATE leases SET state = 'active', attempts = attempts + 1, retry_at = :retry_at, note = :note,"
                    " ender = NULL, ender_until = NULL, ender_pid = NULL WHERE resource_id = :id AND state = :expect",
                    {"retry_at": retry_at, "note": note, "id": resource_id, "expect": expect},
                ).rowcount
                == 1
            )

    def set_note(self, db: Db, resource_id: int, note: str) -> None:
        db.execute("UPDATE leases SET note = :note WHERE resource_id = :id", {"note": note, "id": resource_id})
