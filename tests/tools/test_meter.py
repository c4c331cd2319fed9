"""The spend meter on a real ledger: accrual at the quoted price for the hours a resource ran, split by UTC day and
month, stopped by deletion, a finished Job or a lease's end; live leases commit the rest of their hours."""

from __future__ import annotations

import time
from decimal import Decimal

from ack_compute.tools.identity import Caller, acting_as
from ack_compute.tools.ledger import Ledger
from ack_compute.tools.meter import Meter, accrued, day_start, month_start
from ack_compute.tools.ownership import Ownership
from ack_compute.tools.plans import AcsPlan, normalise
from ack_compute.tools.purchase import Claim, Purchase
from ack_compute.tools.quotes import QuoteAmounts, QuoteBook

ALICE = Caller(subject="alice", admin=False)
BOB = Caller(subject="bob", admin=False)
NOON = day_start(time.time()) + 12 * 3600  # today 12:00 UTC: a clock far from midnight


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def plan(hours: float) -> AcsPlan:
    return normalise(AcsPlan(replicas=1, vcpu=1, memory_gib=2, hours=hours), "cn-hangzhou")


def bought(purchase: Purchase, name: str, hourly: str, hours: float, *, started: float) -> int:
    """Buy `name` at `hourly` for `hours`, as if redeemed at `started` (the ledger's row is dated then too)."""
    clock = purchase.quotes._clock
    assert isinstance(clock, Clock)
    later, clock.now = clock.now, started
    total = Decimal(hourly) * Decimal(str(hours))
    amounts = QuoteAmounts(currency="CNY", hourly=Decimal(hourly), total=total, hours=hours)
    token = purchase.quotes.issue(plan(hours), amounts).token
    resource_id = purchase.buy(token, plan(hours), claim=Claim(f"op-{name}", "deployment", "cn-hangzhou", name))
    assert resource_id.resource_id is not None
    clock.now = later
    return resource_id.resource_id


def test_accrual_splits_at_the_window_and_each_rate_change() -> None:
    segments = [(0.0, Decimal("1")), (3600.0, Decimal("3"))]  # 1/h for an hour, then 3/h
    assert accrued(segments, until=7200) == Decimal("4")
    assert accrued(segments, until=7200, since=1800) == Decimal("3.5")
    assert accrued(segments, until=1800) == Decimal("0.5")
    assert accrued(segments, until=7200, since=9000) == 0
    assert month_start(day_start(NOON)) <= day_start(NOON) <= NOON - 12 * 3600


def test_spend_today_this_month_and_what_leases_commit(ledger_url: str) -> None:
    clock = Clock(NOON)
    quotes = QuoteBook(b"k" * 32, Ledger(ledger_url), clock=clock)
    purchase = Purchase(quotes, Ownership(quotes._ledger, clock))
    meter = Meter(quotes._ledger, clock)
    with acting_as(ALICE):
        # Since 11:00 for 4 hours at 0.5/h: 0.5 accrued, 1.5 still committed by its lease.
        web = bought(purchase, "web", "0.5", 4, started=NOON - 3600)
        # Since yesterday 22:00 for 24 hours at 1/h: 12 h today (since 00:00), 10 h still to come.
        night = bought(purchase, "night", "1", 24, started=day_start(NOON) - 2 * 3600)
    with acting_as(BOB):
        bought(purchase, "bobs", "2", 1, started=NOON - 1800)
    (spend,) = meter.spend("alice").values()
    assert (spend.currency, spend.today, spend.committed) == ("CNY", Decimal("12.5"), Decimal("11.5"))
    same_month = month_start(day_start(NOON) - 2 * 3600) == month_start(NOON)
    assert spend.month == (Decimal("14.5") if same_month else Decimal("12.5"))
    assert meter.spend("bob")["CNY"].today == Decimal("1")

    # Deleted at 12:00: accrual stops there and its lease commits nothing more (even before it is released).
    purchase.ownership.update(night, state="deleted")
    clock.now = NOON + 3600
    spend = meter.spend("alice")["CNY"]
    assert (spend.today, spend.committed) == (Decimal("13"), Decimal("1")), "web: 1.0 accrued, 1.0 to come"
    assert meter.spend("alice", replacing=web)["CNY"].committed == 0, "a repointed row's lease is the new quote's"

    # A lease that ended (the reaper deleted it at 13:00) stops the accrual at its end, whatever the row says yet.
    purchase.leases.set_state(web, "ended")
    clock.now = NOON + 3 * 3600
    history = meter.history("alice")
    day = time.strftime("%Y-%m-%d", time.gmtime(NOON))
    yesterday = time.strftime("%Y-%m-%d", time.gmtime(NOON - 86400))
    assert history["days"] == [
        {"period": yesterday, "currency": "CNY", "accrued": "2.00"},
        {"period": day, "currency": "CNY", "accrued": "13.00"},
    ]
    months = {m["period"]: m["accrued"] for m in history["months"]}
    assert months[time.strftime("%Y-%m", time.gmtime(NOON))] == ("15.00" if same_month else "13.00")
    assert history["committed"] == [{"currency": "CNY", "committed": "0.00"}]
