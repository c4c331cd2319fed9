"""The state dir's modes: 0700 and every file 0600 whatever the umask, looser ones tightened on start."""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from ack_compute.tools.ledger import LOCK_WAIT_MS, Ledger, LedgerBusy
from ack_compute.tools.quotes import load_or_create_secret


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_everything_in_the_state_dir_is_private_under_umask_zero(tmp_path: Path, open_umask: None) -> None:
    state = tmp_path / "state"
    ledger = Ledger(state / "ledger.sqlite3")
    with ledger.transaction() as db:
        db.execute(
            "INSERT INTO quotes (quote_id, plan_digest, plan_json, kind, region, currency, hourly, total, issued_at,"
            " expires_at) VALUES ('q', 'd', '{}', 'acs', 'cn-hangzhou', 'CNY', '1', '1', 0, 1)"
        )
    load_or_create_secret(state)
    files = {p.name: mode(p) for p in state.iterdir()}
    assert mode(state) == 0o700
    assert files == {n: 0o600 for n in ("ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm", "quote-secret")}


def test_looser_modes_left_behind_are_tightened_on_start(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)
    for name in ("ledger.sqlite3", "quote-secret", "notes.txt"):
        (state / name).write_bytes(b"s" * 32 if name == "quote-secret" else b"")
        (state / name).chmod(0o644)
    Ledger(state / "ledger.sqlite3")
    assert mode(state) == 0o700
    assert {p.name: mode(p) for p in state.iterdir() if not p.name.endswith(("-wal", "-shm"))} == {
        "ledger.sqlite3": 0o600,
        "quote-secret": 0o600,
        "notes.txt": 0o600,
    }


def test_a_postgresql_write_transaction_waits_and_idles_for_a_bounded_time(postgres_url: str) -> None:
    """A writer waits at most LOCK_WAIT_MS for the write lock (the refusal a caller then reads is tested through real
    replicas in tests/security/test_replica_attacks.py), and a transaction left idle holding it (a replica stopped
    mid-transaction) is ended by PostgreSQL; reads outside a transaction are not bounded by either."""
    ledger = Ledger(postgres_url)
    try:
        with ledger.transaction() as db:
            inside = {
                name: db.execute(f"SHOW {name}").scalar()
                for name in ("lock_timeout", "idle_in_transaction_session_timeout")
            }
        outside = ledger.query("SHOW lock_timeout")[0]["lock_timeout"]
    finally:
        ledger.close()
    assert inside == {"lock_timeout": f"{LOCK_WAIT_MS // 1000}s", "idle_in_transaction_session_timeout": "30s"}
    assert outside == "0"


def test_a_replica_frozen_mid_transaction_lets_go_of_the_lock_within_its_lease(postgres_url: str) -> None:
    """A server's ledger ends its idle write transactions after its operation lease (when shorter than 30 s): a
    replica frozen mid-write then keeps the other replicas' writers out no longer than its holds, so they write
    (instead of being refused as busy after LOCK_WAIT_MS) and the frozen one's half-done write is rolled back."""
    lease = 2.0
    frozen, survivor = Ledger(postgres_url, idle_seconds=lease), Ledger(postgres_url, idle_seconds=lease)
    written, ended = threading.Event(), threading.Event()
    outcome: list[BaseException] = []

    def freeze_mid_write() -> None:
        try:
            with frozen.transaction() as db:
                db.execute("INSERT INTO log_cursors (operation_id, caller, pod, lines) VALUES ('frozen', 'c', 'p', 1)")
                written.set()
                ended.wait(LOCK_WAIT_MS / 1000)  # idle inside the transaction, holding the write lock
        except Exception as error:  # what the frozen replica meets when it wakes: checked below
            outcome.append(error)

    holder = threading.Thread(target=freeze_mid_write)
    holder.start()
    try:
        assert written.wait(10)
        with survivor.transaction() as db:  # LedgerBusy if it waited out LOCK_WAIT_MS
            db.execute("INSERT INTO log_cursors (operation_id, caller, pod, lines) VALUES ('survivor', 'c', 'p', 1)")
        ended.set()
        holder.join(30)
        rows = survivor.query("SELECT operation_id FROM log_cursors WHERE operation_id IN ('frozen', 'survivor')")
        assert [r["operation_id"] for r in rows] == ["survivor"]
        assert len(outcome) == 1, "the frozen replica's commit must fail once PostgreSQL ended its transaction"
    finally:
        ended.set()
        holder.join(30)
        with survivor.transaction() as db:
            db.execute("DELETE FROM log_cursors WHERE operation_id IN ('frozen', 'survivor')")
        frozen.close()
        survivor.close()


@pytest.mark.slow  # waits out SQLite's 10 s busy timeout
def test_a_sqlite_writer_held_up_past_the_busy_timeout_is_refused_in_plain_words(tmp_path: Path) -> None:
    """Another server on the state dir stuck inside a write: this one gives up after the busy timeout with the
    ledger's own refusal (an agent reads what to do), and nothing it meant to write is written."""
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    holder = sqlite3.connect(tmp_path / "ledger.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(LedgerBusy) as refused, ledger.transaction() as db:
            db.execute("INSERT INTO log_cursors (operation_id, caller, pod, lines) VALUES ('op', 'c', 'p', 1)")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert refused.value.message.startswith("The ledger is busy:")
    assert ledger.query("SELECT COUNT(*) AS n FROM log_cursors")[0]["n"] == 0
