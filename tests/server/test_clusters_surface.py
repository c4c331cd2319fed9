"""ensure_cluster and get_operation through a real MCP client: consent by elicitation, bounded waits."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from mcp import Client

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.app import build_server
from ack_compute.server.runtime import Runtime
from tests.helpers.agent import answering, cluster_plan
from tests.helpers.waiting import operation_view

pytestmark = pytest.mark.anyio
PLAN: dict[str, Any] = cluster_plan()


async def quote(client: Client) -> str:
    est = await client.call_tool("estimate_cost", {"plan": PLAN})
    return (est.structured_content or {})["quote_id"]


async def test_person_accepts_then_cluster_is_created(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> None:
    seen: list[str] = []
    server = build_server(runtime_on(world))
    async with Client(server, elicitation_callback=answering("accept", seen)) as client:
        first = await client.call_tool("ensure_cluster", {"name": "acf-mcp"})
        assert (first.structured_content or {})["status"] == "quote_required"
        token = await quote(client)
        created = await client.call_tool(
            "ensure_cluster", {"name": "acf-mcp", "plan": PLAN, "quote_id": token, "wait_seconds": 40}
        )
        ledger = await client.read_resource("ledger://resources")
    assert not created.is_error, created.content
    out = created.structured_content or {}
    assert out["status"] == "created" and out["ready_nodes"] == 1, out
    assert len(seen) == 1 and "CNY/h" in seen[0] and "acf-mcp" in seen[0]
    rows = json.loads(ledger.contents[0].text)["resources"]  # type: ignore[union-attr]
    assert {(r["kind"], r["origin"]) for r in rows} >= {("cluster", "created"), ("vpc", "created")}
    assert world.access_key_secret not in ledger.contents[0].text  # type: ignore[union-attr]


async def test_person_declines_and_nothing_is_created(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> None:
    seen: list[str] = []
    async with Client(build_server(runtime_on(world)), elicitation_callback=answering("decline", seen)) as c:
        token = await quote(c)
        result = await c.call_tool("ensure_cluster", {"name": "acf-no", "plan": PLAN, "quote_id": token})
    assert (result.structured_content or {})["status"] == "declined"
    assert world.clusters() == [] and "CreateCluster" not in world.counts()


async def test_human_policy_refuses_clients_that_cannot_ask(
    world: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    async with Client(build_server(runtime_on(world, confirmation="human"))) as client:
        token = await quote(client)
        result = await client.call_tool("ensure_cluster", {"name": "acf-h", "plan": PLAN, "quote_id": token})
    assert result.is_error and "elicitation" in result.content[0].text  # type: ignore[union-attr]
    assert world.clusters() == []


async def test_short_wait_hands_back_an_operation_to_follow(
    world: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    world.time_scale = 60  # about 6 s for the control plane: longer than the 1 s we wait
    async with Client(build_server(runtime_on(world))) as client:
        token = await quote(client)
        started = await client.call_tool(
            "ensure_cluster", {"name": "acf-slow", "plan": PLAN, "quote_id": token, "wait_seconds": 1}
        )
        out = started.structured_content or {}
        assert out["status"] == "creating" and out["operation_id"]
        view = await operation_view(client.call_tool, out["operation_id"])
        unknown = await client.call_tool("get_operation", {"operation_id": "op-nope", "wait_seconds": 0})
    assert view["state"] == "done" and view["outcome"] == "succeeded", view
    assert view["result"]["cluster_id"] and view["progress"] == 1
    assert unknown.is_error and "op-nope" in unknown.content[0].text  # type: ignore[union-attr]


async def test_the_question_names_the_nat_gateway_and_eip_a_snat_plan_buys(
    world: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    plan = {"kind": "serverless", "edition": "pro", "zone": "cn-hangzhou-h", "new_vpc_with_snat": True}
    seen: list[str] = []
    server = build_server(runtime_on(world, site="international"))
    async with Client(server, elicitation_callback=answering("decline", seen)) as client:
        est = (await client.call_tool("estimate_cost", {"plan": plan})).structured_content or {}
        result = await client.call_tool(
            "ensure_cluster", {"name": "acf-snat", "plan": plan, "quote_id": est["quote_id"]}
        )
    items = {i["item"]: str(i["hourly"]) for i in est["line_items"]}
    assert items["NAT gateway (SNAT for the new VPC), instance fee"] == "0.043"
    assert items["EIP bound to the NAT gateway"] == "0.009"
    assert str(est["hourly_total"]) == "0.142", "the Pro fee (0.09) plus the NAT gateway and the EIP"
    assert len(seen) == 1
    assert "plus a new VPC with a NAT gateway and an EIP, billed hourly until cleanup" in seen[0]
    assert "for 0.1420 USD/h" in seen[0], seen[0]
    assert (result.structured_content or {})["status"] == "declined"
    assert world.clusters() == [] and "CreateVpc" not in world.counts()
