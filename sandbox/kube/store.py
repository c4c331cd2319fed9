"""A cluster's objects, its resourceVersion counter and the recent event window that watches replay.

One counter per cluster, bumped by every write, like etcd's revision. Watches attach under the same lock
that writes take, so a watch sees every event after its starting point exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The apiserver's watch cache (1.19+): per resource, 100 events at first, doubling while the oldest is younger
# than 75 s, up to 100 * 1024; a watch from before the retained window gets 410 Expired.
WATCH_CACHE_LOWER_BOUND = 100
WATCH_CACHE_UPPER_BOUND = 100 * 1024
EVENT_FRESH_SECONDS = 75.0

Obj = dict[str, Any]


def clone(value: Any) -> Any:
    """A deep copy of JSON-shaped data, much faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {key: clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clone(item) for item in value]
    return value


def meta(obj: Obj) -> dict[str, Any]:
    return obj.setdefault("metadata", {})


@dataclass(frozen=True)
class Event:
    """A stored change. For DELETED, `obj` is the last state stamped with the deletion's resourceVersion."""

    type: str
    kind_key: str
    namespace: str
    rv: int
    obj: Obj
    prev: Obj | None


@dataclass
class _History:
    """One resource's retained events, sized like the watch cache."""

    list_rv: int
    fresh_seconds: float
    capacity: int = WATCH_CACHE_LOWER_BOUND
    events: deque[tuple[float, Event]] = field(default_factory=deque)
    evicted: bool = False

    def add(self, event: Event, now: float) -> None:
        if len(self.events) >= self.capacity:
            if now - self.events[0][0] < self.fresh_seconds:
                self.capacity = min(self.capacity * 2, WATCH_CACHE_UPPER_BOUND)
            elif now - self.events[len(self.events) - self.capacity // 4][0] > self.fresh_seconds:
                self.capacity = max(self.capacity // 2, WATCH_CACHE_LOWER_BOUND)
        while len(self.events) >= self.capacity:
            self.events.popleft()
            self.evicted = True
        self.events.append((now, event))

    def oldest(self) -> int:
        """The oldest resourceVersion a watch can start after, plus one (watchCache's `oldest`)."""
        if not self.evicted:
            return self.list_rv + 1
        return self.events[0][1].rv


class TooOldResourceVersion(Exception):
    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


@dataclass(eq=False)
class Watcher:
    """A watch's mailbox; events are handed to its event loop thread-safely."""

    kind_key: str
    namespace: str | None
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)

    def wants(self, event: Event) -> bool:
        return event.kind_key == self.kind_key and (self.namespace is None or event.namespace == self.namespace)

    def offer(self, event: Event) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the hub stopped
            self.loop.call_soon_threadsafe(self.queue.put_nowait, event)


class Conflict(Exception):
    """The stored object changed since the resourceVersion the writer read."""


class Store:
    """Objects by kind key, namespace and name. All methods are thread-safe and return copies."""

    def __init__(self, fresh_seconds: float = EVENT_FRESH_SECONDS) -> None:
        self.lock = threading.RLock()
        self._rv = 0
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {}
        self._fresh_seconds = fresh_seconds
        self._history: dict[str, _History] = {}
        self._kind_rv: dict[str, int] = {}
        self._watchers: set[Watcher] = set()
        self._listeners: list[Callable[[Event], None]] = []

    @property
    def resource_version(self) -> int:
        with self.lock:
            return self._rv

    def kind_resource_version(self, kind_key: str) -> int:
        """The last resourceVersion seen for one resource (0: none yet), as its watch cache reports it."""
        with self.lock:
            return self._kind_rv.get(kind_key, 0)

    def _history_of(self, kind_key: str) -> _History:
        history = self._history.get(kind_key)
        if history is None:
            history = self._history[kind_key] = _History(list_rv=0, fresh_seconds=self._fresh_seconds)
        return history

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        self._listeners.append(listener)

    def get(self, kind_key: str, namespace: str, name: str) -> Obj | None:
        with self.lock:
            obj = self._objects.get(kind_key, {}).get((namespace, name))
            return clone(obj) if obj is not None else None

    def list(self, kind_key: str, namespace: str | None) -> tuple[list[Obj], int]:
        """Objects in key order (namespace, then name) and the resourceVersion of the snapshot."""
        with self.lock:
            bucket = self._objects.get(kind_key, {})
            keys = sorted(k for k in bucket if namespace is None or k[0] == namespace)
            return [clone(bucket[k]) for k in keys], self._rv

    def create(self, kind_key: str, obj: Obj) -> Obj:
        """Stores a new object; raises KeyError when the name is taken."""
        metadata = meta(obj)
        key = (metadata.get("namespace") or "", metadata["name"])
        with self.lock:
            bucket = self._objects.setdefault(kind_key, {})
            if key in bucket:
                raise KeyError(key)
            self._rv += 1
            metadata["resourceVersion"] = str(self._rv)
            bucket[key] = clone(obj)
            self._publish(Event("ADDED", kind_key, key[0], self._rv, clone(obj), None))
            return obj

    def update(self, kind_key: str, obj: Obj, *, expected_rv: str | None = None) -> tuple[Obj, bool]:
        """Replaces an object; a no-op write stores nothing and keeps the resourceVersion, like etcd3's store.

        Returns the stored object and whether anything changed. Raises KeyError when it is gone and Conflict
        when `expected_rv` is not the stored resourceVersion.
        """
        metadata = meta(obj)
        key = (metadata.get("namespace") or "", metadata["name"])
        with self.lock:
            bucket = self._objects.get(kind_key, {})
            old = bucket.get(key)
            if old is None:
                raise KeyError(key)
            old_rv = old["metadata"]["resourceVersion"]
            if expected_rv is not None and expected_rv != old_rv:
                raise Conflict(key)
            metadata["resourceVersion"] = old_rv
            if obj == old:
                return clone(old), False
            self._rv += 1
            metadata["resourceVersion"] = str(self._rv)
            bucket[key] = clone(obj)
            self._publish(Event("MODIFIED", kind_key, key[0], self._rv, clone(obj), clone(old)))
            return obj, True

    def delete(self, kind_key: str, namespace: str, name: str, *, expected_rv: str | None = None) -> Obj:
        """Removes an object and returns its last stored state (its own resourceVersion, as etcd3 returns it)."""
        key = (namespace, name)
        with self.lock:
            bucket = self._objects.get(kind_key, {})
            old = bucket.get(key)
            if old is None:
                raise KeyError(key)
            if expected_rv is not None and expected_rv != old["metadata"]["resourceVersion"]:
                raise Conflict(key)
            del bucket[key]
            self._rv += 1
            tombstone = clone(old)
            tombstone["metadata"]["resourceVersion"] = str(self._rv)
            self._publish(Event("DELETED", kind_key, namespace, self._rv, tombstone, clone(old)))
            return clone(old)

    def _publish(self, event: Event) -> None:
        self._history_of(event.kind_key).add(event, time.monotonic())
        self._kind_rv[event.kind_key] = event.rv
        for watcher in self._watchers:
            if watcher.wants(event):
                watcher.offer(event)
        for listener in self._listeners:
            listener(event)

    def watch(
        self, kind_key: str, namespace: str | None, since: int | None, loop: asyncio.AbstractEventLoop
    ) -> tuple[list[Event], Watcher, int]:
        """Attach a watcher. `since=None` starts with synthetic ADDED events for what exists now; otherwise it
        replays retained events after `since` (TooOldResourceVersion when they are gone). Also returns the
        resourceVersion the watch starts at."""
        with self.lock:
            if since is None:
                bucket = self._objects.get(kind_key, {})
                keys = sorted(k for k in bucket if namespace is None or k[0] == namespace)
                start = self._kind_rv.get(kind_key, 0)
                initial = [Event("ADDED", kind_key, k[0], start, clone(bucket[k]), None) for k in keys]
            else:
                history = self._history_of(kind_key)
                oldest = history.oldest()
                if since < oldest - 1:
                    raise TooOldResourceVersion(since, oldest - 1)
                initial = [
                    event
                    for _, event in history.events
                    if event.rv > since and (namespace is None or event.namespace == namespace)
                ]
                start = since
            watcher = Watcher(kind_key, namespace, loop)
            self._watchers.add(watcher)
            return initial, watcher, start

    def unwatch(self, watcher: Watcher) -> None:
        with self.lock:
            self._watchers.discard(watcher)
