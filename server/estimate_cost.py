"""estimate_cost on the MCP surface: price a plan and issue a quote (creates nothing)."""

# No `from __future__ import annotations`: the SDK evaluates the tool signature to build its schema.
from typing import Annotated, Any

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
    "Prices a plan, creating nothing: line items, hourly cost, total, assumptions, quote_id. Show them to the person; "
    "on their yes pass the quote_id (single-use, expiring) to the tool that buys it."
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
        # Read-only: it creates and spends nothing in the cloud. The quote row it writes is this server's own
        # record (unused, it expires and costs nothing), and spending it still needs a person's yes in the creating
        # tool, so a host may run it without asking. Not idempotent: each call issues a new quote_id.
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
    tool.parameters = _shared_disk(
        compact_union(
            slim(tool.parameters),
            "plan",
            "cluster: ACK with nodes; serverless: ACK Serverless; acs: ACS pods; eci: ECI pods on ACK Serverless; "
            "node_pool: nodes for a cluster.",
        )
    )


def _shared_disk(schema: dict[str, Any]) -> dict[str, Any]:
    """The system disk and the data disks have one shape: publish it once (tools/plans.py validates both)."""
    plan = schema["properties"]["plan"]["properties"]
    system, data = plan["system_disk"], plan["data_disks"]
    disk = {k: v for k, v in system.items() if k != "description"}
    disk["properties"] = {
        **disk["properties"],
        "size_gib": {"type": "integer", "description": "GiB: system 40..500 (default 120), data 20..32768."},
    }
    plan["system_disk"] = {"$ref": "#/$defs/Disk", "description": system.get("description", "")}
    plan["data_disks"] = {**{k: v for k, v in data.items() if k != "items"}, "items": {"$ref": "#/$defs/Disk"}}
    return {**schema, "$defs": {"Disk": disk}}
