"""The person's yes, shared by every tool that spends: the full pre-check, the question, and the answer recorded.

Three resolvers run before the tool body (the SDK's Resolve chain): `precheck` runs the tool's own purchase path up
to the question (target, plan bound to it, the quote's ledger row, caps, whether the pods can run there); `ask` puts
the question when there is one and the client can ask; `record` writes what happened into the ledger (accepted,
declined, or not asked and why) and hands the body only the record's id. The body goes ahead only on a recorded
acceptance of exactly its quote, or under policy `token` when the record says the client could not ask. A failed
pre-check is recorded as "not asked" and refuses; nothing here ever turns an error into a yes.
Resolvers may re-run on every round of a multi-round call, so the question is built only from the ledger's row.
"""

# No `from __future__ import annotations`: CostConsent is an elicitation schema the SDK builds at runtime, and the
# resolvers' Annotated[..., Resolve(...)] parameters are read from their evaluated annotations.
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from mcp.server.elicitation import AcceptedElicitation, DeclinedElicitation, ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Elicit, Resolve
from pydantic import BaseModel, Field

from ack_compute.cloud.errors import CloudError
from ack_compute.server.runtime import Runtime
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.purchase import NO_ELICITATION
from ack_compute.tools.quotes import QuoteRecord

log = logging.getLogger("ack_compute.consent")


class CostConsent(BaseModel):
    accept: bool = Field(description="Create it and start paying the quoted price")


class Offer(BaseModel):
    """What the pre-check found: the question to put (with the quote it is about), or why nobody is asked."""

    has_quote: bool = False
    quote_id: str = ""
    plan_digest: str = ""
    question: str = ""
    why_not: str = ""
    hours: float = 0  # the quote's: what the lease the purchase grants will last
    issued_at: float = 0


class NotAsked(BaseModel):
    """`ask`'s answer when no question is put; never what a client can send (answers validate as CostConsent)."""

    why: str


class ConsentRef(BaseModel):
    """The id of the answer the server recorded for this call (None: the call carried no quote id)."""

    consent_id: str | None = None


def can_elicit(ctx: Context) -> bool:
    caps = ctx.client_capabilities
    return bool(caps and caps.elicitation)


def pre_check(find: Callable[[], QuoteRecord | None], question: Callable[[QuoteRecord], str]) -> Offer:
    """Run a tool's purchase path up to the question. Any failure means nobody is asked (and the tool refuses)."""
    try:
        quote = find()
    except AckComputeError as exc:
        return Offer(has_quote=True, why_not=exc.message)
    except CloudError as exc:
        return Offer(has_quote=True, why_not=f"the cloud did not answer: {exc.message}")
    except Exception as exc:  # whatever failed, the answer is "not asked", never "accepted"
        log.warning("the check before the cost question failed: %s", type(exc).__name__)
        return Offer(has_quote=True, why_not=f"the check failed ({type(exc).__name__})")
    if quote is None:
        return Offer(has_quote=True, why_not="the check found nothing to buy")
    return Offer(
        has_quote=True,
        quote_id=quote.quote_id,
        plan_digest=quote.plan_digest,
        question=question(quote),
        hours=quote.hours,
        issued_at=quote.issued_at,
    )


def cost_words(q: QuoteRecord, bound: str = "about") -> str:
    """`H CUR/h, about T CUR for N h (quote ID)`: the price part of every cost question."""
    return f"{q.hourly} {q.currency}/h, {bound} {q.total} {q.currency} for {q.hours:g} h (quote {q.quote_id})"


def utc_time(ts: float, since: float) -> str:
    """`20:15 UTC`, with the date when it is not `since`'s day."""
    at = datetime.fromtimestamp(ts, UTC)
    same_day = at.date() == datetime.fromtimestamp(since, UTC).date()
    return at.strftime("%H:%M UTC" if same_day else "%Y-%m-%d %H:%M UTC")


def lease_words(settings: object, ends_at: float, hours: float, since: float) -> str:
    """What the person is told about the lease a purchase grants (server/settings.py lease_policy; the defaults hold
    until the reaper's settings exist). Stable across the rounds of one question: computed from the quote's row."""
    policy = getattr(settings, "lease_policy", "delete")
    if policy == "off":
        return "It bills until cleanup removes it."
    until = f"It runs until about {utc_time(ends_at, since)} ({hours:g} h), then"
    if policy == "warn":
        return f"{until} keeps billing until cleanup (the server only warns)."
    return f"{until} is deleted unless extended."


def quoted_offer(
    ref: str, buy: Callable[[], tuple[Any, QuoteRecord | None]], question: Callable[[Any, QuoteRecord], str]
) -> Offer:
    """A spending tool's precheck: no quote reference asks nothing; else `buy` finds what is bought and its quote,
    and `question` words both for the person (through `pre_check`)."""
    if not ref:
        return Offer()
    held: dict[str, Any] = {}

    def find() -> QuoteRecord | None:
        held["what"], quote = buy()
        return quote

    return pre_check(find, lambda q: question(held["what"], q))


def consent_resolver(runtime: Runtime, precheck: Callable[..., Offer], lease: bool = True) -> Callable[..., ConsentRef]:
    """The resolver a spending tool's `consent` parameter uses, built on that tool's own `precheck` resolver. With
    `lease`, the question ends with when the lease the purchase grants ends (counted from the quote's issue: the
    lease starts at redemption, later, so the person is never told a later end than the real one)."""

    def ask(ctx: Context, offer: Annotated[Offer, Resolve(precheck)]) -> Elicit[CostConsent] | NotAsked:
        if not offer.question:
            return NotAsked(why=offer.why_not or "no quote")
        if not can_elicit(ctx):
            return NotAsked(why=NO_ELICITATION)
        question = offer.question
        if lease:
            end = offer.issued_at + offer.hours * 3600
            question += " " + lease_words(runtime.settings, end, offer.hours, offer.issued_at)
        return Elicit(question, CostConsent)

    def record(
        offer: Annotated[Offer, Resolve(precheck)],
        answer: Annotated[ElicitationResult[Any], Resolve(ask)],
    ) -> ConsentRef:
        if not offer.has_quote:
            return ConsentRef()
        if isinstance(answer, AcceptedElicitation) and isinstance(answer.data, NotAsked):
            verdict, how = "not_asked", answer.data.why
        elif isinstance(answer, AcceptedElicitation) and isinstance(answer.data, CostConsent) and answer.data.accept:
            verdict, how = "accepted", "asked by elicitation"
        else:
            what = "declined" if isinstance(answer, DeclinedElicitation) else getattr(answer, "action", "declined")
            verdict, how = "declined", f"asked by elicitation: {what}"
        consent_id = runtime.quotes.record_consent(offer.quote_id, offer.plan_digest, verdict, how)  # type: ignore[arg-type]
        return ConsentRef(consent_id=consent_id)

    return record
