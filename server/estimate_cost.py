"""estimate_cost on the MCP surface: price a plan and issue a quote (creates nothing)."""

# No `from __future__ import annotations`: the SDK evaluates the tool signature to build its schema.
from typing import Annotated

import anyio
import anyio.to_thread
from mcp.server import MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from ack_compute.server.errors import as_tool_errors
from ack_compute.server.results import compact_union, lean, slim
from ack_compute.server.runtime import Runtime
from ack_compute.tools import estimate_cost as estimating
from ack_compute.tools.estimate_cost import Estimate
from ack_compute.tools.plans import Plan

DESCRIPTION = (
    "Price a plan; creates nothing. kind=cluster: ACK cluster with worker nodes; kind=serverless: ACK Serverless "
    "cluster (no nodes); kind=acs: ACS pods; kind=eci: ECI pods on ACK Serverless. Returns line items, hourly cost, "
    "total for `hours`, assumptions, exclusions and a quote_id. Show them to the person; on their yes pass the "
    "quote_id (single-use, expires, this plan only) to ensure_cluster, run_job or deploy_acs."
)


def register_estimate_cost(server: MCPServer, runtime: Runtime) -> None:
    default_region = runtime.settings.region
    # Estimates are CPU-bound Python: a few threads at a time, not anyio's 40, keep the tail short under load
    # (bench/bench_http_load.py: server-side p99 from ~170 ms to ~30 ms at 50 concurrent clients).
    estimates = anyio.CapacityLimiter(4)

    @server.tool(
        name="estimate_cost",
        title="Estimate cost and issue a quote",
        description=DESCRIPTION,
        annotations=ToolAnnotations(
            read_only_hint=True, destructive_hint=False, idempotent_hint=False, open_world_hint=True
        ),
    )
    @as_tool_errors
    async def estimate_cost(
        plan: Annotated[Plan, Field(description="What to price; `kind` picks the plan type.")],
    ) -> Annotated[CallToolResult, Estimate]:
        estimate = await anyio.to_thread.run_sync(
            lambda: estimating.estimate_cost(
                plan, default_region=default_region, pricer=runtime.pricer, quotes=runtime.quotes
            ),
            limiter=estimates,
        )
        return lean(estimate)

    tool = server._tool_manager.get_tool("estimate_cost")
    tool.parameters = compact_union(
        slim(tool.parameters),
        "plan",
        "cluster: ACK cluster with worker nodes; serverless: ACK Serverless cluster; acs: ACS pods; eci: ECI pods.",
    )
