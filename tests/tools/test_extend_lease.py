"""extend_lease on a real ledger: the one purchase path (the quote's row, its caller, the caps without the leased row
counted twice, the person's recorded answer), the end moved and the `extension` receipt written in one transaction,
and every refusal before anything changes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ack_compute.tools import receipts
from ack_compute.tools.budgets import CallerBudget
from ack_compute.tools.errors import AckComputeError, QuoteRefused
from ack_compute.tools.extend_lease import LeaseExtender, lease_ends_at
from ack_compute.tools.identity import Caller, acting_as
from ack_compute.tools.leases import iso
from ack_compute.tools.ledger import Ledger
from ack_compute.tools.operations import UnknownOperation
from ack_compute.tools.ownership import Ownership
from ack_compute.tools.plans import AcsPlan, ClusterPlan, normalise
from ack_compute.tools.purchase import Claim, Purchase
from ack_compute.tools.quotes import BudgetCaps, QuoteAmounts, QuoteBook

ALICE = Caller(subject="alice", admin=False)
BOB = Caller(subject="bob", admin=False)
ADMIN = Caller(subject="root", admin=True)
OP = "op-0123456789abcdef"


def acs(hours: float, **fields: object) -> AcsPlan:
    spec: dict[str, object] = {"replicas": 1, "vcpu": 1, "memory_gib": 2, "hours": hours, **fields}
    return normalise(AcsPlan.model_validate(spec), "cn-hangzhou")


def price(hours: float, hourly: str = "0.5") -> QuoteAmounts:
    return QuoteAmounts(
        currency="CNY", hourly=Decimal(hourly), total=Decimal(hourly) * Decimal(str(hours)), hours=hours
    )


class World:
    """A ledger with alice's 2 h lease on a Deployment bought by OP, and a clock the test moves."""

    def __init__(self, path: Path | str, caps: BudgetCaps | None = None) -> None:
        self.now = 1_800_000_000.0
        self.quotes = QuoteBook(b"k" * 32, Ledger(path), caps=caps, clock=lambda: self.now)
        self.purchase = Purchase(self.quotes, Ownership(self.quotes._ledger))
        self.extender = LeaseExtender(self.purchase, clock=lambda: self.now)
        with acting_as(ALICE):
            bought = self.purchase.buy(
                self.quotes.issue(acs(2), price(2)).quote_id,
                acs(2),
                claim=Claim(OP, "deployment", "cn-hangzhou", "c-1/default/web"),
            )
        assert bought.lease is not None and bought.resource_id is not None
        self.lease = bought.lease
        self.row = bought.resource_id

    def quote(self, plan: AcsPlan, who: Caller = ALICE, hourly: str = "0.5") -> str:
        with acting_as(who):
            return self.quotes.issue(plan, price(plan.hours, hourly)).quote_id

    def extend(self, quote_id: str, who: Caller = ALICE, consent_id: str | None = None):  # type: ignore[no-untyped-def]
        with acting_as(who):
            return self.extender.extend(OP, quote_id, consent_id, "token")


def test_an_extension_before_the_end_moves_it_by_the_added_hours_and_writes_a_receipt(ledger_url: str) -> None:
    world = World(ledger_url)
    world.now += 3600  # an hour into the 2 h lease
    quote_id = world.quote(acs(3))
    out = world.extend(quote_id)
    assert out.status == "extended" and out.hours_added == 3 and out.cost == Decimal("1.5") and out.currency == "CNY"
    assert out.lease_ends_at == iso(world.lease.ends_at + 3 * 3600)
    assert lease_ends_at(world.quotes._ledger, OP) == out.lease_ends_at
    lease = world.purchase.leases.get(world.row)
    assert lease is not None and lease.state == "active" and lease.ends_at == world.lease.ends_at + 3 * 3600
    assert world.quotes.consumed(quote_id) == "redeemed"
    extension = [r for r in receipts.since(world.quotes._ledger) if r.event == "extension"]
    assert len(extension) == 1 and extension[0].quote_id == quote_id and extension[0].caller == "alice"
    assert extension[0].operation_id == OP and extension[0].resource_id == world.row
    assert extension[0].body["old_ends_at"] == iso(world.lease.ends_at)
    assert extension[0].body["lease_ends_at"] == out.lease_ends_at
    assert Decimal(extension[0].body["total"]) == Decimal("1.5")
    with pytest.raises(QuoteRefused, match="already_used"):
        world.extend(quote_id)


def test_without_a_quote_it_shows_the_end_and_the_plan_to_estimate(ledger_url: str) -> None:
    world = World(ledger_url)
    out = world.extend("")
    assert out.status == "quote_required" and out.lease_ends_at == world.lease.ends_iso()
    assert out.plan_to_quote == acs(1) and "hours = the hours to add" in out.message


def test_a_quote_for_another_plan_is_refused_saying_what_differs(ledger_url: str) -> None:
    world = World(ledger_url)
    quote_id = world.quote(acs(1, replicas=3))
    with pytest.raises(AckComputeError) as refused:
        world.extend(quote_id)
    assert refused.value.message == "The quote is for another plan than the lease's (replicas: lease 1, quote 3)."
    assert "estimate_cost the lease's plan with hours = the hours to add" in refused.value.next_step
    assert '"replicas":1' in refused.value.next_step and "Nothing was charged." in refused.value.next_step
    assert world.quotes.consumed(quote_id) is None
    assert world.purchase.leases.get(world.row) == world.lease
    # A quote of another kind differs in every field: the kind alone is said (it was 14 lines with the nulls).
    cluster = world.quote(
        normalise(ClusterPlan(instance_types=["ecs.g7.xlarge"], node_count=1, hours=1), "cn-hangzhou")
    )
    with pytest.raises(AckComputeError) as other_kind:
        world.extend(cluster)
    assert (
        other_kind.value.message
        == 'The quote is for another plan than the lease\'s (kind: lease "acs", quote "cluster").'
    )


def test_another_callers_operation_reads_like_an_unknown_one_and_an_admin_may_extend_it(ledger_url: str) -> None:
    world = World(ledger_url)
    bobs = world.quote(acs(1), who=BOB)
    with pytest.raises(UnknownOperation) as theirs:
        world.extend(bobs, who=BOB)
    with pytest.raises(UnknownOperation) as unknown, acting_as(BOB):
        world.extender.extend("op-ffffffffffffffff", bobs, None, "token")
    assert theirs.value.text == unknown.value.text.replace("op-ffffffffffffffff", OP)
    assert world.quotes.consumed(bobs) is None
    with pytest.raises(QuoteRefused, match="not_yours"):
        world.extend(bobs)  # alice cannot pay with bob's quote either
    out = world.extend(world.quote(acs(1), who=ADMIN), who=ADMIN)
    assert out.status == "extended" and out.lease_ends_at == iso(world.lease.ends_at + 3600)


@pytest.mark.parametrize(("state", "said"), [("ended", "has ended"), ("ending", "is ending"), ("released", "released")])
def test_a_lease_that_is_no_longer_active_is_refused(ledger_url: str, state: str, said: str) -> None:
    world = World(ledger_url)
    assert world.purchase.leases.set_state(world.row, state)  # type: ignore[arg-type]
    quote_id = world.quote(acs(1))
    with pytest.raises(AckComputeError) as refused:
        world.extend(quote_id)
    assert said in refused.value.message and refused.value.next_step.startswith("Buy a new one")
    assert world.quotes.consumed(quote_id) is None
    assert lease_ends_at(world.quotes._ledger, OP) is None


def test_a_resource_that_is_gone_has_no_lease_to_extend(ledger_url: str) -> None:
    world = World(ledger_url)
    world.purchase.ownership.update(world.row, state="deleted")
    with pytest.raises(AckComputeError, match="released"):
        world.extend(world.quote(acs(1)))


def test_a_declined_question_voids_the_quote_and_extends_nothing(ledger_url: str) -> None:
    world = World(ledger_url)
    quote_id = world.quote(acs(1))
    record = world.quotes.record(quote_id)
    assert record is not None
    with acting_as(ALICE):
        consent = world.quotes.record_consent(quote_id, record.plan_digest, "declined", "asked by elicitation")
    out = world.extend(quote_id, consent_id=consent)
    assert out.status == "declined" and out.lease_ends_at == world.lease.ends_iso()
    assert world.quotes.consumed(quote_id) == "declined"
    assert world.purchase.leases.get(world.row) == world.lease
    assert not [r for r in receipts.since(world.quotes._ledger) if r.event == "extension"]


def test_the_caps_count_the_leased_resource_once(ledger_url: str) -> None:
    world = World(ledger_url, caps=BudgetCaps(max_hourly=Decimal("0.6")))
    assert world.extend(world.quote(acs(1))).status == "extended"  # 0.5/h stands in for the lease's own 0.5/h
    with pytest.raises(QuoteRefused, match="over_budget"):
        world.extend(world.quote(acs(1), hourly="0.7"))


def test_a_lease_past_its_end_within_grace_extends_from_now(ledger_url: str) -> None:
    world = World(ledger_url)
    world.now = world.lease.ends_at + 120
    out = world.extend(world.quote(acs(1)))
    assert out.lease_ends_at == iso(world.now + 3600)


def test_an_extension_counts_what_the_lease_still_commits_against_the_budget(ledger_url: str) -> None:
    """Red team (issue 16): extension quotes taken while nothing ran each fit alice's budget; redeemed after the
    purchase, each must still count the lease's remaining commitment, or extensions take it past any budget."""
    quotes = QuoteBook(b"k" * 32, Ledger(ledger_url))  # the real clock: the meter reads row times
    purchase = Purchase(quotes, Ownership(quotes._ledger))
    extender = LeaseExtender(purchase)
    alice = Caller(subject="alice", admin=False, budget=CallerBudget(daily_budget=Decimal("1.6")))
    with acting_as(alice):
        first = quotes.issue(acs(2), price(2)).quote_id  # 1.0
        fits, too_much = quotes.issue(acs(1), price(1)).quote_id, quotes.issue(acs(2), price(2)).quote_id
        bought = purchase.buy(first, acs(2), claim=Claim(OP, "deployment", "cn-hangzhou", "c-1/default/web"))
        assert bought.lease is not None and bought.resource_id is not None
        with pytest.raises(QuoteRefused) as refused:
            extender.extend(OP, too_much, None, "token")
        assert refused.value.reason == "over_budget" and "committed by running leases 1.00" in refused.value.message
        assert quotes.consumed(too_much) is None
        assert purchase.leases.get(bought.resource_id) == bought.lease
        assert [r.event for r in receipts.since(quotes._ledger)] == ["purchase"]
        out = extender.extend(OP, fits, None, "token")  # 1.0 + 0.5 fits 1.6: the lease is counted once
    assert out.status == "extended" and out.lease_ends_at == iso(bought.lease.ends_at + 3600)
