"""cancel_operation on the MCP surface: stop a create, job or cleanup and say what was removed or left."""

# No `from __future__ import annotations`: the SDK evaluates the tool signature to build its schema.
from typing import Annotated

import anyio.to_thread
from mcp.server import MCPServer
from mcp.types import CallToolResult, ToolAnnotations

from ack_compute.server.errors import as_tool_errors
from ack_compute.server.params import OperationId
from ack_compute.server.results import lean
from ack_compute.server.runtime import Runtime
from ack_compute.tools.cancel import Canceller, CancelOutcome


def register_cancel_operation(server: MCPServer, runtime: Runtime) -> None:
    canceller = Canceller(runtime.operations, runtime.ownership, runtime.targets, runtime.cleaner)

    @server.tool(
        name="cancel_operation",
        title="Cancel an operation",
        description="Stops your running create, job, deploy or cleanup (a job's Job is deleted) and says what it "
        "cleaned up or left for cleanup.",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
        ),
    )
    @as_tool_errors
    async def cancel_operation(
        operation_id: OperationId,
    ) -> Annotated[CallToolResult, CancelOutcome]:
        return lean(await anyio.to_thread.run_sync(lambda: canceller.cancel(operation_id)))
