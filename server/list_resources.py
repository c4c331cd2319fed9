"""list_resources on the MCP surface: read-only, what the caller's quotes paid for or reused, with the spend meter."""

# No `from __future__ import annotations`: the SDK evaluates the tool signature to build its schema.
from typing import Annotated

import anyio.to_thread
from mcp.server import MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from ack_compute.server.errors import as_tool_errors
from ack_compute.server.results import lean
from ack_compute.server.runtime import Runtime
from ack_compute.tools.inventory import Inventories, Inventory


def register_list_resources(server: MCPServer, runtime: Runtime) -> None:
    inventories = Inventories(
        cs=runtime.cs,
        vpcs=runtime.clusters.vpcs,
        targets=runtime.targets,
        ownership=runtime.ownership,
        pools=runtime.node_pools,
        budgets=runtime.quotes.budget,
        budget_currency=runtime.quotes.caps.currency,
        bills=runtime.bills,
    )

    @server.tool(
        name="list_resources",
        title="List what you are paying for",
        description="Clusters, node pools, networks, Jobs and Deployments this server created or reused for you, "
        "checked against the cloud: state, hourly cost, hours run, accrued cost, lease end; totals per currency and "
        "per caller.",
        annotations=ToolAnnotations(
            read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
    @as_tool_errors
    async def list_resources(
        include_gone: Annotated[bool, Field(description="Also list what the cloud no longer has.")] = False,
    ) -> Annotated[CallToolResult, Inventory]:
        return lean(await anyio.to_thread.run_sync(lambda: inventories.list(include_gone)))
