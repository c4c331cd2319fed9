"""cleanup on the MCP surface: a dry run by default, then deletion as a followed operation."""

# No `from __future__ import annotations`: the SDK evaluates the tool signature to build its schema.
from typing import Annotated, Literal

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from ack_compute.server.errors import as_tool_errors
from ack_compute.server.params import TidyId, WaitSeconds
from ack_compute.server.results import lean
from ack_compute.server.runtime import Runtime
from ack_compute.server.waiting import requested_by, wait_then_answer
from ack_compute.tools.cleanup import CleanupReport, CleanupRequest

DESCRIPTION = (
    "Deletes what this server created (the ledger says so and tags agree), newest first: workloads, then clusters, "
    "then their network; never reused or foreign resources. dry_run (default true) returns the plan: what goes, "
    "what is kept and why, the hourly cost that stops; show it to the person, then call with dry_run=false. Safe "
    "to repeat."
)


def register_cleanup(server: MCPServer, runtime: Runtime) -> None:
    cleaner = runtime.cleaner

    @server.tool(
        name="cleanup",
        title="Delete what this server created",
        description=DESCRIPTION,
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
        ),
    )
    @as_tool_errors
    async def cleanup(
        ctx: Context,
        target: Annotated[
            Literal["all", "operation", "cluster", "workload"],
            Field(description="What to delete; follows from the one selector given, everything without one."),
        ] = "all",
        operation_id: Annotated[str, TidyId, Field(description="Only what this op-... id created.")] = "",
        cluster: Annotated[str, Field(description="A cluster id or name, with what runs on it.")] = "",
        workload: Annotated[str, Field(description="A Job or Deployment name; with cluster, only there.")] = "",
        dry_run: Annotated[bool, Field(description="true: only show the plan; false: delete.")] = True,
        wait_seconds: WaitSeconds = 30,
    ) -> Annotated[CallToolResult, CleanupReport]:
        request = CleanupRequest(
            target=target,
            operation_id=operation_id or None,
            cluster=cluster or None,
            workload=workload or None,
            dry_run=dry_run,
        )
        if dry_run:
            return lean(_for_agent(await anyio.to_thread.run_sync(lambda: cleaner.plan(request))))
        report = await anyio.to_thread.run_sync(lambda: cleaner.start(request, requested_by(ctx)))
        operation_id = report.operation_id
        report = await wait_then_answer(
            runtime,
            ctx,
            report,
            wait_seconds,
            running=lambda r: True,
            finished=lambda result: CleanupReport.model_validate(result).model_copy(
                update={"operation_id": operation_id}
            ),
            what="Cleanup",
        )
        return lean(_for_agent(report))


KUBE_KINDS = ("job", "deployment", "service", "configmap")


def _for_agent(report: CleanupReport) -> CleanupReport:
    """A Kubernetes object's uid is bookkeeping (its name says which it is): left out of what the model reads."""
    items = [i.model_copy(update={"cloud_id": None}) if i.kind in KUBE_KINDS else i for i in report.items]
    return report.model_copy(update={"items": items})
