"""extend_lease: more hours for a resource this server created, bought like anything else.

The lease is named by the operation that created the resource (the id the agent already holds). The extension is a
quote for the lease's own plan with only `hours` changed (the hours added), and it goes through the one purchase path:
the quote's ledger row is the truth, it is this caller's, the caps are checked (the leased row's own price is not
counted twice), the person's recorded yes decides, and the redemption moves the lease's end and writes the
`extension` receipt in one transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter

from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.identity import current_caller
from ack_compute.tools.leases import RELEASING_STATES, Lease, iso
from ack_compute.tools.ledger import Ledger
from ack_compute.tools.operations import UnknownOperation
from ack_compute.tools.plans import AnyPlan, Plan, plan_differences
from ack_compute.tools.purchase import Policy, Purchase
from ack_compute.tools.quotes import QuoteRecord, append_paid_receipt

PLANS: TypeAdapter[AnyPlan] = TypeAdapter(Plan)
HOW = "estimate_cost the lease's plan with hours = the hours to add"
BUY_NEW = "Buy a new one: estimate_cost, then the creating tool. Nothing was charged."


class LeaseOutcome(BaseModel):
    """extend_lease's answer: the lease's end (moved, or as it stands), what was added and what it cost."""

    status: Literal["extended", "quote_required", "declined"]
    operation_id: str
    lease_ends_at: str
    hours_added: float | None = None
    cost: Decimal | None = None
    currency: str = ""
    plan_to_quote: Plan | None = None
    message: str = ""


def _leases(ledger: Ledger, operation_id: str) -> list[Lease]:
    """The leases an operation's purchase granted: rows it claimed, or the row its quote paid (a costlier update
    repoints an older row, whose lease keeps the creating operation's id)."""
    rows = ledger.query(
        "SELECT l.*, r.state AS resource_state FROM leases l JOIN resources r ON r.resource_id = l.resource_id"
        " WHERE l.operation_id = :op OR l.quote_id = (SELECT quote_id FROM operations WHERE operation_id = :op)"
        " ORDER BY l.resource_id",
        {"op": operation_id},
    )
    out = []
    for row in rows:
        fields = dict(row)
        gone = fields.pop("resource_state") in RELEASING_STATES  # it bills nothing: its lease bounds nothing
        lease = Lease.model_validate(fields)
        out.append(lease.model_copy(update={"state": "released"}) if gone and lease.state == "active" else lease)
    return out


def lease_ends_at(ledger: Ledger, operation_id: str | None) -> str | None:
    """When the live lease of what `operation_id` bought ends (ISO UTC); None when it bought nothing that is still
    leased (a reused resource, a free job, a lease that ended)."""
    if not operation_id:
        return None
    live = [lease.ends_at for lease in _leases(ledger, operation_id) if lease.state == "active"]
    return iso(max(live)) if live else None


def _without_hours(plan: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in plan.items() if k != "hours"}


class LeaseExtender:
    def __init__(self, purchase: Purchase, clock: Callable[[], float] = time.time) -> None:
        self.purchase = purchase
        self.quotes = purchase.quotes
        self.leases = purchase.leases
        self._clock = clock

    def lease(self, operation_id: str) -> tuple[Lease, QuoteRecord]:
        """The caller's active lease bought by `operation_id`, and the quote that bought it. Another caller's
        operation gets the same answer as an unknown one (admins see every lease)."""
        caller = current_caller()
        found = [lease for lease in _leases(self.purchase.ownership.ledger, operation_id) if caller.sees(lease.owner)]
        if not found:
            raise self._no_lease(operation_id)
        active = [lease for lease in found if lease.state == "active"]
        if not active:
            lease = found[-1]
            what = {"ending": "is ending (being deleted)", "ended": "has ended"}.get(
                lease.state, "was released (the resource is gone)"
            )
            raise AckComputeError(f"The lease of {operation_id} {what}; it cannot be extended.", BUY_NEW)
        lease = active[-1]
        paid = self.quotes.record(lease.quote_id)
        assert paid is not None  # a lease is granted only in its quote's redemption
        return lease, paid

    def _no_lease(self, operation_id: str) -> UnknownOperation:
        """An operation of the caller's that bought nothing (a job on a cluster's own nodes) is named as such, with
        the lease that does bound it: its cluster's, when this server bought that."""
        caller, ledger = current_caller(), self.purchase.ownership.ledger
        rows = ledger.query(
            "SELECT kind, params_json, owner FROM operations WHERE operation_id = :op", {"op": operation_id}
        )
        params = json.loads(rows[0]["params_json"]) if rows else {}
        if rows and caller.sees(rows[0]["owner"]) and rows[0]["kind"] == "run_job" and params.get("compute") == "nodes":
            cluster = str(params.get("target", {}).get("cluster_id") or "")
            held = [
                r["operation_id"]
                for r in ledger.query(
                    "SELECT l.operation_id, l.owner FROM leases l JOIN resources r ON r.resource_id = l.resource_id"
                    " WHERE r.kind = 'cluster' AND r.cloud_id = :c AND l.state = 'active'",
                    {"c": cluster},
                )
                if caller.sees(r["owner"])  # another caller's cluster lease is theirs to extend, and to know of
            ]
            bounding = (
                f" extend_lease {held[0]} extends the lease of its cluster {cluster}." if held and cluster else ""
            )
            return UnknownOperation(
                f"Operation {operation_id} ran on a cluster's own nodes and bought nothing, so it has no lease.",
                (bounding or " The cluster's lease is its creating operation's (list_resources shows it).").strip(),
            )
        return UnknownOperation(
            f"No operation {operation_id!r} with a lease in this server's ledger (a reused resource has none).",
            "Pass the operation_id the creating tool returned (op-...).",
        )

    def plan_to_quote(self, paid: QuoteRecord, hours: float = 1.0) -> AnyPlan:
        """The lease's plan with `hours` the hours to add: what to estimate for an extension."""
        return PLANS.validate_python({**paid.plan, "hours": hours})

    def offer(self, operation_id: str, ref: str) -> tuple[Lease, QuoteRecord, AnyPlan]:
        """Everything up to the person's question: the lease, the extension quote (checked on its ledger row, this
        caller's, unused, within the caps), and its plan."""
        lease, plan = self._plan(operation_id, ref)
        return lease, self.quotes.verify(ref, plan, replacing=lease.resource_id, extends=True), plan

    def _plan(self, operation_id: str, ref: str) -> tuple[Lease, AnyPlan]:
        """The caller's lease and the extension quote's plan, which must be the lease's but for `hours`."""
        lease, paid = self.lease(operation_id)
        _, stored = self.quotes.plan_of(ref)
        ours, theirs = _without_hours(paid.plan), _without_hours(stored)
        if ours.get("kind") != theirs.get("kind"):  # every other field differs too: the kind says it all
            diffs = [f"kind: lease {json.dumps(ours.get('kind'))}, quote {json.dumps(theirs.get('kind'))}"]
        else:
            diffs = [
                d.replace(": quoted ", ": lease ").replace(", given ", ", quote ")
                for d in plan_differences(ours, theirs)
            ]
        if diffs:
            wanted = json.dumps(_without_hours(paid.plan), separators=(",", ":"))
            raise AckComputeError(
                f"The quote is for another plan than the lease's ({'; '.join(diffs)}).",
                f"An extension is priced as the lease's own plan: {HOW}, {wanted}. Nothing was charged.",
            )
        return lease, PLANS.validate_python(stored)

    def new_end(self, lease: Lease, quote: QuoteRecord, now: float | None = None) -> float:
        """Where the end moves (tools/leases.py Leases.extend): from the old end, or from now once it passed."""
        return max(lease.ends_at, self._clock() if now is None else now) + quote.hours * 3600

    def extend(self, operation_id: str, ref: str, consent_id: str | None, policy: Policy) -> LeaseOutcome:
        """Without a quote: the lease as it stands and the plan to estimate. With one: the person's recorded answer,
        then the redemption that moves the end and writes the `extension` receipt."""
        if not ref:
            lease, paid = self.lease(operation_id)
            return LeaseOutcome(
                status="quote_required",
                operation_id=operation_id,
                lease_ends_at=lease.ends_iso(),
                plan_to_quote=self.plan_to_quote(paid),
                message=f"To extend: {HOW} (plan_to_quote adds 1 h), show the person, call again with its quote_id.",
            )
        lease, plan = self._plan(operation_id, ref)
        owned = self.purchase.ownership.get(lease.resource_id)
        if self.purchase.approved(ref, plan, consent_id, policy, replacing=owned, extends=True) is None:
            return LeaseOutcome(
                status="declined",
                operation_id=operation_id,
                lease_ends_at=lease.ends_iso(),
                message="The person declined; the quote is void and the lease unchanged.",
            )
        moved: dict[str, Lease] = {}

        def record(db: Any, quote: QuoteRecord, now: float) -> None:
            moved["lease"] = self.leases.extend(db, lease.resource_id, quote, now)
            append_paid_receipt(
                db,
                "extension",
                quote,
                at=now,
                operation_id=lease.operation_id,
                resource_id=lease.resource_id,
                body={"old_ends_at": lease.ends_iso(), "lease_ends_at": moved["lease"].ends_iso()},
            )

        try:
            redemption = self.quotes.redeem(
                ref, plan, within=record, replacing=lease.resource_id, extends=True, note=f"extend_lease {operation_id}"
            )
        except LookupError:  # the reaper started ending it meanwhile; the transaction (and the quote) rolled back
            raise AckComputeError(
                f"The lease of {operation_id} ended while asking; it cannot be extended.", BUY_NEW
            ) from None
        return LeaseOutcome(
            status="extended",
            operation_id=operation_id,
            lease_ends_at=moved["lease"].ends_iso(),
            hours_added=plan.hours,
            cost=redemption.total,
            currency=redemption.currency,
        )
