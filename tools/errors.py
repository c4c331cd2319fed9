"""Domain errors: each says what went wrong and what the agent should do next."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

from ack_compute.cloud.errors import CloudError

T = TypeVar("T")


class AckComputeError(Exception):
    """Base for errors an agent can act on; `next_step` is the instruction it should follow."""

    def __init__(self, message: str, next_step: str = "") -> None:
        self.message = message
        self.next_step = next_step
        super().__init__(self.text)

    @property
    def text(self) -> str:
        return f"{self.message} {self.next_step}".strip()


class InvalidPlan(AckComputeError):
    """The plan cannot be priced or created as given; nothing was called, nothing changed."""

    def __init__(self, field: str, message: str, next_step: str = "") -> None:
        self.field = field
        super().__init__(f"Invalid plan field `{field}`: {message}", next_step or "Fix that field and retry.")


class SecretMismatch(AckComputeError):
    """This server's quote secret is not the one the other servers on its ledger use."""

    def __init__(self, theirs: str, mine: str) -> None:
        super().__init__(
            f"the shared ledger's servers use another quote secret (fingerprint {theirs}; this one's is {mine}), so "
            "quotes and the person's answers from one would not verify on the other.",
            "Give every replica the same ACK_COMPUTE_QUOTE_SECRET. To change it for all of them, stop every replica "
            "and start the first with ACK_COMPUTE_QUOTE_SECRET_ROTATE=true (quotes issued before are then refused).",
        )


QuoteRefusalReason = Literal[
    "malformed",
    "bad_signature",
    "unknown",
    "not_yours",
    "expired",
    "plan_mismatch",
    "already_used",
    "over_budget",
    "price_drift",
    "declined",
]


class QuoteRefused(AckComputeError):
    """A quote token cannot pay for this plan; nothing was created."""

    def __init__(self, reason: QuoteRefusalReason, message: str, next_step: str) -> None:
        self.reason = reason
        super().__init__(f"Quote refused ({reason}): {message}", next_step)


class PricingUnavailable(AckComputeError):
    """Part of the plan has no known price, so no quote can be issued for it."""


class CloudFailure(AckComputeError):
    """The cloud refused or failed a call; the message carries its code and request id."""


def cloud_call(fn: Callable[[], T], next_step: str) -> T:
    """Run one cloud (or cluster API) call; its failure reaches the agent as a CloudFailure carrying the cloud's code
    and request id, with `next_step` saying what this call left undone and what to do."""
    try:
        return fn()
    except CloudError as exc:
        raise CloudFailure(str(exc), next_step) from None
