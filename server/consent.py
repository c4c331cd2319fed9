"""The person's yes, shared by every tool that spends: which quote to put to them, and what their answer was."""

# No `from __future__ import annotations`: CostConsent is an elicitation schema the SDK builds at runtime.
from typing import Literal

from mcp.server.elicitation import AcceptedElicitation
from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from ack_compute.server.runtime import Runtime
from ack_compute.tools.errors import QuoteRefused
from ack_compute.tools.plans import AnyPlan, normalise
from ack_compute.tools.quotes import QuotePayload

Decision = Literal["accepted", "declined", "not_asked"]


class CostConsent(BaseModel):
    accept: bool = Field(description="Create it and start paying the quoted price")


def can_elicit(ctx: Context) -> bool:
    caps = ctx.client_capabilities
    return bool(caps and caps.elicitation)


def quote_to_put(runtime: Runtime, ctx: Context, quote_token: str | None, plan: AnyPlan) -> QuotePayload | None:
    """The quote to ask the person about, or None: nobody to ask (the tool applies the policy), or a token the
    tool body refuses anyway with the precise reason (invalid, another plan's, already used or declined)."""
    if not quote_token or not can_elicit(ctx):
        return None
    try:
        payload = runtime.quotes.verify(quote_token, normalise(plan, runtime.settings.region))
    except (QuoteRefused, ValueError):
        return None
    return None if runtime.quotes.consumed(payload.quote_id) else payload


def decision(asked: bool, consent: object) -> Decision:
    """What the creating tool is told: a question the client could take was accepted or declined, or none was
    asked (the operator's confirmation policy then decides)."""
    if not asked:
        return "not_asked"
    return "accepted" if isinstance(consent, AcceptedElicitation) and consent.data.accept else "declined"
