"""A child process that reports what it does as JSON lines on stdout (tests/tools/crash_driver.py), read into
events by a thread, and killed without warning when a test says so."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


class EventProcess:
    """The process's stdout JSON lines are events; its stderr goes to `log` (a pipe nobody drains would stall it)."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str], log: Path) -> None:
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            list(args), env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log, text=True
        )
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"driver-{self.proc.pid}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self._events.put(json.loads(line))

    def event(self, name: str, timeout: float = 60.0) -> dict[str, Any]:
        """The next event called `name` (earlier ones of other names are passed over); fails the test when the
        process exits first or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                event = self._events.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                assert self.proc.poll() is None, f"the process exited ({self.proc.returncode}) before {name!r}"
                continue
            if event["event"] == name:
                return event
        raise AssertionError(f"no {name!r} from the process within {timeout:.0f} s")

    def sigkill(self) -> None:
        """Kill without warning and reap, so its pid is really gone (a zombie would still look alive)."""
        assert self.proc.poll() is None, "the process died before the planned kill"
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(timeout=10) == -signal.SIGKILL

    def close(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._reader.join(timeout=5)
        self._log.close()


def serve_once(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`ack-compute-mcp serve` on stdio with nothing to read: one that starts serves, sees the end of its input and
    exits 0; one that may not start says why on stderr and exits 2."""
    return subprocess.run(
        [sys.executable, "-m", "ack_compute.server", "serve", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
