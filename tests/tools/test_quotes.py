"""The quote token protocol: every way to misuse a token is refused, and exactly one redeem wins."""

from __future__ import annotations

import base64
import json
import stat
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from ack_compute.tools.errors import QuoteRefused, SecretMismatch
from ack_compute.tools.identity import Caller, acting_as
from ack_compute.tools.ledger import Ledger
from ack_compute.tools.plans import AcsPlan, ClusterPlan, DataDisk, SystemDisk, normalise
from ack_compute.tools.quotes import BudgetCaps, QuoteAmounts, QuoteBook, load_or_create_secret

SECRET = b"s" * 32
AMOUNTS = QuoteAmounts(currency="CNY", hourly=Decimal("5.1234"), total=Decimal("20.4936"), hours=4)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ledger(ledger_url: str) -> Ledger:
    return Ledger(ledger_url)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def book(ledger: Ledger, clock: Clock) -> QuoteBook:
    return QuoteBook(SECRET, ledger, ttl_seconds=900, clock=clock)


def cluster_plan(**changes: object) -> ClusterPlan:
    base = ClusterPlan(
        edition="pro",
        instance_types=["ecs.g7.xlarge", "ecs.c7.xlarge"],
        node_count=3,
        zone="cn-hangzhou-h",
        system_disk=SystemDisk(size_gib=120, performance_level="PL0"),
        data_disks=[DataDisk(size_gib=200)],
        hours=4,
    )
    plan = normalise(base, "cn-hangzhou")
    return type(plan).model_validate({**plan.model_dump(), **changes})


def issued(book: QuoteBook) -> tuple[ClusterPlan, str]:
    """The cluster plan most tests quote, and a fresh quote token for it from `book`."""
    plan = cluster_plan()
    return plan, book.issue(plan, AMOUNTS).token


def refused(reason: str, fn, *args, **kwargs) -> QuoteRefused:  # type: ignore[no-untyped-def]
    with pytest.raises(QuoteRefused) as info:
        fn(*args, **kwargs)
    assert info.value.reason == reason, info.value.text
    assert info.value.next_step, "every refusal says what to do next"
    return info.value


def test_issue_then_redeem_once(book: QuoteBook) -> None:
    plan = cluster_plan()
    quote = book.issue(plan, AMOUNTS)
    redemption = book.redeem(quote.token, plan)
    assert redemption.quote_id == quote.quote_id
    assert redemption.hourly == Decimal("5.1234") and redemption.total == Decimal("20.4936")
    assert (quote.expires_at - quote.issued_at).total_seconds() == 900


def test_a_quote_id_pays_once_for_its_caller_and_its_plan(
    book: QuoteBook, ledger: Ledger, clock: Clock, tmp_path: Path
) -> None:
    plan = cluster_plan()
    quote = book.issue(plan, AMOUNTS)
    assert book.plan_of(quote.quote_id) == ("cluster", json.loads(json.dumps(plan.model_dump(mode="json"))))
    with acting_as(Caller(subject="mallory")):
        refused("not_yours", book.plan_of, quote.quote_id)
        refused("not_yours", book.redeem, quote.quote_id, plan)
    err = refused("plan_mismatch", book.verify, quote.quote_id, cluster_plan(node_count=4))
    assert "node_count: quoted 3, given 4" in err.message
    other = QuoteBook(b"o" * 32, Ledger(tmp_path / "other.sqlite3"), clock=clock)
    refused("unknown", other.plan_of, quote.quote_id)  # an id is a row in this ledger, nothing else
    assert book.redeem(quote.quote_id, plan).quote_id == quote.quote_id
    refused("already_used", book.redeem, quote.quote_id, plan)
    refused("already_used", book.redeem, quote.token, plan)  # the old token names the same, used, row
    clock.now += 10_000
    later = book.issue(plan, AMOUNTS)
    clock.now += 900
    refused("expired", book.redeem, later.quote_id, plan)
    refused("malformed", book.plan_of, "q-notanid")


def test_replay_is_refused(book: QuoteBook) -> None:
    plan, token = issued(book)
    book.redeem(token, plan)
    err = refused("already_used", book.redeem, token, plan)
    assert "already redeemed" in err.message


def test_expired(book: QuoteBook, clock: Clock) -> None:
    plan, token = issued(book)
    clock.now += 899
    book.verify(token, plan)  # still valid one second before expiry
    clock.now += 1
    refused("expired", book.redeem, token, plan)


def test_forged_signature_and_foreign_secret(book: QuoteBook, ledger: Ledger, clock: Clock) -> None:
    plan, token = issued(book)
    body, _ = token.split(".")
    forged = base64.urlsafe_b64encode(b"x" * 32).rstrip(b"=").decode()
    refused("bad_signature", book.redeem, f"{body}.{forged}", plan)
    other = QuoteBook(b"o" * 32, ledger, clock=clock)
    refused("bad_signature", other.redeem, token, plan)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quote_id", "q-attacker"),
        ("plan_digest", "0" * 64),
        ("region", "cn-beijing"),
        ("currency", "USD"),
        ("hourly", "0.0001"),
        ("total", "0.01"),
        ("hours", 1000.0),
        ("issued_at", 1),
        ("expires_at", 4_000_000_000),
        ("kind", "acs"),
    ],
)
def test_altered_payload_field_is_refused(book: QuoteBook, field: str, value: object) -> None:
    plan, token = issued(book)
    body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert field in payload
    payload[field] = value
    altered = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    refused("bad_signature", book.redeem, f"{altered}.{sig}", plan)
    book.redeem(token, plan)  # the untouched token still works: the attack burnt nothing


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", ".", "a.", ".b", "!!!.???", "eyJ2IjoxfQ.@@@"])
def test_malformed_tokens(book: QuoteBook, garbage: str) -> None:
    err = refused(
        "malformed" if garbage.count(".") != 1 or not all(garbage.split(".")) else "bad_signature",
        book.redeem,
        garbage,
        cluster_plan(),
    )
    assert "quote" in err.text.lower()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("edition", "basic"),
        ("instance_types", ["ecs.g7.xlarge"]),
        ("instance_types", ["ecs.c7.xlarge", "ecs.g7.xlarge"]),
        ("node_count", 4),
        ("system_disk", {"category": "cloud_essd", "size_gib": 121, "performance_level": "PL0"}),
        ("system_disk", {"category": "cloud_essd", "size_gib": 120, "performance_level": "PL1"}),
        ("data_disks", []),
        ("region", "cn-shanghai"),
        ("zone", "cn-hangzhou-i"),
        ("hours", 5.0),
        ("new_vpc_with_snat", True),
    ],
)
def test_every_plan_field_is_bound(book: QuoteBook, field: str, value: object) -> None:
    plan, token = issued(book)
    changes: dict[str, object] = {field: value}
    if field == "region":
        changes["zone"] = "cn-shanghai-b"
    err = refused("plan_mismatch", book.redeem, token, cluster_plan(**changes))
    assert field in err.message, "the refusal names the field that differs"
    book.redeem(token, plan)


def test_acs_plan_fields_are_bound(book: QuoteBook) -> None:
    plan = normalise(AcsPlan(replicas=4, vcpu=2, memory_gib=4, hours=8), "cn-hangzhou")
    token = book.issue(plan, AMOUNTS).token
    for change in ({"replicas": 5}, {"vcpu": 2.5}, {"memory_gib": 8}, {"qos": "best-effort"}, {"hours": 9}):
        other = AcsPlan.model_validate({**plan.model_dump(), **change})
        refused("plan_mismatch", book.redeem, token, other)
    refused("plan_mismatch", book.redeem, token, cluster_plan())
    book.redeem(token, plan)


def test_concurrent_double_redeem_one_wins(ledger_url: str, clock: Clock) -> None:
    path = ledger_url
    issuer = QuoteBook(SECRET, Ledger(path), clock=clock)
    plan = cluster_plan()
    token = issuer.issue(plan, AMOUNTS).token
    # Separate ledgers = separate SQLite connections, like two servers sharing a state dir.
    books = [QuoteBook(SECRET, Ledger(path), clock=clock) for _ in range(8)]
    barrier = threading.Barrier(len(books))
    outcomes: list[str] = []

    def attempt(b: QuoteBook) -> None:
        barrier.wait()
        try:
            b.redeem(token, plan)
            outcomes.append("ok")
        except QuoteRefused as exc:
            outcomes.append(exc.reason)

    threads = [threading.Thread(target=attempt, args=(b,)) for b in books]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["already_used"] * 7 + ["ok"]


def test_over_budget_at_redeem(ledger: Ledger, clock: Clock) -> None:
    plan = cluster_plan()
    token = QuoteBook(SECRET, ledger, clock=clock).issue(plan, AMOUNTS).token
    hourly_cap = QuoteBook(SECRET, ledger, clock=clock, caps=BudgetCaps(max_hourly=Decimal("5")))
    err = refused("over_budget", hourly_cap.redeem, token, plan)
    assert "5.1234" in err.message and "5 CNY/h" in err.message
    quote_cap = QuoteBook(SECRET, ledger, clock=clock, caps=BudgetCaps(max_per_quote=Decimal("20")))
    refused("over_budget", quote_cap.redeem, token, plan)
    usd_caps = QuoteBook(SECRET, ledger, clock=clock, caps=BudgetCaps(currency="USD", max_hourly=Decimal(100)))
    refused("over_budget", usd_caps.redeem, token, plan)
    QuoteBook(SECRET, ledger, clock=clock, caps=BudgetCaps(max_hourly=Decimal("5.1234"))).redeem(token, plan)


def test_price_drift(book: QuoteBook) -> None:
    plan, token = issued(book)
    refused("price_drift", book.redeem, token, plan, current_hourly=Decimal("5.40"))
    book.redeem(token, plan, current_hourly=Decimal("5.37"))  # within 5%


def test_declined_quote_is_void(book: QuoteBook) -> None:
    plan, token = issued(book)
    book.decline(token, plan)
    err = refused("already_used", book.redeem, token, plan)
    assert "declined" in err.message


def test_secret_file_is_private_and_stable(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    path = tmp_path / "quote-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 32
    path.chmod(0o644)
    assert load_or_create_secret(tmp_path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "a loosened secret file is tightened again"


def test_token_and_repr_never_show_the_secret(book: QuoteBook) -> None:
    token = book.issue(cluster_plan(), AMOUNTS).token
    assert SECRET.decode() not in token
    assert base64.urlsafe_b64encode(SECRET).decode().rstrip("=") not in token
    assert SECRET.decode() not in repr(book)


def test_servers_on_one_ledger_must_share_the_quote_secret(ledger_url: str) -> None:
    first, same = QuoteBook(b"t" * 32, Ledger(ledger_url)), QuoteBook(b"t" * 32, Ledger(ledger_url))
    other = QuoteBook(b"u" * 32, Ledger(ledger_url))
    first.agree_on_secret()
    same.agree_on_secret()
    with pytest.raises(SecretMismatch) as refused:
        other.agree_on_secret()
    assert refused.value.message == (
        f"the shared ledger's servers use another quote secret (fingerprint {first.secret_fingerprint()}; this one's "
        f"is {other.secret_fingerprint()}), so quotes and the person's answers from one would not verify on the other."
    )
    assert "tttt" not in refused.value.text and "uuuu" not in refused.value.text
    other.agree_on_secret(rotate=True)  # every replica stopped, the operator changes it on purpose
    with pytest.raises(SecretMismatch):
        first.agree_on_secret()
