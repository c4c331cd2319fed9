"""cleanup through a real MCP client: a dry run first, then deletion followed to the end."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mcp import Client

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.app import build_server
from ack_compute.server.runtime import Runtime

pytestmark = pytest.mark.anyio
PLAN = {"kind": "cluster", "instance_types": ["ecs.g7.xlarge"], "node_count": 1, "zone": "cn-hangzhou-h"}


async def test_dry_run_then_delete(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> None:
    foreign = world.plant_cluster("acf-not-ours", nodes=1)
    async with Client(build_server(runtime_on(world))) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["cleanup"].annotations and tools["cleanup"].annotations.destructive_hint
        est = await client.call_tool("estimate_cost", {"plan": PLAN})
        token = (est.structured_content or {})["quote_id"]
        created = await client.call_tool(
            "ensure_cluster", {"name": "acf-tmp", "plan": PLAN, "quote_id": token, "wait_seconds": 40}
        )
        cluster_id = (created.structured_content or {})["cluster_id"]
        planned = (await client.call_tool("cleanup", {})).structured_content or {}
        assert planned["dry_run"] and planned["status"] == "planned"
        assert [i["kind"] for i in planned["items"] if i["action"] == "delete"] == ["cluster", "vswitch", "vpc"]
        assert any(c.cluster_id == cluster_id and c.state == "running" for c in world.clusters())
        done = await client.call_tool("cleanup", {"dry_run": False, "wait_seconds": 40})
        prompts = {p.name for p in (await client.list_prompts()).prompts}
    out = done.structured_content or {}
    assert not done.is_error and out["status"] == "done", out
    states = {c.cluster_id: c.state for c in world.clusters()}
    assert states[cluster_id] == "deleted" and states[foreign] == "running"
    assert {"run_script_on_ack", "deploy_on_acs"} <= prompts, "the workflows appear once their tools exist"
