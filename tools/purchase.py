"""The one purchase path every creating tool takes (ensure_cluster create, run_job on ACS, deploy_acs).

The sequence is fixed: resolve the target (the tool does, with Targets or its region); bind the plan to it (region
from the target, never from server defaults; a plan naming another region is refused); check the quote on the
ledger's row; read the person's recorded answer; then claim and redeem in one transaction, with the caps checked
against everything live. Anything that fails before the question refuses: no path here turns an error into a yes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from ack_compute.tools.errors import AckComputeError, InvalidPlan
from ack_compute.tools.identity import current_caller
from ack_compute.tools.leases import Lease, Leases
from ack_compute.tools.ledger import Conflict, Db
from ack_compute.tools.ownership import Claim, OwnedResource, Ownership
from ack_compute.tools.plans import (
    AcsPlan,
    ClusterPlan,
    EciPlan,
    NodePoolPlan,
    ServerlessPlan,
    normalise,
    plan_digest,
)
from ack_compute.tools.quotes import QuoteBook, QuoteRecord, Redemption, append_paid_receipt

Policy = Literal["token", "human"]
P = TypeVar("P", ClusterPlan, AcsPlan, ServerlessPlan, EciPlan, NodePoolPlan)
NO_ELICITATION = "the client cannot ask (no elicitation support)"


def bind_plan(plan: P, region: str, where: str) -> P:
    """The plan as it will be bought on this target: its region is the target's. A plan that names another region
    is refused rather than silently moved: prices differ between regions, so its quote would pay for the wrong one."""
    if plan.region and plan.region != region:
        raise InvalidPlan(
            "region",
            f"the plan names {plan.region} but {where} is in {region}; a quote priced in {plan.region} cannot pay "
            f"for pods in {region}.",
            f"Set region to {region} (or leave it out: it comes from the cluster), estimate again and show the new "
            "quote to the person. Nothing was created.",
        )
    return normalise(plan, region)


@dataclass
class Bought:
    redemption: Redemption
    resource_id: int | None = None
    lease: Lease | None = None


class Purchase:
    def __init__(self, quotes: QuoteBook, ownership: Ownership) -> None:
        self.quotes = quotes
        self.ownership = ownership
        self.leases = Leases(ownership.ledger, quotes._clock)

    def check(self, token: str, plan: P, replacing: OwnedResource | None = None, extends: bool = False) -> QuoteRecord:
        """The quote as the ledger holds it, for exactly this bound plan, this caller, unused and within the caps
        (with what runs, less the resource whose price this purchase replaces; `extends`: QuoteBook.verify)."""
        return self.quotes.verify(token, plan, replacing=replacing.resource_id if replacing else None, extends=extends)

    def approved(
        self,
        token: str,
        plan: P,
        consent_id: str | None,
        policy: Policy,
        replacing: OwnedResource | None = None,
        extends: bool = False,
    ) -> QuoteRecord | None:
        """The checked quote once the person (or the policy) said yes; None when the person declined it (the quote
        is then void, by the answer the server recorded)."""
        if (
            consent_id is not None
            and (answer := self.quotes.consent(consent_id)) is not None
            and (
                answer.answer == "declined"
                and answer.caller == current_caller().subject
                and answer.plan_digest == plan_digest(plan)
                and answer.quote_id == self.quotes.quote_id_of(token)
            )
        ):
            self.quotes.void(answer.quote_id)
            return None
        quote = self.check(token, plan, replacing, extends)
        return quote if self.consent(quote, consent_id, policy) else None

    def consent(self, record: QuoteRecord, consent_id: str | None, policy: Policy) -> bool:
        """Go ahead (True), or the person declined (False: the quote is void). Read from the answer the server
        recorded when it asked; `consent_id` None means no client was there to ask (direct use, no MCP)."""
        if consent_id is None:
            return self._nobody_asked(NO_ELICITATION, policy)
        answer = self.quotes.consent(consent_id)
        if answer is not None and answer.answer == "not_asked" and answer.how != NO_ELICITATION:
            raise AckComputeError(
                f"The person was not asked to accept quote {record.quote_id}: the check before the question failed "
                f"({answer.how}).",
                "Call the tool again once that is fixed; the quote is still unused. Nothing was created.",
            )
        if (
            answer is None
            or answer.caller != current_caller().subject
            or answer.quote_id != record.quote_id
            or answer.plan_digest != record.plan_digest
        ):
            raise AckComputeError(
                f"There is no answer from the person on record for quote {record.quote_id} and this plan.",
                "Call the tool again with the quote_id so the person can be asked. Nothing was created.",
            )
        if answer.answer == "accepted":
            return True
        if answer.answer == "declined":
            self.quotes.void(record.quote_id)
            return False
        return self._nobody_asked(NO_ELICITATION, policy)

    @staticmethod
    def _nobody_asked(why: str, policy: Policy) -> bool:
        if policy == "human":
            raise AckComputeError(
                f"This server requires a person to accept the cost, and {why}.",
                "Use a client that supports elicitation, or ask the operator to set confirmation=token. Nothing was "
                "created.",
            )
        return True

    def buy(
        self,
        token: str,
        plan: P,
        *,
        claim: Claim | None = None,
        repoint: OwnedResource | None = None,
        current_hourly: Any = None,
        note: str = "",
    ) -> Bought:
        """Redeem the quote and, in the same transaction, write the row it pays for (`claim`) or point an existing
        row at it (`repoint`, a costlier update). NameBusy when the name is being created already (the quote is
        then unused)."""
        bought = Bought(redemption=None)  # type: ignore[arg-type]

        def record(db: Db, quote: QuoteRecord, now: float) -> None:
            if claim is not None:
                bought.resource_id = self.ownership.insert_claim(db, claim, quote_id=quote.quote_id)
            if repoint is not None:
                db.execute(
                    "UPDATE resources SET quote_id = :quote_id WHERE resource_id = :id",
                    {"quote_id": quote.quote_id, "id": repoint.resource_id},
                )
            paid = bought.resource_id if claim is not None else repoint.resource_id if repoint is not None else None
            operation_id = claim.operation_id if claim is not None else repoint.operation_id if repoint else None
            if paid is not None and operation_id is not None:
                bought.lease = self.leases.grant(db, paid, operation_id, quote, now)
            append_paid_receipt(
                db,
                "purchase",
                quote,
                at=now,
                operation_id=operation_id,
                resource_id=paid,
                body={
                    "note": note,
                    "lease_ends_at": bought.lease.ends_iso() if bought.lease else None,
                },
            )

        try:
            bought.redemption = self.quotes.redeem(
                token,
                plan,
                current_hourly=current_hourly,
                note=note,
                within=record,
                replacing=repoint.resource_id if repoint else None,
            )
        except Conflict:
            assert claim is not None
            raise self.ownership.busy(claim.kind, claim.region, claim.name) from None
        return bought
