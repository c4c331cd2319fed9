"""Leases and receipts on a real ledger: a purchase grants its lease and writes its receipt in the redemption's
transaction; a repointed row takes the new quote's lease; receipts cannot be changed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ack_compute.tools import receipts
from ack_compute.tools.identity import Caller, acting_as
from ack_compute.tools.ledger import Conflict, Ledger
from ack_compute.tools.ownership import Ownership
from ack_compute.tools.plans import AcsPlan, normalise
from ack_compute.tools.purchase import Claim, Purchase
from ack_compute.tools.quotes import QuoteAmounts, QuoteBook

PLAN = normalise(AcsPlan(replicas=1, vcpu=1, memory_gib=2), "cn-hangzhou")
ALICE = Caller(subject="alice", admin=False)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_purchase_grants_a_lease_of_the_quoted_hours_and_a_receipt(ledger_url: str) -> None:
    clock = Clock()
    quotes = QuoteBook(b"k" * 32, Ledger(ledger_url), clock=clock)
    purchase = Purchase(quotes, Ownership(quotes._ledger))
    amounts = QuoteAmounts(currency="CNY", hourly=Decimal("0.73"), total=Decimal("1.46"), hours=2)
    two_hours = normalise(AcsPlan(replicas=1, vcpu=1, memory_gib=2, hours=2), "cn-hangzhou")
    with acting_as(ALICE):
        quote = quotes.issue(two_hours, amounts)
        clock.now += 30
        bought = purchase.buy(quote.token, two_hours, claim=Claim("dp-0123456789", "deployment", "cn-hangzhou", "web"))
    lease = purchase.leases.get(bought.resource_id or 0)
    assert lease is not None and lease == bought.lease
    assert (lease.state, lease.owner, lease.hourly) == ("active", "alice", Decimal("0.73"))
    assert lease.ends_at - lease.starts_at == 7200 and lease.starts_at == clock.now
    assert lease.committed(clock.now + 3600) == Decimal("0.73")
    assert purchase.leases.due(grace_seconds=600, now=lease.ends_at + 599) == []
    assert [d.resource_id for d in purchase.leases.due(grace_seconds=600, now=lease.ends_at + 600)] == [
        lease.resource_id
    ]
    (receipt,) = receipts.since(quotes._ledger)
    assert (receipt.event, receipt.caller, receipt.quote_id) == ("purchase", "alice", quote.quote_id)
    assert receipt.body["total"] == "1.46" and receipt.body["lease_ends_at"] == lease.ends_iso()
    assert quote.token not in str(receipt.model_dump())
    with pytest.raises(Conflict, match="append-only"), quotes._ledger.transaction() as db:
        db.execute("UPDATE receipts SET caller = 'mallory'")


def test_an_extension_moves_the_end_from_the_old_end_and_only_while_active(ledger_url: str) -> None:
    clock = Clock()
    quotes = QuoteBook(b"k" * 32, Ledger(ledger_url), clock=clock)
    purchase = Purchase(quotes, Ownership(quotes._ledger))
    one_hour = QuoteAmounts(currency="CNY", hourly=Decimal("1"), total=Decimal("1"), hours=1)
    with acting_as(ALICE):
        bought = purchase.buy(
            quotes.issue(PLAN, one_hour).token, PLAN, claim=Claim("dp-0123456789", "deployment", "cn-hangzhou", "w")
        )
        extra = quotes.record(quotes.issue(PLAN, one_hour).quote_id)
    assert bought.lease is not None and extra is not None
    with quotes._ledger.transaction() as db:
        moved = purchase.leases.extend(db, bought.lease.resource_id, extra, clock.now + 60)
    assert moved.ends_at == bought.lease.ends_at + 3600
    assert purchase.leases.set_state(moved.resource_id, "ending", expect="active")
    assert not purchase.leases.set_state(moved.resource_id, "ending", expect="active"), "only one reaper starts"
    with pytest.raises(LookupError), quotes._ledger.transaction() as db:
        purchase.leases.extend(db, moved.resource_id, extra, clock.now)
