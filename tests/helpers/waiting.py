"""Waiting in tests: one polling loop for "this becomes true soon", one for "this operation finishes" (in process),
one for "this operation finishes" through an MCP client."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ack_compute.server.runtime import Runtime
    from ack_compute.tools.operations import OperationStatus

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 30.0, interval: float = 0.02, what: str = "") -> T:
    """Call `check` until it returns something truthy and return that; fail the test after `timeout` seconds
    (saying `what` was awaited, when given). The check runs once more after the deadline before failing."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}" if what else "condition not met in time"
            )
        time.sleep(interval)


def settle(runtime: Runtime, operation_id: str, timeout: float = 60.0) -> OperationStatus:
    """The operation's status once it is done, or the last one seen after `timeout` seconds (callers assert what
    they expect of it). Blocks on the operation itself, no sleeping."""
    deadline = time.monotonic() + timeout
    status = runtime.operations.get(operation_id)
    while not status.done and time.monotonic() < deadline:
        status = runtime.operations.wait(operation_id, 2)
    return status


async def operation_view(
    call_tool: Callable[[str, dict[str, Any]], Awaitable[Any]], operation_id: str, timeout: float = 90.0
) -> dict[str, Any]:
    """Poll get_operation through an MCP client (`call_tool(name, arguments)`) until the operation is no longer
    running or `timeout` seconds pass; its last view. Each poll lets the server wait up to 20 s."""
    deadline = time.monotonic() + timeout
    while True:
        polled = await call_tool("get_operation", {"operation_id": operation_id, "wait_seconds": 20})
        view: dict[str, Any] = polled.structured_content or {}
        if view.get("state") != "running" or time.monotonic() > deadline:
            return view


def finished(runtime: Runtime, operation_id: str, timeout: float = 60.0) -> OperationStatus:
    """settle(), failing the test when the operation is still running after `timeout` seconds."""
    status = settle(runtime, operation_id, timeout)
    assert status.done, f"operation {operation_id} still {status.stage}: {status.message}"
    return status
