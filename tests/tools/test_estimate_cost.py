"""estimate_cost end to end in-process: a quote that the quote book accepts for exactly this plan."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from ack_compute.server.runtime import Runtime
from ack_compute.tools.errors import QuoteRefused
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.plans import ClusterPlan, ServerlessPlan


def test_estimate_issues_a_redeemable_quote(runtime: Runtime) -> None:
    plan = ClusterPlan(edition="pro", instance_types=["ecs.g7.xlarge"], node_count=2, hours=3)
    est = estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
    assert est.plan.region == "cn-hangzhou", "the echoed plan is normalised"
    assert est.quote_token and est.quote_id and est.expires_at and est.budget.within_caps
    assert "ensure_cluster" in est.next_step and "only on their yes" in est.next_step and "quote_id" in est.next_step
    data = est.model_dump(mode="json")
    assert "quote_token" not in data and "plan_digest" not in data  # kept inside, never shown to the agent
    assert isinstance(data["hourly_total"], float) and isinstance(data["line_items"][0]["unit_price"], float)
    redemption = runtime.quotes.redeem(est.quote_id or "", est.plan)  # the short id pays, as the token still does
    assert redemption.total == est.total
    # The agent may also pass back the plan as it first wrote it: same defaults, same digest.
    est2 = estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
    assert runtime.quotes.redeem(est2.quote_token or "", plan.model_copy(update={"region": "cn-hangzhou"}))


def test_over_budget_plan_is_priced_but_gets_no_token(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime(max_hourly=Decimal("5"))
    plan = ClusterPlan(instance_types=["ecs.g7.2xlarge"], node_count=10)
    est = estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
    assert est.hourly_total > 5 and est.quote_token is None and not est.budget.within_caps
    assert "5 CNY/h" in est.budget.message and "smaller plan" in est.next_step
    assert runtime.ledger.query("SELECT count(*) AS n FROM quotes")[0]["n"] == 0


def test_quote_survives_a_restart_but_not_a_replay(make_runtime: Callable[..., Runtime]) -> None:
    first = make_runtime()
    plan = ClusterPlan(instance_types=["ecs.c7.large"], node_count=1)
    est = estimate_cost(plan, default_region="cn-hangzhou", pricer=first.pricer, quotes=first.quotes)
    second = make_runtime()  # another server on the same state dir
    second.quotes.redeem(est.quote_token or "", est.plan)
    with pytest.raises(QuoteRefused) as info:
        first.quotes.redeem(est.quote_token or "", est.plan)
    assert info.value.reason == "already_used"


def test_serverless_estimates_quote_the_cluster_alone(runtime: Runtime) -> None:
    basic = estimate_cost(
        ServerlessPlan(hours=4), default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes
    )
    assert isinstance(basic.plan, ServerlessPlan) and basic.plan.region == "cn-hangzhou"
    assert basic.hourly_total == 0 and basic.total == 0 and basic.line_items == []
    assert basic.quote_token and "ensure_cluster" in basic.next_step, "even a free cluster is created with a quote"
    assert any("acs plan" in a for a in basic.assumptions) and any("no node costs" in a for a in basic.assumptions)
    assert basic.model_dump(mode="json")["plan"]["kind"] == "serverless"
    pro = estimate_cost(
        ServerlessPlan(edition="pro", hours=4),
        default_region="cn-hangzhou",
        pricer=runtime.pricer,
        quotes=runtime.quotes,
    )
    assert pro.hourly_total == Decimal("0.64") and pro.total == Decimal("2.56")
    assert runtime.quotes.redeem(pro.quote_token or "", pro.plan).total == Decimal("2.56")
