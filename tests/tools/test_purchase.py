"""The purchase path on a real ledger: the quote's row is the truth, caps bound what runs (all callers and each
caller), the claim and the redemption are one transaction, and the person's recorded answer decides."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from ack_compute.tools.errors import AckComputeError, InvalidPlan, QuoteRefused
from ack_compute.tools.identity import Caller, acting_as
from ack_compute.tools.ledger import Ledger
from ack_compute.tools.ownership import NameBusy, Ownership
from ack_compute.tools.plans import AcsPlan, normalise
from ack_compute.tools.purchase import NO_ELICITATION, Claim, Purchase, bind_plan
from ack_compute.tools.quotes import BudgetCaps, QuoteAmounts, QuoteBook
from tests.helpers.racing import at_once, purchase_outcome

SECRET = b"k" * 32
ALICE = Caller(subject="alice", admin=False)
BOB = Caller(subject="bob", admin=False)
PLAN = normalise(AcsPlan(replicas=1, vcpu=1, memory_gib=2), "cn-hangzhou")
HOURLY = QuoteAmounts(currency="CNY", hourly=Decimal("0.75"), total=Decimal("0.75"), hours=1)


def book(path: Path, **caps: Decimal) -> QuoteBook:
    return QuoteBook(SECRET, Ledger(path), caps=BudgetCaps(**caps))


def buy(purchase: Purchase, token: str, name: str) -> int | None:
    claim = Claim(f"op-{name}", "deployment", "cn-hangzhou", name)
    return purchase.buy(token, PLAN, claim=claim).resource_id


def test_a_plan_naming_another_region_than_the_cluster_is_refused_before_anything() -> None:
    plan = AcsPlan(region="cn-hangzhou", vcpu=1, memory_gib=2)
    with pytest.raises(InvalidPlan) as info:
        bind_plan(plan, "ap-southeast-1", "cluster acf-sg")
    assert info.value.text.startswith(
        "Invalid plan field `region`: the plan names cn-hangzhou but cluster acf-sg is in ap-southeast-1;"
    )
    assert bind_plan(AcsPlan(vcpu=1, memory_gib=2), "cn-shanghai", "c").region == "cn-shanghai"


def test_a_token_this_ledger_never_issued_is_refused_even_with_the_same_secret(tmp_path: Path) -> None:
    a, b = book(tmp_path / "a.sqlite3"), book(tmp_path / "b.sqlite3")
    token = a.issue(PLAN, HOURLY).token
    with pytest.raises(QuoteRefused) as info:
        b.redeem(token, PLAN)
    assert info.value.reason == "unknown" and "this server never issued it" in info.value.message
    assert a.redeem(token, PLAN).hourly == Decimal("0.75")


def test_amounts_and_expiry_come_from_the_ledger_row_not_the_token(ledger_url: str) -> None:
    """A local process that read the secret re-signs a quote's payload with a lower price and a later expiry: the
    row decides, so the caps see the real price and the quote expires when it was issued to."""
    quotes = book(ledger_url, max_hourly=Decimal("0.5"))
    uncapped = QuoteBook(SECRET, Ledger(ledger_url))
    token = uncapped.issue(PLAN, HOURLY).token
    body = token.split(".")[0]
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload.update(hourly="0.01", total="0.01", expires_at=payload["expires_at"] + 10**6)
    forged_body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    mac = hmac.new(SECRET, b"ack-compute-mcp/quote/v1\x00" + forged_body.encode(), hashlib.sha256).digest()
    forged = f"{forged_body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(QuoteRefused) as info:
        quotes.redeem(forged, PLAN)
    assert info.value.reason == "over_budget" and "0.75 CNY" in info.value.message


def test_caps_bound_what_runs_for_everyone_and_for_each_caller(ledger_url: str) -> None:
    path = ledger_url
    quotes = book(path, max_hourly=Decimal("2"), max_hourly_per_caller=Decimal("1"))
    purchase = Purchase(quotes, Ownership(quotes._ledger))
    with acting_as(ALICE):
        first = buy(purchase, quotes.issue(PLAN, HOURLY).token, "a1")
        second = quotes.issue(PLAN, HOURLY).token
        with pytest.raises(QuoteRefused) as mine:
            buy(purchase, second, "a2")
        assert mine.value.message == (
            "Quote refused (over_budget): hourly cost 0.75 CNY plus what runs makes 1.50 CNY/h, over the operator's "
            "cap of 1 CNY/h per caller; already running for you: 0.75 CNY/h (deployment a1 0.75 CNY/h)."
        )
        assert quotes.consumed(quotes.quote_id_of(second)) is None, "a refused purchase spends nothing"
    with acting_as(BOB):
        buy(purchase, quotes.issue(PLAN, HOURLY).token, "b1")
    with acting_as(Caller(subject="carol", admin=False)):
        assert quotes.over_caps("CNY", Decimal("0.75"), Decimal("0.75")) == (
            "hourly cost 0.75 CNY plus what runs makes 2.25 CNY/h, over the operator's cap of 2 CNY/h; already "
            "running on this server: 1.50 CNY/h (2 resources of other callers 1.50 CNY/h)"
        ), "other callers' resources count, but are not named (red-team R7)"
    with acting_as(Caller(subject="ops", admin=True)):
        assert "(deployment a1 0.75 CNY/h, deployment b1 0.75 CNY/h)" in (
            quotes.over_caps("CNY", Decimal("0.75"), Decimal("0.75")) or ""
        ), "an admin sees them all"
    assert first is not None
    purchase.ownership.update(first, state="deleted")  # what was cleaned up no longer counts
    with acting_as(ALICE):
        assert buy(purchase, second, "a2")


def test_the_per_quote_cap_counts_the_quoted_total_which_the_lease_makes_an_honest_bound() -> None:
    caps = BudgetCaps(max_per_quote=Decimal("10"))
    assert caps.violation("CNY", Decimal("0.5"), Decimal("12.0")) == (
        "total 12.0 CNY exceeds the operator's cap of 10 CNY per quote"
    )
    assert caps.violation("CNY", Decimal("0.5"), Decimal("0.0005")) is None, "a few seconds are a few seconds"
    assert caps.violation("CNY", Decimal("0.4"), Decimal("10")) is None


def test_concurrent_purchases_cannot_both_squeeze_under_the_cap(ledger_url: str) -> None:
    path = ledger_url
    issuer = book(path)
    tokens = [issuer.issue(PLAN, HOURLY).token for _ in range(6)]

    def prepare(i: int, token: str) -> Callable[[], str]:
        quotes = book(path, max_hourly=Decimal("1.6"))  # own connection, like another server on the state dir

        return lambda: purchase_outcome(lambda: buy(Purchase(quotes, Ownership(quotes._ledger)), token, f"d{i}"))

    outcomes = at_once(tokens, prepare)
    assert sorted(outcomes) == ["ok", "ok", *["over_budget"] * 4]


def test_a_busy_name_leaves_the_quote_unused(ledger_url: str) -> None:
    quotes = book(ledger_url)
    purchase = Purchase(quotes, Ownership(quotes._ledger))
    buy(purchase, quotes.issue(PLAN, HOURLY).token, "web")
    token = quotes.issue(PLAN, HOURLY).token
    with pytest.raises(NameBusy):
        buy(purchase, token, "web")
    assert quotes.consumed(quotes.quote_id_of(token)) is None


def test_the_recorded_answer_decides(ledger_url: str) -> None:
    quotes = book(ledger_url)
    purchase = Purchase(quotes, Ownership(quotes._ledger))
    token = quotes.issue(PLAN, HOURLY).token
    record = purchase.check(token, PLAN)
    no_client = quotes.record_consent(record.quote_id, record.plan_digest, "not_asked", NO_ELICITATION)
    assert purchase.approved(token, PLAN, no_client, "token") == record
    with pytest.raises(AckComputeError, match="requires a person"):
        purchase.approved(token, PLAN, no_client, "human")
    with acting_as(BOB), pytest.raises(QuoteRefused, match="not_yours"):  # an answer is the caller's own
        purchase.approved(token, PLAN, no_client, "token")
    yes = quotes.record_consent(record.quote_id, record.plan_digest, "accepted", "asked by elicitation")
    assert purchase.approved(token, PLAN, yes, "human") == record
    no = quotes.record_consent(record.quote_id, record.plan_digest, "declined", "asked by elicitation: decline")
    assert purchase.approved(token, PLAN, no, "token") is None
    assert quotes.consumed(record.quote_id) == "declined"


def test_a_costlier_update_is_capped_at_its_new_price_not_old_plus_new(ledger_url: str) -> None:
    quotes = book(ledger_url, max_hourly=Decimal("2"))
    purchase = Purchase(quotes, Ownership(quotes._ledger))
    row = buy(purchase, quotes.issue(PLAN, HOURLY).token, "web")
    assert row is not None
    bigger = QuoteAmounts(currency="CNY", hourly=Decimal("1.5"), total=Decimal("1.5"), hours=1)
    token = quotes.issue(PLAN, bigger).token
    with pytest.raises(QuoteRefused, match="over_budget"):
        purchase.buy(token, PLAN, claim=Claim("op-new", "deployment", "cn-hangzhou", "api"))  # 0.75 + 1.5 > 2
    purchase.buy(token, PLAN, repoint=purchase.ownership.get(row))  # the update replaces 0.75 with 1.5
    assert quotes.running().hourly == Decimal("1.5")
