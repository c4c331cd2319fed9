"""cleanup on the MCP surface: a dry run by default, then deletion as a followed operation."""

# No `from __future__ import annotations`: the SDK evaluates the tool signature to build its schema.
from typing import Annotated, Literal

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from ack_compute.server.clusters import MAX_WAIT, _requested_by, await_operation
from ack_compute.server.errors import as_tool_errors
from ack_compute.server.runtime import Runtime
from ack_compute.tools.cleanup import CleanupReport, CleanupRequest


def register_cleanup(server: MCPServer, runtime: Runtime) -> None:
    cleaner = runtime.cleaner

    @server.tool(
        name="cleanup",
        title="Delete what this server created",
        description=(
            "Deletes resources this server created, newest first: Jobs, Deployments and Services, then clusters "
            "(each deletion awaited), then vSwitches and VPCs. Only what the ledger says this server created and "
            "whose tags or labels agree; reused and foreign resources are never touched. target: all | operation "
            "(operation_id) | cluster (cluster id, with its workloads and the network created for it) | workload "
            "(a Job or Deployment name). dry_run defaults to true and returns the plan: what is deleted in which "
            "order, what is kept and why, and the hourly cost that stops; show it to the person, then call again "
            "with dry_run=false. Safe to repeat: what is already gone counts as done."
        ),
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
        ),
    )
    @as_tool_errors
    async def cleanup(
        ctx: Context,
        target: Literal["all", "operation", "cluster", "workload"] = "all",
        operation_id: Annotated[str | None, Field(description="With target=operation.")] = None,
        cluster: Annotated[str | None, Field(description="With target=cluster: the cluster id.")] = None,
        workload: Annotated[str | None, Field(description="With target=workload: a Job or Deployment name.")] = None,
        dry_run: bool = True,
        wait_seconds: Annotated[int, Field(ge=0, le=MAX_WAIT)] = 30,
    ) -> CleanupReport:
        request = CleanupRequest(
            target=target, operation_id=operation_id, cluster=cluster, workload=workload, dry_run=dry_run
        )
        if dry_run:
            return await anyio.to_thread.run_sync(lambda: cleaner.plan(request))
        report = await anyio.to_thread.run_sync(lambda: cleaner.start(request, _requested_by(ctx)))
        if report.operation_id and wait_seconds:
            status = await await_operation(runtime, ctx, report.operation_id, wait_seconds)
            if status.state == "succeeded" and status.result:
                return CleanupReport.model_validate(status.result).model_copy(
                    update={"operation_id": report.operation_id}
                )
            if status.state == "failed":
                raise ToolError(f"Cleanup {status.operation_id} failed: {status.error}")
        return report
