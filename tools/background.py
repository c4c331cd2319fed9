"""Once-only background work for the replicas sharing a ledger: exactly one of them (the holder of the `background`
singleton, tools/replicas.py) resumes the operations nobody alive holds and lets its lease reaper look.

Every replica runs this loop; each beat (`heartbeat_seconds`) it takes or renews the singleton, and while it holds
it, it looks for operations whose hold lapsed (their replica died) and takes them over. So an operation left by a
dead replica is running again within `lease_seconds` (its hold lapses) + `heartbeat_seconds` (the next look), and
after the leader itself dies, within twice that (its singleton lapses too). A clean stop gives both back at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ack_compute.tools.ledger import LedgerBusy
from ack_compute.tools.operations import Operations
from ack_compute.tools.replicas import Singleton

log = logging.getLogger("ack_compute.background")

LEADER = "background"


class Background:
    """`resumers`: each tool's resume_unfinished (continue what nobody holds; the ids it took over)."""

    def __init__(self, operations: Operations, resumers: list[Callable[[], list[str]]]) -> None:
        self.operations = operations
        self.resumers = resumers
        self.leader = Singleton(
            operations.ledger, LEADER, operations.replica, operations.lease_seconds, operations._clock
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> list[str]:
        """One beat: hold the singleton, and while held, take over what nobody holds. The ids resumed."""
        if not self.leader.hold():
            return []
        resumed: list[str] = []
        for resume in self.resumers:
            try:
                resumed += resume()
            except Exception:  # one kind's trouble (the ledger busy) must not stop the others or the loop
                log.exception("resuming unfinished operations failed; trying again in %g s", self.every)
        return resumed

    @property
    def every(self) -> float:
        return self.operations.heartbeat_seconds

    def start(self) -> list[str]:
        """The first beat now (what a previous server left is resumed on start), then one every beat."""
        resumed = self.step()
        self._thread = threading.Thread(target=self._loop, name="background", daemon=True)
        self._thread.start()
        return resumed

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                if resumed := self.step():
                    log.info("took over %d operation(s) nobody held: %s", len(resumed), ", ".join(resumed))
            except LedgerBusy as exc:  # a replica stuck in its write transaction: expected, bounded, said in words
                log.warning("background beat skipped: %s; trying again in %g s", exc, self.every)
            except Exception:
                log.exception("background beat failed; trying again in %g s", self.every)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop looking and give the singleton back, so another replica leads at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.leader.release()
        except Exception:
            log.exception("could not give back the %s singleton; it lapses by itself", LEADER)
