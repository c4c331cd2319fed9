"""get_operation on the MCP surface: what tools/operations.py says about an operation, after a bounded wait."""

# No `from __future__ import annotations`: the SDK evaluates the tool signature to build its schema.
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel

from ack_compute.server.errors import as_tool_errors
from ack_compute.server.params import MAX_WAIT, OperationId, WaitSeconds
from ack_compute.server.results import lean
from ack_compute.server.runtime import Runtime
from ack_compute.server.waiting import await_operation
from ack_compute.tools.operations import OperationStatus


class OperationView(BaseModel):
    operation_id: str
    kind: str
    state: str
    stage: str
    progress: float
    message: str
    result: dict[str, Any] | None = None
    error: str | None = None
    next_step: str


def view(status: OperationStatus) -> OperationView:
    if status.waiting_for_full_server:
        step = "Ask the operator to start ack-compute-mcp without --read-only; this server cannot continue it."
    elif status.state == "running":
        step = f"Still running; call get_operation with {status.operation_id} again (wait_seconds up to {MAX_WAIT})."
    elif status.state == "succeeded":
        step = (status.result or {}).get("next_step", "Done.")
    else:
        step = "It failed; the error says what was done. Resources it created are in the ledger for cleanup."
    return OperationView(
        **status.model_dump(
            include={"operation_id", "kind", "state", "stage", "progress", "message", "result", "error"}
        ),
        next_step=step,
    )


def register_get_operation(server: MCPServer, runtime: Runtime) -> None:
    @server.tool(
        name="get_operation",
        title="Follow a long operation",
        description="Status, progress and result of an operation id returned by another tool; waits up to "
        "wait_seconds for it to finish or change.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    @as_tool_errors
    async def get_operation(
        ctx: Context, operation_id: OperationId, wait_seconds: WaitSeconds = 20
    ) -> Annotated[CallToolResult, OperationView]:
        return lean(view(await await_operation(runtime, ctx, operation_id, wait_seconds)))
