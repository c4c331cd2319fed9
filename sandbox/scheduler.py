"""One timer thread for every simulated delay, so a thousand clusters cost one thread, not a thousand."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

log = logging.getLogger("ack_compute.sandbox")


class Timer:
    """A scheduled action; cancel() stops it if it has not run yet."""

    def __init__(self, due: float, action: Callable[[], None]) -> None:
        self.due = due
        self.action = action
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    """A heap of timers served by one daemon thread, started on first use and stopped with the cloud."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def call_later(self, seconds: float, action: Callable[[], None]) -> Timer:
        timer = Timer(time.monotonic() + max(seconds, 0.0), action)
        with self._wake:
            heapq.heappush(self._heap, (timer.due, next(self._seq), timer))
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._run, name="sandbox-scheduler", daemon=True)
                self._thread.start()
            self._wake.notify()
        return timer

    def stop(self) -> None:
        """Drop every pending timer; a later call_later starts a fresh thread."""
        with self._wake:
            self._stopped = True
            self._heap.clear()
            self._wake.notify()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)
        with self._wake:
            self._stopped = False

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                if self._stopped:
                    return
                _, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            try:
                timer.action()
            except Exception:
                log.exception("sandbox scheduled action failed")


class SimClock:
    """Simulated cloud work takes its real-world duration divided by the time scale, read at scheduling time."""

    def __init__(self, time_scale: Callable[[], float]) -> None:
        self._time_scale = time_scale
        self.scheduler = Scheduler()

    @property
    def time_scale(self) -> float:
        return self._time_scale()

    def scaled(self, world_seconds: float) -> float:
        """Real seconds that `world_seconds` of cloud time take in the sandbox."""
        return world_seconds / self._time_scale()

    def after(self, world_seconds: float, action: Callable[[], None]) -> Timer:
        return self.scheduler.call_later(self.scaled(world_seconds), action)

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


class Calendar:
    """Maps real instants to sandbox instants, piecewise: each change of the time scale starts a new piece."""

    def __init__(self, scale: Callable[[], float], now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._scale = scale
        self._now = now
        self._lock = threading.Lock()
        start = now()
        self._pieces: list[tuple[datetime, datetime, float]] = [(start, start, scale())]

    def rescale(self) -> None:
        """The time scale changed now: sandbox time runs at the new rate from here."""
        with self._lock:
            self._observe(self._now())

    def _observe(self, real_now: datetime) -> None:
        real, virtual, scale = self._pieces[-1]
        current = self._scale()
        if current != scale:
            self._pieces.append((real_now, virtual + (real_now - real) * scale, current))

    def at(self, real: datetime) -> datetime:
        """The sandbox instant of a real instant (resource timestamps are real: SimClock.now())."""
        with self._lock:
            self._observe(self._now())
            piece = self._pieces[0]
            for candidate in self._pieces:
                if candidate[0] <= real:
                    piece = candidate
            real_start, virtual_start, scale = piece
            return virtual_start + (real - real_start) * scale

    def now(self) -> datetime:
        return self.at(self._now())
