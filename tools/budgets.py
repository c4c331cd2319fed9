"""Budgets per caller: a day's and a month's spend, in the operator's budget currency.

The rule (the only one): what the caller accrued today (resp. this UTC month) + what their live leases still commit
until they end + this quote's total must stay within the budget. Leases make the sum an honest bound: nothing a
quote paid for runs past its hours unless another quote extends it. Checked when estimate_cost would issue a quote
(none is issued over a budget) and again inside the redemption's transaction, so two purchases cannot both squeeze
under it.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

REMEDY = "Choose fewer hours or smaller compute, or ask the operator to raise the budget."
# Results show budgets as JSON numbers: one past a float's range (the tokens file took 1e400) broke estimate_cost and
# list_resources for its caller. A trillion is beyond any account's spend and exact as a float to the cent.
MAX_BUDGET = Decimal("1e12")
# A budget amount wherever one is configured (tokens file, caller policy file, the server's defaults).
BudgetAmount = Annotated[Decimal, Field(gt=0, le=MAX_BUDGET)]


class CallerBudget(BaseModel):
    """What the tokens file, the caller policy file or the server's defaults say of one caller's spend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    daily_budget: BudgetAmount | None = Field(None, description="Most the caller may spend per UTC day.")
    monthly_budget: BudgetAmount | None = Field(None, description="Most the caller may spend per UTC month.")

    def over(self, defaults: CallerBudget) -> CallerBudget:
        """This caller's own limits, and the server's defaults where they give none."""
        return CallerBudget(
            daily_budget=self.daily_budget if self.daily_budget is not None else defaults.daily_budget,
            monthly_budget=self.monthly_budget if self.monthly_budget is not None else defaults.monthly_budget,
        )


class Spend(BaseModel):
    """One caller's spend in one currency: accrued today and this month (UTC), and what their live leases still
    commit until they end (tools/meter.py measures it)."""

    currency: str
    today: Decimal = Decimal(0)
    month: Decimal = Decimal(0)
    committed: Decimal = Decimal(0)


def _shown(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.01")))


def budget_violation(
    budget: CallerBudget, budget_currency: str, currency: str, total: Decimal, spend: Spend | None
) -> str | None:
    """Why a quote for `total` would take the caller over a budget (a sentence ending in what to do); None when it
    fits. `spend`: the caller's spend in `currency` (None: nothing yet)."""
    limits = [(budget.daily_budget, "today", "daily"), (budget.monthly_budget, "this month", "monthly")]
    if all(limit is None for limit, _, _ in limits):
        return None
    if currency != budget_currency:
        return f"Your budgets are in {budget_currency} but this quote is in {currency}. Ask the operator to set them."
    spend = spend or Spend(currency=currency)
    for limit, when, per in limits:
        if limit is None:
            continue
        spent = spend.today if when == "today" else spend.month
        after = spent + spend.committed + total
        if after > limit:
            return (
                f"This plan's total {total} {currency} would bring your spend {when} to "
                f"{after.quantize(Decimal('0.01'), rounding=ROUND_CEILING)} {currency}, over your {per} budget of "
                f"{limit} {currency} (spent {when} {_shown(spent)}, committed by running leases "
                f"{_shown(spend.committed)}). {REMEDY}"
            )
    return None
