"""Run several attempts at the same instant, each on its own thread (and its own ledger connection), to prove
that a check-then-act in the ledger holds when callers race."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from ack_compute.tools.errors import QuoteRefused

T = TypeVar("T")


def at_once(items: Sequence[T], prepare: Callable[[int, T], Callable[[], str]]) -> list[str]:
    """`prepare(i, item)` runs on the thread and returns the act; every act starts after every preparation.
    The acts' outcomes, in the order they finished."""
    outcomes: list[str] = []
    barrier = threading.Barrier(len(items))

    def run(i: int, item: T) -> None:
        act = prepare(i, item)
        barrier.wait()
        outcomes.append(act())

    threads = [threading.Thread(target=run, args=(i, item)) for i, item in enumerate(items)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def purchase_outcome(buy: Callable[[], object]) -> str:
    """ "ok" when `buy()` goes through, else the reason of its QuoteRefused (over_budget, already_used, ...)."""
    try:
        buy()
    except QuoteRefused as exc:
        return exc.reason
    return "ok"
