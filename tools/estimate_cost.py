"""estimate_cost: price a plan and sign a quote for exactly that plan."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from ack_compute.tools.plans import (
    AnyPlan,
    ClusterPlan,
    EciPlan,
    NodePoolPlan,
    Plan,
    ServerlessPlan,
    normalise,
    plan_digest,
)
from ack_compute.tools.pricing import LineItem, Money, Pricer
from ack_compute.tools.quotes import QuoteAmounts, QuoteBook


class Budget(BaseModel):
    within_caps: bool
    max_hourly: Money | None = None
    max_per_quote: Money | None = None
    max_hourly_per_caller: Money | None = None
    daily_budget: Money | None = None  # the caller's own (or the server's default), in the operator's currency
    monthly_budget: Money | None = None
    message: str = ""


class Estimate(BaseModel):
    """A priced plan and, when it fits the operator's budget, the signed quote that pays for it."""

    plan: Plan = Field(description="The normalised plan the quote pays for.")
    plan_digest: str = Field("", exclude=True)  # the ledger's business; the agent pays by quote_id
    currency: str
    line_items: list[LineItem]
    hourly_total: Money
    hours: float
    total: Money
    assumptions: list[str]
    exclusions: list[str]
    budget: Budget
    quote_id: str | None = Field(None, description="Pass it to the creating tool; single-use, for this plan only.")
    # Old clients' signed token: still accepted, no longer shown (the quote_id names the same ledger row).
    quote_token: str | None = Field(None, exclude=True)
    issued_at: datetime | None = Field(None, exclude=True)  # expires_at is what the agent must act on
    expires_at: datetime | None = None
    next_step: str


def _creator(plan: AnyPlan) -> str:
    if isinstance(plan, ClusterPlan | ServerlessPlan):
        return "ensure_cluster"
    if isinstance(plan, EciPlan):
        return "deploy_acs on an ACK Serverless cluster"
    if isinstance(plan, NodePoolPlan):
        return f"ensure_node_pool on cluster {plan.cluster}" if plan.cluster else "ensure_node_pool"
    return "deploy_acs (or run_job with compute=acs)"


def estimate_cost(plan: AnyPlan, *, default_region: str, pricer: Pricer, quotes: QuoteBook) -> Estimate:
    plan = normalise(plan, default_region)
    pricing = pricer.price(plan)
    # The caps bound what runs: this plan next to everything live, so a plan is refused here before any quote.
    violation = quotes.over_caps(pricing.currency, pricing.hourly_total, pricing.total)
    # The caller's budgets bound what they spend: today's and this month's, plus what their leases still commit.
    over_budget = None if violation else quotes.over_budget(pricing.currency, pricing.total)
    limits = quotes.budget()
    budget = Budget(
        within_caps=violation is None and over_budget is None,
        max_hourly=quotes.caps.max_hourly,
        max_per_quote=quotes.caps.max_per_quote,
        max_hourly_per_caller=quotes.caps.max_hourly_per_caller,
        daily_budget=limits.daily_budget,
        monthly_budget=limits.monthly_budget,
        message=violation or over_budget or "",
    )
    quote = None
    if over_budget is not None:
        next_step = "No quote was issued. Tell the person why; propose fewer hours or a smaller plan, then estimate."
    elif violation is None:
        quote = quotes.issue(
            plan,
            QuoteAmounts(
                currency=pricing.currency, hourly=pricing.hourly_total, total=pricing.total, hours=pricing.hours
            ),
        )
        next_step = (
            "Show the person the line items, hourly cost and total; only on their yes call "
            f"{_creator(plan)} with this quote_id before it expires."
        )
    else:
        next_step = (
            f"This plan is over the operator's budget ({violation}); no quote was issued. Propose a smaller "
            "plan to the person and estimate again."
        )
    return Estimate(
        plan=plan,
        plan_digest=plan_digest(plan),
        **dict(pricing),  # every field of the pricing, as priced
        budget=budget,
        quote_id=quote.quote_id if quote else None,
        quote_token=quote.token if quote else None,
        issued_at=quote.issued_at if quote else None,
        expires_at=quote.expires_at if quote else None,
        next_step=next_step,
    )
