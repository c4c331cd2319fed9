"""Signed, expiring, single-use quotes bound to one exact plan.

Token = base64url(payload) "." base64url(HMAC-SHA256(secret, domain || payload)). The payload is
verified before it is parsed, so nothing an attacker sends is interpreted unless we signed it. Even then the token
is only a reference: plan, amounts, owner, region and expiry are read from the quote's row in this ledger, so a token
from another server sharing the secret, or one forged by whoever read the secret, pays for nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ack_compute.tools import receipts
from ack_compute.tools.budgets import REMEDY, CallerBudget, budget_violation
from ack_compute.tools.errors import QuoteRefused, SecretMismatch
from ack_compute.tools.identity import current_caller
from ack_compute.tools.leases import iso
from ack_compute.tools.ledger import Db, Ledger, secure_state_dir
from ack_compute.tools.meter import Meter
from ack_compute.tools.plans import AnyPlan, canonical_json, plan_differences, plan_digest

_DOMAIN = b"ack-compute-mcp/quote/v1\x00"
_VERSION = 1
SECRET_FILE = "quote-secret"
QUOTE_ID = re.compile(r"q-[0-9a-f]{20}")  # what issue() mints: 80 random bits, and the row is bound to its caller


class Running(BaseModel):
    """What this server created that is still live, priced by the quotes that paid for it."""

    hourly: Decimal = Decimal(0)
    caller_hourly: Decimal = Decimal(0)
    items: list[str] = []
    caller_items: list[str] = []


class BudgetCaps(BaseModel):
    """The operator's limits on what runs, and the per-caller budgets that apply where a caller has none of their
    own; a purchase over any one is refused, whatever the agent says."""

    model_config = ConfigDict(frozen=True)

    currency: str = "CNY"
    max_hourly: Decimal | None = None
    max_per_quote: Decimal | None = None
    max_hourly_per_caller: Decimal | None = None
    budgets: CallerBudget = CallerBudget()

    def violation(self, currency: str, hourly: Decimal, total: Decimal, running: Running | None = None) -> str | None:
        """Why this purchase, on top of everything live, breaks a cap; None when it fits."""
        if self.max_hourly is None and self.max_per_quote is None and self.max_hourly_per_caller is None:
            return None
        if currency != self.currency:
            return f"the budget caps are in {self.currency} but this quote is in {currency}"
        running = running or Running()
        for cap, live, items, whose in (
            (self.max_hourly, running.hourly, running.items, "running on this server"),
            (self.max_hourly_per_caller, running.caller_hourly, running.caller_items, "running for you"),
        ):
            if cap is not None and hourly + live > cap:
                what = (
                    f"; already {whose}: {live} {currency}/h ({', '.join(items)})" if items else f"; nothing is {whose}"
                )
                per = " per caller" if whose == "running for you" else ""
                return (
                    f"hourly cost {hourly} {currency} plus what runs makes {hourly + live} {currency}/h, over the "
                    f"operator's cap of {cap} {currency}/h{per}{what}"
                )
        # A quote's total is an honest bound: its lease ends what it bought when the quoted hours run out.
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


class QuoteRecord(BaseModel):
    """A quote as the ledger holds it: the only truth about what it pays for, for whom, and until when."""

    quote_id: str
    plan_digest: str
    plan: dict[str, Any]
    kind: str
    region: str
    currency: str
    hourly: Decimal
    total: Decimal
    hours: float
    issued_at: float
    expires_at: float
    owner: str


class ConsentRecord(BaseModel):
    """What the person answered (or why nobody was asked), recorded by the server when it asked."""

    consent_id: str
    quote_id: str
    caller: str
    plan_digest: str
    answer: Literal["accepted", "declined", "not_asked"]
    how: str
    at: float


class Redemption(BaseModel):
    quote_id: str
    plan_digest: str
    currency: str
    hourly: Decimal
    total: Decimal
    redeemed_at: datetime


# A redemption's fields but its time are the quote record's, as recorded.
REDEEMED_FIELDS = set(Redemption.model_fields) - {"redeemed_at"}


def priced(record: QuoteRecord) -> dict[str, Any]:
    """What a receipt says of a quote: its plan and price, never its token."""
    return {
        "kind": record.kind,
        "region": record.region,
        "plan": record.plan,
        "currency": record.currency,
        "hourly": str(record.hourly),
        "total": str(record.total),
        "hours": record.hours,
    }


def append_paid_receipt(
    db: Db,
    event: Literal["purchase", "extension"],
    quote: QuoteRecord,
    *,
    at: float,
    operation_id: str | None,
    resource_id: int | None,
    body: dict[str, Any],
) -> None:
    """A purchase and an extension are both paid by a quote: the receipt names its owner and id and states its price."""
    receipts.append(
        db,
        event,
        at=at,
        caller=quote.owner,
        quote_id=quote.quote_id,
        operation_id=operation_id,
        resource_id=resource_id,
        body={**priced(quote), **body},
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# A purchase's note as the tools write it ("deploy_acs web op-..."): what a spent quote paid for.
_PAID_FOR = re.compile(r"^(?P<tool>[a-z_]+)(?: (?P<what>.+?))? (?P<op>(?:op|cl)-[0-9a-f]{6,32})$")


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
        self.meter = Meter(ledger, clock)

    def __repr__(self) -> str:  # never show the secret
        return f"QuoteBook(ttl={self.ttl_seconds}s, caps={self.caps!r})"

    def derived_key(self, purpose: str) -> bytes:
        """A key for `purpose` derived from the quote secret (HMAC-SHA256 under its own label, never the secret
        itself): every server that shares the secret, as replicas must to honour each other's quotes, shares it."""
        return hmac.new(self._secret, b"ack-compute-mcp/derived/" + purpose.encode() + b"\x00", hashlib.sha256).digest()

    def secret_fingerprint(self) -> str:
        """Says which secret this is without saying anything of it (a derived key's first bytes)."""
        return self.derived_key("ledger-fingerprint/v1")[:6].hex()

    def agree_on_secret(self, *, rotate: bool = False) -> None:
        """Servers sharing a ledger must share the quote secret: the first records its fingerprint in the ledger;
        any other with a different one is refused (SecretMismatch) unless `rotate`, which records the new one."""
        mine, now = self.secret_fingerprint(), self._clock()
        with self._ledger.transaction() as db:
            row = db.execute("SELECT value FROM ledger_facts WHERE name = 'quote_secret'").fetchone()
            if row is not None and row["value"] != mine and not rotate:
                raise SecretMismatch(row["value"], mine)
            db.execute(
                "INSERT INTO ledger_facts (name, value, updated_at) VALUES ('quote_secret', :value, :now)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                {"value": mine, "now": now},
            )

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
                " issued_at, expires_at, owner) VALUES (:quote_id, :plan_digest, :plan_json, :kind, :region, :currency,"
                " :hourly, :total, :issued_at, :expires_at, :owner)",
                {
                    "quote_id": payload.quote_id,
                    "plan_digest": payload.plan_digest,
                    "plan_json": canonical_json(plan),
                    "kind": plan.kind,
                    "region": payload.region,
                    "currency": payload.currency,
                    "hourly": payload.hourly,
                    "total": payload.total,
                    "issued_at": payload.issued_at,
                    "expires_at": payload.expires_at,
                    "owner": current_caller().subject,
                },
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

    def quote_id_of(self, token: str) -> str:
        """The quote a reference names: a quote id as estimate_cost returns it (the ledger's row is the truth, bound
        to its caller), or an old client's signed token once its signature holds (its payload is never an authority
        on amounts)."""
        again = "Call estimate_cost with this plan for a new quote."
        if isinstance(token, str) and QUOTE_ID.fullmatch(token.strip()):
            return token.strip()
        parts = token.strip().split(".") if isinstance(token, str) else []
        if len(parts) != 2 or not all(parts):
            raise QuoteRefused(
                "malformed",
                "this is not a quote id.",
                "Pass quote_id exactly as estimate_cost returned it (q-...), or " + again[0].lower() + again[1:],
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
        return payload.quote_id

    def record(self, quote_id: str) -> QuoteRecord | None:
        rows = self._ledger.query("SELECT * FROM quotes WHERE quote_id = :q", {"q": quote_id})
        if not rows:
            return None
        row = rows[0]
        plan = json.loads(row["plan_json"])
        return QuoteRecord(
            quote_id=row["quote_id"],
            plan_digest=row["plan_digest"],
            plan=plan,
            kind=row["kind"],
            region=row["region"],
            currency=row["currency"],
            hourly=Decimal(row["hourly"]),
            total=Decimal(row["total"]),
            hours=float(plan.get("hours", 0)),
            issued_at=row["issued_at"],
            expires_at=row["expires_at"],
            owner=row["owner"],
        )

    def _issued(self, token: str) -> tuple[str, QuoteRecord]:
        """The quote id `token` names and its ledger row; refused as `unknown` when this server never issued it."""
        quote_id = self.quote_id_of(token)
        record = self.record(quote_id)
        if record is None:
            raise QuoteRefused(
                "unknown",
                f"quote {quote_id} is not in this server's ledger: this server never issued it.",
                "Call estimate_cost on this server and show that quote to the person.",
            )
        return quote_id, record

    def plan_of(self, token: str) -> tuple[str, dict[str, Any]]:
        """The kind and plan a quote was issued for, so a creating tool can pay by quote id alone. Only the caller the
        quote was issued to may read it; every other check happens when it is used."""
        quote_id, record = self._issued(token)
        if record.owner != current_caller().subject:
            raise QuoteRefused(
                "not_yours",
                f"quote {quote_id} was issued to another caller; a quote pays only for the person who asked for it.",
                "Call estimate_cost yourself and show that quote to your person.",
            )
        return record.kind, record.plan

    def verify(self, token: str, plan: AnyPlan, *, replacing: int | None = None, extends: bool = False) -> QuoteRecord:
        """Every check except the atomic consumption, on the ledger's row; raises QuoteRefused with what to do.
        `replacing`: the resource this purchase replaces the price of (a costlier update), left out of the caps.
        `extends`: the quote adds hours to `replacing`'s lease (extend_lease), so what that lease still commits
        stays in the caller's budget (left out, every extension would fit a budget however far it took the lease)."""
        again = "Call estimate_cost with this plan for a new quote."
        quote_id, record = self._issued(token)
        now = self._clock()
        if now >= record.expires_at:
            ago = int(now - record.expires_at)
            raise QuoteRefused(
                "expired",
                f"quote {quote_id} expired {ago} s ago.",
                again + " Show the new quote to the person before using it.",
            )
        if record.owner != current_caller().subject:
            raise QuoteRefused(
                "not_yours",
                f"quote {quote_id} was issued to another caller; a quote pays only for the person who asked for it.",
                "Call estimate_cost yourself and show that quote to your person.",
            )
        if plan_digest(plan) != record.plan_digest:
            diffs = plan_differences(record.plan, plan.model_dump(mode="json"))
            raise QuoteRefused(
                "plan_mismatch",
                f"this plan differs from quote {quote_id}: " + "; ".join(diffs) + ".",
                "Pass the plan exactly as quoted, or call estimate_cost for the new plan "
                "and show that quote to the person.",
            )
        self._refuse_if_used(quote_id)
        self._refuse_over_caps(record, self.running(replacing=replacing))
        self._refuse_over_budget(record, replacing=None if extends else replacing)
        return record

    def running(self, db: Db | None = None, *, replacing: int | None = None) -> Running:
        """Everything live this server created, priced by the quote that paid for it (but `replacing`)."""
        sql = (
            "SELECT r.kind, r.name, r.owner, q.hourly, q.currency FROM resources r JOIN quotes q"
            " ON q.quote_id = r.quote_id WHERE r.origin = 'created' AND r.state NOT IN ('deleted', 'abandoned',"
            " 'finished') AND r.resource_id != :replacing ORDER BY r.resource_id"
        )
        params = {"replacing": -1 if replacing is None else replacing}
        rows = db.execute(sql, params).fetchall() if db is not None else self._ledger.query(sql, params)
        caller = current_caller()
        out = Running()
        others: dict[str, tuple[int, Decimal]] = {}  # currency -> how many, their hourly
        for row in rows:
            hourly = Decimal(row["hourly"])
            item = f"{row['kind']} {row['name'].rsplit('/', 1)[-1]} {hourly} {row['currency']}/h"
            out.hourly += hourly
            if caller.sees(row["owner"]):
                out.items.append(item)
            else:  # counted against the server's cap, but another caller's names and prices are theirs alone
                count, total = others.get(row["currency"], (0, Decimal(0)))
                others[row["currency"]] = (count + 1, total + hourly)
            if row["owner"] == caller.subject:
                out.caller_hourly += hourly
                out.caller_items.append(item)
        for currency, (count, total) in others.items():
            out.items.append(f"{count} resource{'s' if count > 1 else ''} of other callers {total} {currency}/h")
        return out

    def over_caps(self, currency: str, hourly: Decimal, total: Decimal) -> str | None:
        """For estimate_cost: why a new quote for this price could not run next to what runs now."""
        return self.caps.violation(currency, hourly, total, self.running())

    def budget(self) -> CallerBudget:
        """The current caller's budgets: their own, else the server's defaults."""
        return current_caller().budget.over(self.caps.budgets)

    def over_budget(
        self, currency: str, total: Decimal, db: Db | None = None, *, replacing: int | None = None
    ) -> str | None:
        """Why a quote for `total` would take the current caller over their daily or monthly budget (tools/budgets.py);
        None when it fits. Within `db`, inside a redemption's transaction."""
        budget = self.budget()
        if budget.daily_budget is None and budget.monthly_budget is None:
            return None
        spend = self.meter.spend(current_caller().subject, db, replacing=replacing).get(currency)
        return budget_violation(budget, self.caps.currency, currency, total, spend)

    def _refuse_over_budget(self, record: QuoteRecord, db: Db | None = None, *, replacing: int | None = None) -> None:
        violation = self.over_budget(record.currency, record.total, db, replacing=replacing)
        if violation:
            raise QuoteRefused("over_budget", violation.removesuffix(" " + REMEDY), REMEDY)

    def _refuse_over_caps(self, record: QuoteRecord, running: Running) -> None:
        violation = self.caps.violation(record.currency, record.hourly, record.total, running)
        if violation:
            raise QuoteRefused(
                "over_budget",
                violation + ".",
                "Choose a smaller plan (fewer or smaller nodes or pods), stop something with cleanup, or ask the "
                "operator to raise the cap; then estimate again.",
            )

    def _refuse_if_used(self, quote_id: str) -> None:
        row = self._ledger.query("SELECT outcome, at, note FROM quote_redemptions WHERE quote_id = :q", {"q": quote_id})
        if row:
            raise self._used(quote_id, row[0]["outcome"], row[0]["at"], row[0]["note"])

    def _used(self, quote_id: str, what: str, at: float, note: str | None) -> QuoteRefused:
        """Says what the quote paid for (the purchase's note names the tool, what and the operation): an agent whose
        first answer was lost follows that operation instead of buying, and running, it all again. An id that names
        no operation (deploy_acs without an add-on to install runs none) is not offered to get_operation."""
        paid = _PAID_FOR.match(note or "") if what == "redeemed" else None
        bought, step = "", "Call estimate_cost for a new quote and show it to the person."
        if paid:
            made = " ".join(filter(None, (paid["tool"], paid["what"])))
            ran = self._ledger.query("SELECT 1 FROM operations WHERE operation_id = :op", {"op": paid["op"]})
            bought = f" ({made}, operation {paid['op']})" if ran else f" ({made})"
            see = f"get_operation {paid['op']} shows where it stands" if ran else f"{made} again shows it"
            step = f"If that was this request, {see}; otherwise c{step[1:]}"
        return QuoteRefused(
            "already_used",
            f"quote {quote_id} was already {what} at {iso(at)}{bought}; a quote pays for one create only.",
            step,
        )

    def redeem(
        self,
        token: str,
        plan: AnyPlan,
        *,
        current_hourly: Decimal | None = None,
        note: str = "",
        within: Callable[[Db, QuoteRecord, float], None] | None = None,
        replacing: int | None = None,
        extends: bool = False,
    ) -> Redemption:
        """Consume the quote for this plan, once. In the same transaction the caps are checked against what runs
        and `within` records what the quote pays for (its ledger row), so two purchases cannot both squeeze under a
        cap. `current_hourly` (a fresh price) enables the drift check."""
        record = self.verify(token, plan, replacing=replacing, extends=extends)
        if current_hourly is not None and current_hourly > record.hourly * (1 + self.drift_tolerance):
            raise QuoteRefused(
                "price_drift",
                f"the price rose from {record.hourly} to {current_hourly} {record.currency}/h since the quote, more "
                f"than the {self.drift_tolerance:.0%} tolerance.",
                "Call estimate_cost again and show the new price to the person.",
            )
        now = self._clock()
        with self._ledger.transaction() as db:
            self._insert_outcome(db, record, "redeemed", now, note)
            self._refuse_over_caps(record, self.running(db, replacing=replacing))
            self._refuse_over_budget(record, db, replacing=None if extends else replacing)
            if within is not None:
                within(db, record, now)
        return Redemption(**record.model_dump(include=REDEEMED_FIELDS), redeemed_at=_iso(now))

    def consumed(self, quote_id: str) -> str | None:
        """How a quote was used ('redeemed', 'declined'), or None while it is unused."""
        rows = self._ledger.query("SELECT outcome FROM quote_redemptions WHERE quote_id = :q", {"q": quote_id})
        return str(rows[0]["outcome"]) if rows else None

    def decline(self, token: str, plan: AnyPlan, note: str = "declined by the person") -> None:
        """A person said no: the quote is void and can never pay for anything."""
        self.void(self.verify(token, plan).quote_id, note)

    def void(self, quote_id: str, note: str = "declined by the person") -> None:
        """Make a quote unusable (a declined question); a quote already used stays as it was."""
        record = self.record(quote_id)
        if record is None or self.consumed(quote_id):
            return
        try:
            with self._ledger.transaction() as db:
                self._insert_outcome(db, record, "declined", self._clock(), note)
        except QuoteRefused:
            pass

    # -- the person's answers ---------------------------------------------------------------------------------

    def record_consent(
        self, quote_id: str, plan_digest: str, answer: Literal["accepted", "declined", "not_asked"], how: str
    ) -> str:
        """Record what the person answered about this quote (or why nobody was asked); a decline voids it."""
        consent_id = f"c-{uuid.uuid4().hex[:20]}"
        now, caller = self._clock(), current_caller().subject
        record = self.record(quote_id) if quote_id else None
        with self._ledger.transaction() as db:
            db.execute(
                "INSERT INTO consents (consent_id, quote_id, caller, plan_digest, answer, how, at)"
                " VALUES (:consent_id, :quote_id, :caller, :plan_digest, :answer, :how, :at)",
                {
                    "consent_id": consent_id,
                    "quote_id": quote_id,
                    "caller": caller,
                    "plan_digest": plan_digest,
                    "answer": answer,
                    "how": how,
                    "at": now,
                },
            )
            receipts.append(
                db,
                "consent",
                at=now,
                caller=caller,
                quote_id=quote_id or None,
                body={
                    "answer": answer,
                    "how": how,
                    "plan_digest": plan_digest,
                    **(priced(record) if record is not None else {}),
                },
            )
        if answer == "declined" and quote_id:
            self.void(quote_id)
        return consent_id

    def consent(self, consent_id: str) -> ConsentRecord | None:
        rows = self._ledger.query("SELECT * FROM consents WHERE consent_id = :c", {"c": consent_id})
        return ConsentRecord.model_validate(dict(rows[0])) if rows else None

    def _insert_outcome(self, db: Db, record: QuoteRecord, outcome: str, now: float, note: str) -> None:
        """The quote's one outcome; a second is refused by the primary key, read back without a failed statement
        (which would abort the whole transaction on PostgreSQL)."""
        inserted = db.execute(
            "INSERT INTO quote_redemptions (quote_id, plan_digest, outcome, at, note)"
            " VALUES (:quote_id, :plan_digest, :outcome, :at, :note) ON CONFLICT (quote_id) DO NOTHING"
            " RETURNING quote_id",
            {
                "quote_id": record.quote_id,
                "plan_digest": record.plan_digest,
                "outcome": outcome,
                "at": now,
                "note": note,
            },
        ).fetchone()
        if inserted is None:
            row = db.execute(
                "SELECT outcome, at, note FROM quote_redemptions WHERE quote_id = :q", {"q": record.quote_id}
            ).fetchone()
            raise self._used(
                record.quote_id,
                row["outcome"] if row else "used",
                row["at"] if row else now,
                row["note"] if row else "",
            )
