"""The one wait-then-answer helper every long tool uses: wait a bounded time with progress, then answer with the
finished result, a failure, or what is still running (and its operation id)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import BaseModel

from ack_compute.server.params import MAX_WAIT
from ack_compute.server.results import lean
from ack_compute.server.runtime import Runtime
from ack_compute.tools.extend_lease import lease_ends_at
from ack_compute.tools.operations import OperationStatus

M = TypeVar("M", bound=BaseModel)


def requested_by(ctx: Context) -> str:
    """The client's name and version, recorded with what it asked for."""
    params = getattr(ctx.session, "client_params", None)
    info = getattr(params, "client_info", None)
    return f"{getattr(info, 'name', '')} {getattr(info, 'version', '')}".strip()


async def await_operation(runtime: Runtime, ctx: Context, operation_id: str, wait_seconds: int) -> OperationStatus:
    """Wait at most `wait_seconds`, reporting progress as it changes; the work itself never stops."""
    deadline = anyio.current_time() + max(0, min(wait_seconds, MAX_WAIT))
    status = runtime.operations.get(operation_id)
    reported, said = -1.0, ""
    while not status.done and not status.waiting_for_full_server and (remaining := deadline - anyio.current_time()) > 0:
        status = await anyio.to_thread.run_sync(
            runtime.operations.wait, operation_id, min(remaining, 2.0), abandon_on_cancel=True
        )
        # MCP: each progress value must be greater than the last. A wait that timed out has nothing to say; a new
        # message at the same fraction is nudged up a hair so the person still sees what the server is doing.
        message = f"{status.stage}: {status.message}".strip(": ")
        progress = status.progress * 100
        if progress <= reported and message != said and reported < 99.8:
            progress = reported + 0.1
        if progress > reported:
            await ctx.report_progress(progress, 100, message)
            reported, said = progress, message
    return status


async def wait_then_answer(
    runtime: Runtime,
    ctx: Context,
    started: M,
    wait_seconds: int,
    *,
    running: Callable[[M], bool],
    finished: Callable[[dict[str, Any]], M],
    still: Callable[[M, OperationStatus], M] = lambda outcome, status: outcome,
    what: str = "Operation",
) -> M:
    """`started` came back with an operation still running: wait for it, then answer with its result (`finished`),
    raise its failure, or hand back `started` updated by `still` with where it stands."""
    operation_id = getattr(started, "operation_id", None)
    if not operation_id or not running(started) or not wait_seconds:
        return started
    status = await await_operation(runtime, ctx, operation_id, wait_seconds)
    if status.state == "failed":
        raise ToolError(f"{what} {status.operation_id} failed: {status.error}")
    if status.state != "running" and status.result:
        return finished(status.result)
    return still(started, status)


def now_at(outcome: M, status: OperationStatus) -> M:
    """`still` for tools whose answer names the operation's stage and message while it runs."""
    return outcome.model_copy(update={"message": f"{outcome.message} Now: {status.stage} {status.message}."})


async def start_then_answer(
    runtime: Runtime, ctx: Context, start: Callable[[], M], wait_seconds: int, **how: Any
) -> CallToolResult:
    """Run a tool's `start` off the event loop, then `wait_then_answer` (with `how`) and answer lean."""
    outcome = await anyio.to_thread.run_sync(start)
    return lean(with_lease(runtime, await wait_then_answer(runtime, ctx, outcome, wait_seconds, **how)))


def with_lease(runtime: Runtime, outcome: M) -> M:
    """A creating tool's answer with the end of the lease its purchase holds (none for a reused resource)."""
    if "lease_ends_at" not in type(outcome).model_fields:
        return outcome
    ends = lease_ends_at(runtime.ledger, getattr(outcome, "operation_id", None))
    return outcome.model_copy(update={"lease_ends_at": ends}) if ends else outcome
