"""Budgets per caller: today's (this month's) accrued + what live leases commit + the new quote's total must stay
within the caller's budget. estimate_cost issues no quote over it; redemption checks again in its transaction."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from decimal import Decimal

import pytest
from pydantic import ValidationError

from ack_compute.server.runtime import Runtime
from ack_compute.tools.budgets import MAX_BUDGET, CallerBudget
from ack_compute.tools.errors import QuoteRefused
from ack_compute.tools.estimate_cost import Estimate, estimate_cost
from ack_compute.tools.identity import Caller, acting_as
from ack_compute.tools.ledger import Ledger
from ack_compute.tools.meter import day_start
from ack_compute.tools.ownership import Ownership
from ack_compute.tools.plans import AcsPlan, ClusterPlan, normalise
from ack_compute.tools.purchase import Claim, Purchase
from ack_compute.tools.quotes import BudgetCaps, QuoteAmounts, QuoteBook
from tests.conftest import RuntimeFactory
from tests.helpers.racing import at_once, purchase_outcome

SMALL = ClusterPlan(instance_types=["ecs.g7.large"], node_count=1, zone="cn-hangzhou-h", hours=2)
ONE_A_DAY = Caller(subject="alice", admin=False, budget=CallerBudget(daily_budget=Decimal("1")))
PLAN = normalise(AcsPlan(replicas=1, vcpu=1, memory_gib=2), "cn-hangzhou")


def estimate(runtime: Runtime, plan: ClusterPlan = SMALL) -> Estimate:
    return estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)


def test_a_daily_budget_of_1_gets_no_quote_for_2_hours_at_0_73(runtime: Runtime) -> None:
    with acting_as(ONE_A_DAY):
        refused = estimate(runtime)
        one_hour = estimate(runtime, SMALL.model_copy(update={"hours": 1}))
    assert (refused.hourly_total, refused.total) == (Decimal("0.7267"), Decimal("1.4534"))
    assert refused.quote_id is None and refused.quote_token is None and refused.expires_at is None
    assert refused.budget.within_caps is False and refused.budget.daily_budget == Decimal("1")
    assert refused.budget.message == (
        "This plan's total 1.4534 CNY would bring your spend today to 1.46 CNY, over your daily budget of 1 CNY "
        "(spent today 0.00, committed by running leases 0.00). Choose fewer hours or smaller compute, or ask the "
        "operator to raise the budget."
    )
    assert refused.next_step.startswith("No quote was issued.")
    assert runtime.ledger.query("SELECT COUNT(*) AS n FROM quotes WHERE owner = 'alice'")[0]["n"] == 1
    assert one_hour.quote_id and one_hour.total == Decimal("0.7267"), "one hour fits"
    with acting_as(Caller(subject="bob", admin=False)):
        assert estimate(runtime).quote_id, "bob has no budget of his own and the server sets none"


def test_the_servers_defaults_apply_to_the_local_operator_and_a_callers_own_budget_wins(
    make_runtime: RuntimeFactory,
) -> None:
    runtime = make_runtime(daily_budget=Decimal("1"), monthly_budget=Decimal("50"))
    assert estimate(runtime).quote_id is None, "the local operator (stdio) has the server's daily budget"
    generous = Caller(subject="carol", admin=False, budget=CallerBudget(daily_budget=Decimal("5")))
    with acting_as(generous):
        fits = estimate(runtime)
        month = estimate(runtime, SMALL.model_copy(update={"hours": 80}))
    assert fits.quote_id and (fits.budget.daily_budget, fits.budget.monthly_budget) == (Decimal("5"), Decimal("50"))
    assert month.quote_id is None and "over your daily budget of 5 CNY" in month.budget.message
    with acting_as(Caller(subject="carol", admin=False, budget=CallerBudget(daily_budget=Decimal("100")))):
        month = estimate(runtime, SMALL.model_copy(update={"hours": 80}))
    assert month.budget.message.startswith(
        "This plan's total 58.1360 CNY would bring your spend this month to 58.14 CNY, over your monthly budget of "
        "50 CNY (spent this month 0.00,"
    )


class Clock:
    def __init__(self) -> None:
        self.now = day_start(time.time()) + 12 * 3600

    def __call__(self) -> float:
        return self.now


def amounts(hourly: str, hours: float) -> QuoteAmounts:
    total = Decimal(hourly) * Decimal(str(hours))
    return QuoteAmounts(currency="CNY", hourly=Decimal(hourly), total=total, hours=hours)


def test_what_ran_today_and_what_leases_commit_count_and_redemption_checks_again(ledger_url: str) -> None:
    clock = Clock()
    caps = BudgetCaps(budgets=CallerBudget(daily_budget=Decimal("2")))
    quotes = QuoteBook(b"k" * 32, Ledger(ledger_url), ttl_seconds=3600, caps=caps, clock=clock)
    purchase = Purchase(quotes, Ownership(quotes._ledger, clock))
    alice = Caller(subject="alice", admin=False)
    with acting_as(alice):
        first = quotes.issue(PLAN, amounts("0.75", 1)).token
        early = quotes.issue(PLAN, amounts("0.75", 2)).token  # fits now: 0.75 + 1.50 > 2, but nothing runs yet
        purchase.buy(first, PLAN, claim=Claim("op-a", "deployment", "cn-hangzhou", "a"))
        clock.now += 1800  # half an hour later: 0.375 ran, 0.375 still committed by its lease
        assert quotes.over_budget("CNY", Decimal("1.5")) == (
            "This plan's total 1.5 CNY would bring your spend today to 2.25 CNY, over your daily budget of 2 CNY "
            "(spent today 0.38, committed by running leases 0.38). Choose fewer hours or smaller compute, or ask the "
            "operator to raise the budget."
        )
        assert quotes.over_budget("CNY", Decimal("1.25")) is None, "exactly the budget fits"
        with pytest.raises(QuoteRefused) as refused:
            purchase.buy(early, PLAN, claim=Claim("op-b", "deployment", "cn-hangzhou", "b"))
    assert refused.value.reason == "over_budget" and refused.value.text == (
        "Quote refused (over_budget): This plan's total 1.50 CNY would bring your spend today to 2.25 CNY, over "
        "your daily budget of 2 CNY (spent today 0.38, committed by running leases 0.38). Choose fewer hours or "
        "smaller compute, or ask the operator to raise the budget."
    )
    assert quotes.consumed(quotes.quote_id_of(early)) is None, "a refused purchase spends nothing"
    with acting_as(Caller(subject="bob", admin=False)):
        assert quotes.over_budget("CNY", Decimal("2")) is None, "alice's spend is hers"
    with acting_as(alice):
        assert quotes.over_budget("USD", Decimal("1")) == (
            "Your budgets are in CNY but this quote is in USD. Ask the operator to set them."
        )


def test_concurrent_purchases_cannot_both_squeeze_under_a_budget(ledger_url: str) -> None:
    path = ledger_url
    caller = Caller(subject="alice", admin=False, budget=CallerBudget(daily_budget=Decimal("1.6")))
    with acting_as(caller):
        issuer = QuoteBook(b"k" * 32, Ledger(path))
        tokens = [issuer.issue(PLAN, amounts("0.75", 1)).token for _ in range(6)]

    def prepare(i: int, token: str) -> Callable[[], str]:
        quotes = QuoteBook(b"k" * 32, Ledger(path))  # own connection, like another server on the state dir
        purchase = Purchase(quotes, Ownership(quotes._ledger))

        def act() -> str:
            with acting_as(caller):
                claim = Claim(f"op-{i}", "deployment", "cn-hangzhou", f"d{i}")
                return purchase_outcome(lambda: purchase.buy(token, PLAN, claim=claim))

        return act

    outcomes = at_once(tokens, prepare)
    assert sorted(outcomes) == ["ok", "ok", *["over_budget"] * 4]


def test_a_budget_past_what_results_can_show_is_refused_where_it_is_configured(runtime: Runtime) -> None:
    """Red team (issue 16): `daily_budget: 1e400` was accepted, then every estimate_cost and list_resources of that
    caller failed (results show budgets as JSON numbers, and 1e400 is no float). The largest accepted one shows."""
    with pytest.raises(ValidationError, match=r"daily_budget\n  Input should be less than or equal to 1E\+12"):
        CallerBudget(daily_budget=Decimal("1e400"))
    with acting_as(Caller(subject="dana", admin=False, budget=CallerBudget(daily_budget=MAX_BUDGET))):
        fits = estimate(runtime)
    assert fits.quote_id and math.isfinite(json.loads(fits.model_dump_json())["budget"]["daily_budget"])
