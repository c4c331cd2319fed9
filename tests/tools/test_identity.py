"""The caller travels with each request: quotes are bound to who asked, operations run (also after a restart) as
who started them, and the ledger shows each caller their own rows; a ledger from before identities keeps working."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

import pytest

from ack_compute.tools.errors import QuoteRefused
from ack_compute.tools.identity import Caller, acting_as, current_caller
from ack_compute.tools.ledger import Ledger
from ack_compute.tools.operations import OperationContext, Operations, UnknownOperation
from ack_compute.tools.ownership import Claim, Ownership
from ack_compute.tools.plans import AcsPlan, normalise
from ack_compute.tools.quotes import QuoteAmounts, QuoteBook
from tests.helpers.legacy_ledger import legacy_ledger

ALICE = Caller(subject="alice", admin=False)
BOB = Caller(subject="bob", admin=False)
OPS = Caller(subject="ops", admin=True)
PLAN = normalise(AcsPlan(replicas=1, vcpu=1, memory_gib=2), "cn-hangzhou")
AMOUNTS = QuoteAmounts(currency="CNY", hourly=Decimal("0.12"), total=Decimal("0.12"), hours=1)


@pytest.fixture
def ledger(ledger_url: str) -> Ledger:
    return Ledger(ledger_url)


def test_a_quote_pays_only_for_the_caller_who_asked(ledger: Ledger) -> None:
    book = QuoteBook(b"k" * 32, ledger, ttl_seconds=900)
    with acting_as(ALICE):
        quote = book.issue(PLAN, AMOUNTS)
    for other in (BOB, OPS, Caller()):  # not even an admin or the local operator may spend it
        with acting_as(other), pytest.raises(QuoteRefused, match="not_yours"):
            book.redeem(quote.token, PLAN)
    assert book.consumed(quote.quote_id) is None, "a refused caller must not use up the quote"
    with acting_as(ALICE):
        assert book.redeem(quote.token, PLAN).quote_id == quote.quote_id


def test_operations_run_as_their_starter_and_are_private(ledger: Ledger) -> None:
    operations, ownership = Operations(ledger), Ownership(ledger)
    seen: list[Caller] = []
    release = threading.Event()

    def work(ctx: OperationContext) -> dict[str, object]:
        seen.append(current_caller())
        ownership.claim(Claim(ctx.operation_id, "cluster", "cn-hangzhou", f"acf-{current_caller().subject}"))
        release.wait(5)
        return {}

    with acting_as(ALICE):
        op_a = operations.start("demo", {}, work)
    with acting_as(BOB):
        op_b = operations.start("demo", {}, work)
    release.set()
    with acting_as(ALICE):
        assert operations.wait(op_a, 5).state == "succeeded"
    assert {c.subject for c in seen} == {"alice", "bob"}
    with acting_as(BOB):
        with pytest.raises(UnknownOperation):  # another caller's operation does not exist for bob
            operations.get(op_a)
        assert operations.wait(op_b, 5).state == "succeeded"
        assert [(r.name, r.owner) for r in ownership.visible()] == [("acf-bob", "bob")]
    with acting_as(OPS):
        assert operations.get(op_a).state == "succeeded"
        assert sorted(r.owner for r in ownership.visible()) == ["alice", "bob"]


def test_a_resumed_operation_runs_as_its_starter(ledger: Ledger) -> None:
    operations = Operations(ledger)
    seen: list[Caller] = []
    with acting_as(ALICE):
        op = operations.start("demo", {}, lambda ctx: {})
        operations.wait(op, 5)
    # What a restarted server does with an operation its dead predecessor left running:
    with ledger.transaction() as db:
        db.execute("UPDATE operations SET state = 'running' WHERE operation_id = :op", {"op": op})
    Operations(ledger).resume(op, {}, lambda ctx: seen.append(current_caller()) or {})
    with acting_as(ALICE):
        assert Operations(ledger).wait(op, 5).state == "succeeded"
    assert seen == [ALICE]


def test_a_ledger_from_before_identities_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    db = legacy_ledger(path, 2)
    db.execute(
        "INSERT INTO resources (operation_id, kind, region, name, origin, state, created_at, updated_at)"
        " VALUES ('op-1', 'cluster', 'cn-hangzhou', 'acf-old', 'created', 'ready', 0, 0)"
    )
    db.commit()
    db.close()
    ownership = Ownership(Ledger(path))
    assert [(r.name, r.owner) for r in ownership.visible()] == [("acf-old", "")]  # the local operator's
    with acting_as(ALICE):
        assert ownership.visible() == []
