"""Replicas: who holds a piece of work when several server processes (on several machines) share one ledger.

A pid means nothing across machines (two pods can run the same pid; a dead pod's pid may be alive elsewhere), so
work is held by a replica: a random id per process start, with hostname and pid kept for people. A holder renews
its hold (`held_until`) with a heartbeat; once the hold lapses any other replica may take the work with a
compare-and-set. One shortcut keeps a restart on one machine as quick as it was: a holder on *this* machine
(same hostname, boot and pid namespace, so pids compare) whose process is gone is dead now, not in 30 s.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ack_compute.tools.ledger import Ledger

log = logging.getLogger("ack_compute.replicas")


def _machine() -> str:
    """What makes two pids comparable: one host, one boot, one pid namespace (a container has its own)."""
    parts = [socket.gethostname()]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
        parts.append(os.readlink("/proc/self/ns/pid"))
    except OSError:  # not Linux: the hostname alone (no pid namespaces to tell apart there)
        pass
    return "|".join(parts)


def process_alive(pid: int | None) -> bool:
    """Whether a process of this machine still runs (only meaningful for a pid recorded on this machine)."""
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed process its parent has not reaped yet still answers signal 0; it runs nothing (state Z in
    /proc/<pid>/stat, proc(5)). Elsewhere than Linux, assume it runs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].startswith(("Z", "X"))


@dataclass
class Replica:
    """This process as the ledger knows it. `replica_id` is what holds work; the rest is for people."""

    replica_id: str = field(default_factory=lambda: f"r-{uuid.uuid4().hex[:12]}")
    hostname: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    machine: str = field(default_factory=_machine)
    _registered: set[str] = field(default_factory=set, repr=False)
    _known: dict[str, tuple[str, int] | None] = field(default_factory=dict, repr=False)

    def label(self) -> str:
        return f"{self.replica_id} ({self.hostname} pid {self.pid})"

    def register(self, ledger: Ledger, now: float) -> None:
        """Name this replica in the ledger once, before it first holds anything there."""
        if ledger.url in self._registered:
            return
        with ledger.transaction() as db:
            db.execute(
                "INSERT INTO replicas (replica_id, hostname, pid, machine, started_at)"
                " VALUES (:id, :host, :pid, :machine, :now) ON CONFLICT (replica_id) DO NOTHING",
                {"id": self.replica_id, "host": self.hostname, "pid": self.pid, "machine": self.machine, "now": now},
            )
        self._registered.add(ledger.url)

    def alive(self, ledger: Ledger, holder: str) -> bool | None:
        """Whether replica `holder` still runs, when this replica can tell: itself and any replica of this process
        run; one of this machine runs while its pid does. Another machine's is unknown (None): its hold decides."""
        if holder == self.replica_id:
            return True
        if holder not in self._known:
            rows = ledger.query("SELECT machine, pid FROM replicas WHERE replica_id = :id", {"id": holder})
            self._known[holder] = (rows[0]["machine"], rows[0]["pid"]) if rows else None
        known = self._known[holder]
        if known is None or known[0] != self.machine:
            return None
        return process_alive(known[1])

    def gone(self, ledger: Ledger, holder: str) -> bool:
        """Whether `holder` is known dead without waiting for its hold to lapse."""
        return self.alive(ledger, holder) is False


class Singleton:
    """Work that must run on exactly one replica at a time (the reaper's look, resuming what nobody holds): a row
    in `singletons` taken and renewed by compare-and-set. `hold()` takes or renews it; `held` says, without the
    ledger, whether this replica may still act (its last renewal has not lapsed)."""

    def __init__(
        self,
        ledger: Ledger,
        name: str,
        replica: Replica,
        lease_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger = ledger
        self.name = name
        self.replica = replica
        self.lease_seconds = lease_seconds
        self._clock = clock
        self._until = 0.0

    @property
    def held(self) -> bool:
        return self._until > self._clock()

    def holder(self) -> str | None:
        rows = self.ledger.query("SELECT holder FROM singletons WHERE name = :name", {"name": self.name})
        return rows[0]["holder"] if rows else None

    def hold(self) -> bool:
        """Take (when free, lapsed, or its holder is known dead) or renew; True when this replica holds it."""
        now = self._clock()
        until = now + self.lease_seconds
        me = self.replica.replica_id
        self.replica.register(self.ledger, now)
        with self.ledger.transaction() as db:
            row = db.execute("SELECT holder, held_until FROM singletons WHERE name = :name", {"name": self.name})
            current = row.fetchone()
            if current is None:
                took = db.execute(
                    "INSERT INTO singletons (name, holder, held_until) VALUES (:name, :me, :until)"
                    " ON CONFLICT (name) DO NOTHING",
                    {"name": self.name, "me": me, "until": until},
                ).rowcount
            else:
                old = current["holder"]
                if old != me and current["held_until"] >= now and not self.replica.gone(self.ledger, old):
                    took = 0
                else:
                    took = db.execute(
                        "UPDATE singletons SET holder = :me, held_until = :until WHERE name = :name AND holder = :old",
                        {"name": self.name, "me": me, "until": until, "old": old},
                    ).rowcount
                    if took and old != me:
                        log.info("%s: now held by replica %s (was %s)", self.name, self.replica.label(), old)
        self._until = until if took == 1 else 0.0
        return took == 1

    def release(self) -> None:
        """On a clean stop: let the next replica take it at once instead of after the hold lapses."""
        self._until = 0.0
        with self.ledger.transaction() as db:
            db.execute(
                "UPDATE singletons SET held_until = 0 WHERE name = :name AND holder = :me",
                {"name": self.name, "me": self.replica.replica_id},
            )
