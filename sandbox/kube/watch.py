"""Watch streams: chunked JSON lines of ADDED/MODIFIED/DELETED/BOOKMARK/ERROR events, as the watch cache
serves them (selector filtering with ADDED/DELETED on entering or leaving the selection, bookmarks, 410)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ack_compute.sandbox.kube.context import KubeVersion
from ack_compute.sandbox.kube.objects import Objects
from ack_compute.sandbox.kube.registry import Kind
from ack_compute.sandbox.kube.selectors import FieldSelector, LabelSelector
from ack_compute.sandbox.kube.status import StatusError, expired
from ack_compute.sandbox.kube.store import Event, Obj, TooOldResourceVersion, clone

BOOKMARK_PERIOD_SECONDS = 60.0


@dataclass(frozen=True)
class WatchRequest:
    kind: Kind
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    since: int | None  # None: start with the current state
    timeout_seconds: float
    bookmarks: bool


def encode_event(event_type: str, obj: Obj) -> bytes:
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


def error_event(error: StatusError) -> bytes:
    return encode_event("ERROR", error.status())


class WatchStream:
    """One watch: attaches to the store, replays, then relays live events until the deadline."""

    def __init__(
        self,
        objects: Objects,
        request: WatchRequest,
        version: KubeVersion,
        wait_responsive: Callable[[], Awaitable[bool]],
        time_scale: float = 1.0,
    ) -> None:
        self._time_scale = time_scale
        self._objects = objects
        self._request = request
        self._version = version
        self._wait_responsive = wait_responsive

    def _convert(self, event: Event) -> tuple[str, Obj] | None:
        """cacheWatcher.convertToWatchEvent: what a watcher with selectors sees of a change."""
        request = self._request

        def passes(obj: Obj | None) -> bool:
            return obj is not None and self._objects.matches(request.kind, obj, request.labels, request.fields)

        current = event.type != "DELETED" and passes(event.obj)
        previous = passes(event.prev)
        if current and not previous:
            return "ADDED", event.obj
        if current and previous:
            return "MODIFIED", event.obj
        if previous:
            gone = clone(event.prev) if event.prev is not None else {}
            gone.setdefault("metadata", {})["resourceVersion"] = str(event.rv)
            return "DELETED", gone
        return None

    def _bookmark(self) -> bytes | None:
        kind = self._request.kind
        rv = self._objects.store.kind_resource_version(kind.key)
        if rv == 0:
            return None  # the cache has seen no event of this resource yet
        obj: dict[str, Any] = {"kind": kind.kind, "apiVersion": kind.api_version, **kind.strategy.zero_object()}
        obj["metadata"] = {**obj.get("metadata", {}), "resourceVersion": str(rv)}
        return encode_event("BOOKMARK", obj)

    def _next_bookmark(self, now: float, deadline: float) -> float | None:
        """Every minute; since 1.21 the apiserver knows the deadline and sends one 2 s before it."""
        if not self._request.bookmarks:
            return None
        heartbeat = now + BOOKMARK_PERIOD_SECONDS / self._time_scale
        if self._version.newer_than_emulated:
            heartbeat = min(heartbeat, deadline - 2)
            if heartbeat < now:
                return None
        return heartbeat

    async def events(self) -> AsyncIterator[bytes]:
        request = self._request
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + request.timeout_seconds
        store = self._objects.store
        try:
            initial, watcher, _ = store.watch(request.kind.key, request.namespace, request.since, loop)
        except TooOldResourceVersion as error:
            yield error_event(expired(str(error)))
            return
        try:
            for event in initial:
                converted = (
                    ("ADDED", event.obj)
                    if request.since is None
                    and self._objects.matches(request.kind, event.obj, request.labels, request.fields)
                    else None
                )
                if request.since is not None:
                    converted = self._convert(event)
                if converted is not None:
                    yield encode_event(*converted)
            bookmark_at = self._next_bookmark(time.monotonic(), deadline)
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return
                wake = deadline if bookmark_at is None else min(deadline, bookmark_at)
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), timeout=max(0.0, wake - now))
                except TimeoutError:
                    if bookmark_at is not None and time.monotonic() >= bookmark_at:
                        await self._wait_responsive()
                        line = self._bookmark()
                        if line is not None:
                            yield line
                        bookmark_at = self._next_bookmark(time.monotonic(), deadline)
                    continue
                await self._wait_responsive()
                if request.since is not None and event.rv <= request.since:
                    continue  # a watch from a future resourceVersion sees nothing until the cluster gets there
                converted = self._convert(event)
                if converted is not None:
                    yield encode_event(*converted)
        finally:
            store.unwatch(watcher)
