"""Signed, expiring, single-use quotes bound to one exact plan.

Token = base64url(payload) "." base64url(HMAC-SHA256(secret, domain || payload)). The payload is
verified before it is parsed, so nothing an attacker sends is interpreted unless we signed it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import stat
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ack_compute.tools.errors import AckComputeError, QuoteRefused
from ack_compute.tools.identity import current_caller
from ack_compute.tools.ledger import Ledger, secure_state_dir
from ack_compute.tools.plans import AnyPlan, canonical_json, plan_differences, plan_digest

_DOMAIN = b"ack-compute-mcp/quote/v1\x00"
_VERSION = 1
SECRET_FILE = "quote-secret"


class BudgetCaps(BaseModel):
    """The operator's limits; a quote over either one is refused, whatever the agent says."""

    model_config = ConfigDict(frozen=True)

    currency: str = "CNY"
    max_hourly: Decimal | None = None
    max_per_quote: Decimal | None = None

    def violation(self, currency: str, hourly: Decimal, total: Decimal) -> str | None:
        if self.max_hourly is None and self.max_per_quote is None:
            return None
        if currency != self.currency:
            return f"the budget caps are in {self.currency} but this quote is in {currency}"
        if self.max_hourly is not None and hourly > self.max_hourly:
            return f"hourly cost {hourly} {currency} exceeds the operator's cap of {self.max_hourly} {currency}/h"
        if self.max_per_quote is not None and total > self.max_per_quote:
            return f"total {total} {currency} exceeds the operator's cap of {self.max_per_quote} {currency} per quote"
        return None


class QuoteAmounts(BaseModel):
    """What the pricing said, the part of it a quote signs."""

    currency: str
    hourly: Decimal
    total: Decimal
    hours: float


class QuotePayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int
    quote_id: str
    plan_digest: str
    kind: str
    region: str
    currency: str
    hourly: str
    total: str
    hours: float
    issued_at: int
    expires_at: int


class Quote(BaseModel):
    quote_id: str
    plan_digest: str
    currency: str
    hourly: Decimal
    total: Decimal
    issued_at: datetime
    expires_at: datetime
    token: str


class Redemption(BaseModel):
    quote_id: str
    plan_digest: str
    currency: str
    hourly: Decimal
    total: Decimal
    redeemed_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _iso(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def load_or_create_secret(state_dir: Path) -> bytes:
    """The signing secret, created once with mode 0600; a racing second server reads the winner's."""
    path = state_dir / SECRET_FILE
    secure_state_dir(state_dir)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.fchmod(fd, 0o600)  # whatever the umask
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, 0o600)  # someone loosened it; a readable secret lets anyone mint quotes
        secret = path.read_bytes()
        if len(secret) < 32:
            raise RuntimeError(f"{path} is shorter than 32 bytes; delete it to generate a new secret") from None
        return secret
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(32))
    return path.read_bytes()


class QuoteBook:
    """Issues and redeems quotes. Redemption is atomic in the ledger: one token, one create."""

    def __init__(
        self,
        secret: bytes,
        ledger: Ledger,
        *,
        ttl_seconds: int = 900,
        caps: BudgetCaps | None = None,
        drift_tolerance: Decimal = Decimal("0.05"),
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < 32:
            raise ValueError("the quote secret must be at least 32 bytes")
        self._secret = secret
        self._ledger = ledger
        self.ttl_seconds = ttl_seconds
        self.caps = caps or BudgetCaps()
        self.drift_tolerance = drift_tolerance
        self._clock = clock

    def __repr__(self) -> str:  # never show the secret
        return f"QuoteBook(ttl={self.ttl_seconds}s, caps={self.caps!r})"

    def _sign(self, payload_b64: str) -> str:
        return _b64(hmac.new(self._secret, _DOMAIN + payload_b64.encode(), hashlib.sha256).digest())

    def issue(self, plan: AnyPlan, amounts: QuoteAmounts) -> Quote:
        now = int(self._clock())
        payload = QuotePayload(
            v=_VERSION,
            quote_id=f"q-{uuid.uuid4().hex[:20]}",
            plan_digest=plan_digest(plan),
            kind=plan.kind,
            region=plan.region or "",
            currency=amounts.currency,
            hourly=str(amounts.hourly),
            total=str(amounts.total),
            hours=amounts.hours,
            issued_at=now,
            expires_at=now + self.ttl_seconds,
        )
        body = _b64(payload.model_dump_json().encode())
        with self._ledger.transaction() as db:
            db.execute(
                "INSERT INTO quotes (quote_id, plan_digest, plan_json, kind, region, currency, hourly, total,"
                " issued_at, expires_at, owner) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    payload.quote_id,
                    payload.plan_digest,
                    canonical_json(plan),
                    plan.kind,
                    payload.region,
                    payload.currency,
                    payload.hourly,
                    payload.total,
                    payload.issued_at,
                    payload.expires_at,
                    current_caller().subject,
                ),
            )
        return Quote(
            quote_id=payload.quote_id,
            plan_digest=payload.plan_digest,
            currency=amounts.currency,
            hourly=amounts.hourly,
            total=amounts.total,
            issued_at=_iso(payload.issued_at),
            expires_at=_iso(payload.expires_at),
            token=f"{body}.{self._sign(body)}",
        )

    def verify(self, token: str, plan: AnyPlan) -> QuotePayload:
        """Every check except consumption; raises QuoteRefused with what to do next."""
        again = "Call estimate_cost with this plan for a new quote."
        parts = token.strip().split(".") if isinstance(token, str) else []
        if len(parts) != 2 or not all(parts):
            raise QuoteRefused(
                "malformed",
                "quote_token is not a quote token.",
                "Pass quote_token exactly as estimate_cost returned it, or " + again[0].lower() + again[1:],
            )
        body, signature = parts
        try:
            given = _unb64(signature)
        except (binascii.Error, ValueError):
            raise QuoteRefused("malformed", "the token's signature is not base64url.", again) from None
        expected = _unb64(self._sign(body))
        if not hmac.compare_digest(given, expected):
            raise QuoteRefused("bad_signature", "the token was not issued by this server or was altered.", again)
        try:
            payload = QuotePayload.model_validate_json(_unb64(body))
        except (ValidationError, ValueError, binascii.Error):
            raise QuoteRefused("malformed", "the token's payload is unreadable.", again) from None
        if payload.v != _VERSION:
            raise QuoteRefused("malformed", f"token version {payload.v} is not supported.", again)
        now = self._clock()
        if now >= payload.expires_at:
            ago = int(now - payload.expires_at)
            raise QuoteRefused(
                "expired",
                f"quote {payload.quote_id} expired {ago} s ago.",
                again + " Show the new quote to the person before using it.",
            )
        owner = self._ledger.query("SELECT owner FROM quotes WHERE quote_id = ?", (payload.quote_id,))
        if owner and owner[0]["owner"] != current_caller().subject:
            raise QuoteRefused(
                "not_yours",
                f"quote {payload.quote_id} was issued to another caller; a quote pays only for the person who "
                "asked for it.",
                "Call estimate_cost yourself and show that quote to your person.",
            )
        digest = plan_digest(plan)
        if digest != payload.plan_digest:
            raise QuoteRefused(
                "plan_mismatch",
                self._mismatch(payload, plan),
                "Pass the plan exactly as quoted, or call estimate_cost for the new plan "
                "and show that quote to the person.",
            )
        violation = self.caps.violation(payload.currency, Decimal(payload.hourly), Decimal(payload.total))
        if violation:
            raise QuoteRefused(
                "over_budget",
                violation + ".",
                "Choose a smaller plan (fewer or smaller nodes, fewer hours) and estimate again, "
                "or ask the operator to raise the cap.",
            )
        return payload

    def _mismatch(self, payload: QuotePayload, plan: AnyPlan) -> str:
        rows = self._ledger.query("SELECT plan_json FROM quotes WHERE quote_id = ?", (payload.quote_id,))
        if not rows:
            return f"this plan is not the plan quote {payload.quote_id} was issued for."
        diffs = plan_differences(json.loads(rows[0]["plan_json"]), plan.model_dump(mode="json"))
        return f"this plan differs from quote {payload.quote_id}: " + "; ".join(diffs) + "."

    def redeem(
        self,
        token: str,
        plan: AnyPlan,
        *,
        current_hourly: Decimal | None = None,
        note: str = "",
    ) -> Redemption:
        """Consume the quote for this plan, once. `current_hourly` (a fresh price) enables the drift check."""
        payload = self.verify(token, plan)
        quoted = Decimal(payload.hourly)
        if current_hourly is not None and current_hourly > quoted * (1 + self.drift_tolerance):
            raise QuoteRefused(
                "price_drift",
                f"the price rose from {quoted} to {current_hourly} {payload.currency}/h since the quote, more than "
                f"the {self.drift_tolerance:.0%} tolerance.",
                "Call estimate_cost again and show the new price to the person.",
            )
        now = self._clock()
        self._consume(payload, "redeemed", now, note)
        return Redemption(
            quote_id=payload.quote_id,
            plan_digest=payload.plan_digest,
            currency=payload.currency,
            hourly=quoted,
            total=Decimal(payload.total),
            redeemed_at=_iso(now),
        )

    def settle_consent(
        self,
        token: str,
        plan: AnyPlan,
        consent: Literal["accepted", "declined", "not_asked"],
        policy: Literal["token", "human"],
    ) -> bool:
        """Apply the person's answer before anything is created: False when they declined (the quote is then
        void); refuses when the operator requires a person and this client could not ask one."""
        if consent == "declined":
            self.decline(token, plan)
            return False
        if consent == "not_asked" and policy == "human":
            raise AckComputeError(
                "This server requires a person to accept the cost, and this client cannot ask one "
                "(no elicitation support).",
                "Use a client that supports elicitation, or ask the operator to set confirmation=token.",
            )
        return True

    def consumed(self, quote_id: str) -> str | None:
        """How a quote was used ('redeemed', 'declined'), or None while it is unused."""
        rows = self._ledger.query("SELECT outcome FROM quote_redemptions WHERE quote_id = ?", (quote_id,))
        return str(rows[0]["outcome"]) if rows else None

    def decline(self, token: str, plan: AnyPlan, note: str = "declined by the person") -> None:
        """A person said no: the quote is void and can never pay for anything."""
        payload = self.verify(token, plan)
        self._consume(payload, "declined", self._clock(), note)

    def _consume(self, payload: QuotePayload, outcome: str, now: float, note: str) -> None:
        try:
            with self._ledger.transaction() as db:
                db.execute(
                    "INSERT INTO quote_redemptions (quote_id, plan_digest, outcome, at, note) VALUES (?,?,?,?,?)",
                    (payload.quote_id, payload.plan_digest, outcome, now, note),
                )
        except sqlite3.IntegrityError:
            row = self._ledger.query(
                "SELECT outcome, at FROM quote_redemptions WHERE quote_id = ?", (payload.quote_id,)
            )
            when = _iso(row[0]["at"]).isoformat() if row else "earlier"
            what = row[0]["outcome"] if row else "used"
            raise QuoteRefused(
                "already_used",
                f"quote {payload.quote_id} was already {what} at {when}; a quote pays for one create only.",
                "Call estimate_cost for a new quote and show it to the person.",
            ) from None
