"""Waiting for input on a few descriptors with poll(2): select(2) refuses descriptors numbered 1024 or more
(FD_SETSIZE), which a busy server or a long test process reaches, and then a container's output was lost."""

from __future__ import annotations

import select
from typing import Protocol, TypeVar


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


Readable = TypeVar("Readable", int, _HasFileno)

_READ_EVENTS = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR


def readable(sources: list[Readable], timeout: float | None) -> list[Readable]:
    """The sources (descriptors or objects with fileno()) that can be read without blocking, or have hung up,
    within `timeout` seconds (None: wait as long as it takes)."""
    poller = select.poll()
    by_fd: dict[int, Readable] = {}
    for source in sources:
        fd = source if isinstance(source, int) else source.fileno()
        by_fd[fd] = source
        poller.register(fd, _READ_EVENTS)
    events = poller.poll(None if timeout is None else int(timeout * 1000))
    return [by_fd[fd] for fd, _ in events if fd in by_fd]
