"""What an agent does through an MCP client, in the steps several tests share."""

from __future__ import annotations

from typing import Any

from mcp import Client, types


async def deploy_quoted(client: Client, cluster: str, plan: dict[str, Any], name: str = "api") -> types.CallToolResult:
    """estimate_cost for `plan`, then deploy_acs of nginx with that quote's id (the person's yes is the client's)."""
    estimate = await client.call_tool("estimate_cost", {"plan": plan})
    assert not estimate.is_error, estimate.content
    token = (estimate.structured_content or {})["quote_id"]
    deploy = {"cluster": cluster, "name": name, "image": "nginx:1.27", "plan": plan, "quote_id": token}
    return await client.call_tool("deploy_acs", deploy)
