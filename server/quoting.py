"""Paying by quote id: the plan a creating tool buys comes from the quote's ledger row, or, when the agent passes
it too, must equal it (the purchase path refuses with the differences)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import TypeAdapter

from ack_compute.server.runtime import Runtime
from ack_compute.tools.errors import AckComputeError

T = TypeVar("T")


def quoted_plan(
    runtime: Runtime, adapter: TypeAdapter[T], kinds: tuple[str, ...], tool: str, ref: str, plan: dict[str, Any] | None
) -> T | None:
    """The plan to buy: the agent's (validated) if given, else the quote's own; None with neither."""
    if plan is not None:
        return adapter.validate_python(plan)
    if not ref:
        return None
    kind, stored = runtime.quotes.plan_of(ref)
    if kind not in kinds:
        raise AckComputeError(
            f"The quote is for a {kind} plan; {tool} buys {' or '.join(kinds)} plans.",
            f"Estimate a {kinds[0]} plan and pass its quote_id. Nothing was created.",
        )
    return adapter.validate_python(stored)
