"""What an agent does through an MCP client, in the steps several tests share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp import Client, types

Elicit = Callable[[Any, types.ElicitRequestParams], Awaitable[types.ElicitResult]]


def cluster_plan(**more: Any) -> dict[str, Any]:
    """The small cluster plan the surface tests buy (one ecs.g7.xlarge node in cn-hangzhou-h), plus `more`."""
    return {"kind": "cluster", "instance_types": ["ecs.g7.xlarge"], "node_count": 1, "zone": "cn-hangzhou-h", **more}


def answering(action: str, seen: list[str]) -> Elicit:
    """A person who answers every confirmation with `action` (accept, decline, cancel); what they were asked is
    appended to `seen`."""

    async def callback(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        seen.append(params.message)
        content = {"accept": True} if action == "accept" else None
        return types.ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    return callback


async def accept(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    """A person who accepts every confirmation."""
    return types.ElicitResult(action="accept", content={"accept": True})


async def deploy_quoted(client: Client, cluster: str, plan: dict[str, Any], name: str = "api") -> types.CallToolResult:
    """estimate_cost for `plan`, then deploy_acs of nginx with that quote's id (the person's yes is the client's)."""
    estimate = await client.call_tool("estimate_cost", {"plan": plan})
    assert not estimate.is_error, estimate.content
    token = (estimate.structured_content or {})["quote_id"]
    deploy = {"cluster": cluster, "name": name, "image": "nginx:1.27", "plan": plan, "quote_id": token}
    return await client.call_tool("deploy_acs", deploy)


async def say_yes(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    """The person at the client accepts the quoted cost when the server asks."""
    return types.ElicitResult(action="accept", content={"accept": True})


async def buy_cluster(client: Client, name: str, plan: dict[str, Any], wait_seconds: int = 1) -> dict[str, Any]:
    """estimate_cost for `plan`, then ensure_cluster `name` with that quote's id; ensure_cluster's answer (its
    `operation_id` follows the create) with the quote id added as `quote_id`."""
    estimate = await client.call_tool("estimate_cost", {"plan": plan})
    assert not estimate.is_error, estimate.content
    quote_id = (estimate.structured_content or {})["quote_id"]
    arguments = {"name": name, "plan": plan, "quote_id": quote_id, "wait_seconds": wait_seconds}
    created = await client.call_tool("ensure_cluster", arguments)
    assert not created.is_error, created.content
    return {**(created.structured_content or {}), "quote_id": quote_id}
