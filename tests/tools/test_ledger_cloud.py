"""A ledger's records are of one cloud, on both backends: the first server marks the ledger with its cloud (the
embedded sandbox or the real Alibaba Cloud) and a server of the other is refused with nothing written, so sandbox
spend never counts as real and neither cloud's server shows or acts on the other's clusters and leases."""

from __future__ import annotations

from typing import Any

import pytest

from ack_compute.tools.errors import CloudKind, CloudMismatch
from ack_compute.tools.ledger import Ledger, redacted
from ack_compute.tools.quotes import QuoteBook
from tests.helpers.racing import at_once

SANDBOX: CloudKind = "sandbox"
REAL: CloudKind = "alibaba-cloud"
TABLES = ("quotes", "operations", "resources", "leases", "receipts", "replicas", "singletons", "ledger_facts")

# What each refused server says, after "the ledger at <where> ".
FOR_A_REAL_SERVER = (
    "belongs to the embedded sandbox cloud, and this server serves the real Alibaba Cloud: the sandbox's clusters, "
    "leases and spend would count as real ones, and its reaper and cleanup would act on them in your account. "
    "Start this server on another state dir (--state-dir or ACK_COMPUTE_STATE_DIR) or database "
    "(ACK_COMPUTE_DATABASE_URL); or, as that ledger holds only sandbox records, delete it once no sandbox server "
    "uses it."
)
FOR_A_SANDBOX = (
    "and this server serves the embedded sandbox cloud: it would show the real clusters, leases and spend as the "
    "sandbox's, and its reaper and cleanup would act on them against the sandbox. Give the sandbox a state dir of "
    "its own (--state-dir), or unset ACK_COMPUTE_STATE_DIR and ACK_COMPUTE_DATABASE_URL for it: it then keeps a "
    "throwaway ledger that lasts as long as the process."
)


def where(ledger: Ledger) -> str:
    return redacted(ledger.path or ledger.url)


def quote(ledger: Ledger, quote_id: str) -> None:
    with ledger.transaction() as db:
        db.execute(
            "INSERT INTO quotes (quote_id, plan_digest, plan_json, kind, region, currency, hourly, total, issued_at,"
            " expires_at) VALUES (:q, 'd', '{}', 'acs', 'cn-hangzhou', 'CNY', '1', '1', 0, 1)",
            {"q": quote_id},
        )


def contents(ledger: Ledger) -> dict[str, list[dict[str, Any]]]:
    return {t: sorted((dict(r) for r in ledger.query(f"SELECT * FROM {t}")), key=repr) for t in TABLES}


def mark(ledger: Ledger) -> str | None:
    rows = ledger.query("SELECT value FROM ledger_facts WHERE name = 'cloud'")
    return str(rows[0]["value"]) if rows else None


@pytest.mark.parametrize(
    ("first", "then", "says"),
    [(SANDBOX, REAL, FOR_A_REAL_SERVER), (REAL, SANDBOX, "belongs to the real Alibaba Cloud, " + FOR_A_SANDBOX)],
)
def test_the_first_server_marks_the_ledger_and_one_of_the_other_cloud_is_refused_writing_nothing(
    ledger_url: str, first: CloudKind, then: CloudKind, says: str
) -> None:
    ledger = Ledger(ledger_url)
    ledger.belong_to(first)
    quote(ledger, "q-first")
    Ledger(ledger_url).belong_to(first)  # a restart, another replica: the same cloud is welcome
    other = Ledger(ledger_url)
    before = contents(other)
    with pytest.raises(CloudMismatch) as refused:
        other.belong_to(then)
    assert refused.value.text == f"the ledger at {where(other)} {says}"
    assert contents(other) == before and mark(other) == first
    assert other.refusal(first) is None


def test_an_unmarked_ledger_with_records_is_taken_for_the_real_clouds(
    ledger_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = Ledger(ledger_url)
    quote(ledger, "q-before-marks")  # written by a version that marked nothing
    with pytest.raises(CloudMismatch) as refused:
        ledger.belong_to(SANDBOX)
    assert refused.value.text == (
        f"the ledger at {where(ledger)} holds records from before ledgers were marked with their cloud, so it is "
        f"taken for the real Alibaba Cloud's, {FOR_A_SANDBOX}"
    )
    assert mark(ledger) is None
    with caplog.at_level("WARNING", logger="ack_compute.ledger"):
        ledger.belong_to(REAL)
    assert mark(ledger) == REAL
    (said,) = [r.getMessage() for r in caplog.records if r.name == "ack_compute.ledger"]
    assert said.startswith(f"the ledger at {where(ledger)} holds records from before ledgers were marked"), said
    assert "its quotes and spend now count as real" in said


def test_an_unmarked_ledger_without_cloud_records_goes_to_the_first_server_of_either_cloud(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    QuoteBook(b"s" * 32, ledger).agree_on_secret()  # a fact of the ledger, not a record of any cloud
    assert ledger.refusal(SANDBOX) is None and ledger.refusal(REAL) is None
    assert mark(ledger) is None, "asking writes nothing (doctor asks)"
    ledger.belong_to(SANDBOX)
    assert mark(ledger) == SANDBOX
    assert isinstance(ledger.refusal(REAL), CloudMismatch)


def test_servers_of_both_clouds_starting_at_once_on_a_new_ledger_agree_on_one(ledger_url: str) -> None:
    Ledger(ledger_url)  # migrated once, so the race is on the mark alone

    def start(_i: int, cloud: CloudKind) -> Any:
        ledger = Ledger(ledger_url)

        def act() -> str:
            try:
                ledger.belong_to(cloud)
            except CloudMismatch:
                return f"{cloud} refused"
            return f"{cloud} ok"

        return act

    outcomes = at_once([SANDBOX, REAL, SANDBOX, REAL], start)
    winner = mark(Ledger(ledger_url))
    loser = REAL if winner == SANDBOX else SANDBOX
    assert sorted(outcomes) == sorted([f"{winner} ok"] * 2 + [f"{loser} refused"] * 2)
