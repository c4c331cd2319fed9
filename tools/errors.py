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


CloudKind = Literal["sandbox", "alibaba-cloud"]
_CLOUD_NAMES: dict[str, str] = {"sandbox": "the embedded sandbox cloud", "alibaba-cloud": "the real Alibaba Cloud"}


class CloudMismatch(AckComputeError):
    """The ledger holds another cloud's records: a server using it would count, show and act on them as its own."""

    def __init__(self, where: str, theirs: str, mine: CloudKind, *, unmarked: bool = False) -> None:
        self.theirs, self.mine = theirs, mine
        whose = (
            "holds records from before ledgers were marked with their cloud, so it is taken for the real "
            "Alibaba Cloud's"
            if unmarked
            else f"belongs to {_CLOUD_NAMES.get(theirs, repr(theirs))}"
        )
        if mine == "sandbox":
            harm = (
                "it would show the real clusters, leases and spend as the sandbox's, and its reaper and cleanup "
                "would act on them against the sandbox"
            )
            fix = (
                "Give the sandbox a state dir of its own (--state-dir), or unset ACK_COMPUTE_STATE_DIR and "
                "ACK_COMPUTE_DATABASE_URL for it: it then keeps a throwaway ledger that lasts as long as the process."
            )
        else:
            harm = (
                "the sandbox's clusters, leases and spend would count as real ones, and its reaper and cleanup "
                "would act on them in your account"
            )
            fix = (
                "Start this server on another state dir (--state-dir or ACK_COMPUTE_STATE_DIR) or database "
                "(ACK_COMPUTE_DATABASE_URL); or, as that ledger holds only sandbox records, delete it once no "
                "sandbox server uses it."
            )
        super().__init__(f"the ledger at {where} {whose}, and this server serves {_CLOUD_NAMES[mine]}: {harm}.", fix)


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


class BadSettingsFile(AckComputeError):
    """A file a setting names cannot be read or is not what it should be: the server does not start."""


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
