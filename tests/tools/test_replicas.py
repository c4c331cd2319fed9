"""Replicas on one ledger (tools/replicas.py, tools/operations.py, tools/background.py): an operation is held by the
replica running it; once the hold lapses exactly one other replica takes it over; the one that lost it stops at its
next step and writes nothing over the new holder's work; once-only work runs on one replica at a time.

Each "replica" here is its own `Operations` (own random id) on one ledger file, all reading one hand-driven clock:
thirty seconds pass in a statement, not in thirty seconds.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ack_compute.tools.background import LEADER, Background
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.ledger import Ledger
from ack_compute.tools.operations import LostHold, OperationContext, Operations
from ack_compute.tools.ownership import Claim, Ownership
from ack_compute.tools.replicas import Replica, Singleton, process_alive
from tests.helpers.racing import at_once
from tests.helpers.waiting import eventually

LEASE, BEAT = 30.0, 10.0


class Clock:
    """The replicas' shared wall clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    """One ledger the replicas share, on each backend (tests/conftest.py)."""
    opened = Ledger(ledger_url)
    yield opened
    for made in MADE:  # every work thread is over before its ledger goes (a PostgreSQL database is dropped)
        for operation_id, thread in made._threads.items():
            thread.join(10)
            assert not thread.is_alive(), f"{operation_id} still runs"
    MADE.clear()
    opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


MADE: list[Operations] = []


def replica(ledger: Ledger, clock: Clock, **kwargs: Any) -> Operations:
    made = Operations(ledger, clock, lease_seconds=LEASE, heartbeat_seconds=BEAT, **kwargs)
    MADE.append(made)
    return made


class Blocked:
    """A work function that waits to be let go, then (optionally) reports a step and returns who ran it."""

    def __init__(self, name: str, *, step: bool) -> None:
        self.name = name
        self.step = step
        self.go = threading.Event()
        self.started = threading.Event()
        self.stopped_by: BaseException | None = None

    def __call__(self, ctx: OperationContext) -> dict[str, Any]:
        self.started.set()
        assert self.go.wait(30)
        try:
            if self.step:
                ctx.progress(0.5, "create", f"{self.name} goes on")
        except LostHold as exc:
            self.stopped_by = exc
            raise
        return {"ran_on": self.name}


def test_a_lapsed_hold_is_taken_over_by_exactly_one_replica_and_the_old_one_writes_nothing(
    ledger: Ledger, clock: Clock
) -> None:
    first = replica(ledger, clock)
    old = Blocked("first", step=False)
    op = first.start("demo", {"n": 1}, old)
    assert old.started.wait(10)
    (row,) = ledger.query("SELECT holder, held_until FROM operations WHERE operation_id = :op", {"op": op})
    assert (row["holder"], row["held_until"]) == (first.replica_id, clock.now + LEASE)

    others = [replica(ledger, clock) for _ in range(4)]
    assert others[0].unfinished("demo") == [] and not others[0].take(op), "a live hold is nobody else's"
    clock.advance(LEASE - 1)
    assert first.renew() == [op], "the heartbeat pushes the hold on"
    clock.advance(LEASE - 1)
    assert others[0].unfinished("demo") == [], "renewed: still held"

    clock.advance(2)  # the first replica stops beating (it hangs, or its machine died): the hold lapses
    assert others[0].unfinished("demo") == [(op, {"n": 1})]
    new = {o.replica_id: Blocked(o.replica_id, step=False) for o in others}
    outcomes = at_once(others, lambda _i, o: lambda: str(o.resume_all("demo", new[o.replica_id])))
    assert sorted(outcomes) == sorted(["[]"] * 3 + [f"['{op}']"]), "one compare-and-set wins"
    (row,) = ledger.query("SELECT holder, owner_pid FROM operations WHERE operation_id = :op", {"op": op})
    winner = new[row["holder"]]
    assert winner.started.wait(10)
    assert first.renew() == [] and op in first._lost, "its next heartbeat finds another holder"

    # The old replica's work comes back and returns: its end is not written over the new holder's.
    old.go.set()
    eventually(lambda: op not in first.in_flight(), timeout=10, what="the old work to return")
    assert first.get(op).state == "running"
    winner.go.set()
    holder = next(o for o in others if o.replica_id == row["holder"])
    status = holder.wait(op, 10)
    while not status.done:
        status = holder.wait(op, 10)
    assert (status.state, status.result) == ("succeeded", {"ran_on": winner.name})


def test_a_replica_that_lost_its_hold_stops_at_its_next_step(ledger: Ledger, clock: Clock) -> None:
    first, second = replica(ledger, clock), replica(ledger, clock)
    stalled = Blocked("first", step=True)
    op = first.start("demo", {}, stalled)
    assert stalled.started.wait(10)
    clock.advance(LEASE + 1)
    taken_over = Blocked("second", step=True)
    assert second.resume(op, {}, taken_over)
    stalled.go.set()  # its next step finds another holder
    eventually(lambda: stalled.stopped_by is not None, timeout=10, what="the old work to stop")
    eventually(lambda: op not in first.in_flight(), timeout=10, what="the old thread to end")
    (row,) = ledger.query("SELECT state, holder, message FROM operations WHERE operation_id = :op", {"op": op})
    assert (row["state"], row["holder"], row["message"]) == ("running", second.replica_id, "")
    taken_over.go.set()
    status = second.wait(op, 10)
    while not status.done:
        status = second.wait(op, 10)
    assert (status.state, status.result, status.message) == ("succeeded", {"ran_on": "second"}, "second goes on")


def test_a_failure_is_recorded_only_while_the_operation_is_held(ledger: Ledger, clock: Clock) -> None:
    """ensure_cluster and ensure_node_pool write a failed create through ctx.held(): a replica that lost the
    operation (frozen past its hold, then thawed into a cloud error) must not free a name its new holder is using."""
    ownership = Ownership(ledger, clock)
    first, second = replica(ledger, clock), replica(ledger, clock)
    outcomes: dict[str, str] = {}

    def fail_creating(name: str, go: threading.Event) -> Callable[[OperationContext], dict[str, Any]]:
        def work(ctx: OperationContext) -> dict[str, Any]:
            row = ownership.claim(Claim(ctx.operation_id, "cluster", "cn-hangzhou", name))
            assert go.wait(30)
            try:
                with ctx.held() as db:
                    ownership.update_in(db, row, state="failed", details={"error": "the create failed"})
            except LostHold:
                outcomes[name] = "lost"
                raise
            outcomes[name] = "written"
            raise AckComputeError("the create failed", "")

        return work

    held_go, lost_go = threading.Event(), threading.Event()
    held_go.set()
    done = first.wait(first.start("demo", {}, fail_creating("held", held_go)), 10)
    while not done.done:
        done = first.wait(done.operation_id, 10)
    assert (done.state, outcomes["held"]) == ("failed", "written"), "a held operation writes its failure"

    op = first.start("demo", {}, fail_creating("lost", lost_go))
    eventually(lambda: any(r.name == "lost" for r in ownership.all()), timeout=10, what="the intent row")
    clock.advance(LEASE + 1)
    taken_over = Blocked("second", step=False)
    assert second.resume(op, {}, taken_over)
    try:
        lost_go.set()
        eventually(lambda: "lost" in outcomes, timeout=10, what="the old work to try its write")
        assert outcomes["lost"] == "lost"
        assert {r.name: r.state for r in ownership.all()} == {"held": "failed", "lost": "intent"}, "nothing written"
        eventually(lambda: op not in first.in_flight(), timeout=10, what="the old thread to end")
        assert first.get(op).state == "running", "the new holder ends it"
    finally:
        taken_over.go.set()


def test_a_dead_process_of_this_machine_is_taken_over_at_once(ledger: Ledger, clock: Clock) -> None:
    """A restart on one machine does not wait for the hold to lapse: the holder's pid is gone here and now."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = Replica(pid=gone.pid)  # a replica of this machine whose process ended
    first = replica(ledger, clock, replica=dead)
    stuck = Blocked("dead", step=True)
    op = first.start("demo", {}, stuck)
    restarted = replica(ledger, clock)
    assert restarted.orphaned() == [op] and restarted.take(op)
    elsewhere = replica(ledger, clock, replica=Replica(machine="another-pod|boot|pid:[1]"))
    assert not elsewhere.take(op), "a holder on another machine is judged by its hold alone"
    stuck.go.set()


def test_a_killed_process_its_parent_has_not_reaped_is_dead() -> None:
    """kill -9 leaves a zombie until its parent waits for it (a slow supervisor): it still answers signal 0, but
    runs nothing, so its holds are free at once."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert process_alive(child.pid)
        child.send_signal(signal.SIGSTOP)
        assert process_alive(child.pid), "a frozen process is not dead: its hold must lapse"
        child.kill()
        eventually(lambda: not process_alive(child.pid), timeout=5, what="the zombie to count as dead")
    finally:
        child.kill()
        child.wait()


def test_a_clean_stop_gives_its_holds_back_at_once(ledger: Ledger, clock: Clock) -> None:
    first, second = replica(ledger, clock), replica(ledger, clock)
    work = Blocked("first", step=True)
    op = first.start("demo", {}, work)
    assert work.started.wait(10)
    assert first.release_all() == [op]
    work.go.set()
    eventually(lambda: work.stopped_by is not None, timeout=10, what="the stopping server's work to stop")
    assert second.unfinished("demo") == [(op, {})], "no need to wait for the hold to lapse"


def test_the_heartbeat_must_be_shorter_than_the_hold(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match=r"heartbeat \(30 s\) must be shorter than the operation lease \(30 s\)"):
        Operations(ledger, lease_seconds=30, heartbeat_seconds=30)


def test_once_only_work_runs_on_one_replica_at_a_time(ledger: Ledger, clock: Clock) -> None:
    replicas = [Singleton(ledger, LEADER, Replica(), LEASE, clock) for _ in range(5)]
    assert sorted(at_once(replicas, lambda _i, s: lambda: str(s.hold()))) == ["False"] * 4 + ["True"]
    leader = next(s for s in replicas if s.held)
    assert [s.held for s in replicas].count(True) == 1 and leader.holder() == leader.replica.replica_id
    clock.advance(BEAT)
    assert leader.hold() and not any(s.hold() for s in replicas if s is not leader), "renewed, kept"

    clock.advance(LEASE + 1)  # the leader stopped renewing
    assert not leader.held, "it stops acting as leader by its own clock, before anyone takes over"
    outcomes = at_once([s for s in replicas if s is not leader][:2], lambda _i, s: lambda: str(s.hold()))
    assert sorted(outcomes) == ["False", "True"]
    successor = next(s for s in replicas if s.held)
    assert successor is not leader and not leader.hold(), "the old leader finds it taken"
    successor.release()
    assert leader.hold(), "given back on a clean stop: taken at once"


def test_only_the_leader_resumes_what_nobody_holds(ledger: Ledger, clock: Clock) -> None:
    first = replica(ledger, clock)
    left = Blocked("first", step=True)
    op = first.start("demo", {}, left)
    clock.advance(LEASE + 1)
    took: dict[str, list[str]] = {}

    def background(ops: Operations) -> Background:
        work = Blocked(ops.replica_id, step=False)
        work.go.set()
        return Background(ops, [lambda: ops.resume_all("demo", work)])

    a, b = replica(ledger, clock), replica(ledger, clock)
    leading, waiting = background(a), background(b)
    took["a"], took["b"] = leading.step(), waiting.step()
    assert took == {"a": [op], "b": []} and leading.leader.held and not waiting.leader.held
    left.go.set()


@pytest.mark.slow  # waits out SQLite's 10 s busy timeout once
def test_a_busy_ledger_skips_a_step_and_retries_the_end_instead_of_failing_the_work(tmp_path: Any) -> None:
    """Another server stuck inside a write for longer than a writer waits: the step's note is dropped (the work goes
    on), and the operation's end is written once the ledger is free again, not lost and not a failure."""
    path = tmp_path / "ledger.sqlite3"
    shared = Ledger(path)
    operations = Operations(shared, lease_seconds=LEASE, heartbeat_seconds=BEAT)
    work = Blocked("busy", step=True)
    operation_id = operations.start("probe", {}, work)
    assert work.started.wait(10)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # held past the step's 10 s wait and into the end's first try
    work.go.set()
    threading.Timer(14, lambda: (holder.execute("ROLLBACK"), holder.close())).start()
    done = operations.wait(operation_id, 60)
    assert (done.state, done.result) == ("succeeded", {"ran_on": "busy"})
    assert done.stage != "create"  # the step's note was never written
    shared.close()
