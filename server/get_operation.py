"""get_operation on the MCP surface: what tools/operations.py says about an operation after a bounded wait, and for
a running job the log lines written since this caller's last poll."""

# No `from __future__ import annotations`: the SDK evaluates the tool signature to build its schema.
from typing import Annotated

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations

from ack_compute.server.errors import as_tool_errors
from ack_compute.server.params import OperationId, WaitSeconds
from ack_compute.server.results import lean
from ack_compute.server.runtime import Runtime
from ack_compute.server.waiting import await_operation
from ack_compute.tools.extend_lease import lease_ends_at
from ack_compute.tools.job_logs import JobLogs
from ack_compute.tools.operations import OperationView, view


def register_get_operation(server: MCPServer, runtime: Runtime) -> None:
    logs = JobLogs(runtime.targets, runtime.ledger)

    @server.tool(
        name="get_operation",
        title="Follow a long operation",
        description="Status, progress and result of an operation id returned by another tool (a running job's new "
        "log lines too); waits up to wait_seconds for it to finish or change.",
        # Read-only: it changes nothing in the cloud or the cluster; it moves this caller's log cursor (server
        # bookkeeping), which is also why a repeat is not idempotent. Open world: a running job's log comes from the
        # cluster's API.
        annotations=ToolAnnotations(
            read_only_hint=True, destructive_hint=False, idempotent_hint=False, open_world_hint=True
        ),
    )
    @as_tool_errors
    async def get_operation(
        ctx: Context, operation_id: OperationId, wait_seconds: WaitSeconds = 20
    ) -> Annotated[CallToolResult, OperationView]:
        status = await await_operation(runtime, ctx, operation_id, wait_seconds)
        lines = await anyio.to_thread.run_sync(logs.new_lines, status) if not status.done else None
        ends = await anyio.to_thread.run_sync(lease_ends_at, runtime.ledger, operation_id)
        return lean(view(status, log_lines=lines).model_copy(update={"lease_ends_at": ends}))
