"""--read-only: a server that prices and answers but cannot create, change or delete anything."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mcp import Client

from ack_compute.server.app import build_server
from ack_compute.server.runtime import Runtime

pytestmark = pytest.mark.anyio


async def test_read_only_offers_no_tool_that_spends_or_deletes(make_runtime: Callable[..., Runtime]) -> None:
    server = build_server(make_runtime(read_only=True))
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        estimate = await client.call_tool("estimate_cost", {"plan": {"kind": "acs", "vcpu": 1, "memory_gib": 2}})
        refused = await client.call_tool("ensure_cluster", {"name": "acf-x"})
        ledger = await client.read_resource("ledger://resources")
        instructions = client.instructions or ""
    assert set(tools) == {"estimate_cost", "doc_search", "get_operation", "list_resources"}
    assert all(t.annotations and t.annotations.read_only_hint for t in tools.values())
    assert prompts == {"quote_a_plan"}
    assert not estimate.is_error
    assert refused.is_error and "ensure_cluster" in refused.content[0].text  # type: ignore[union-attr]
    assert ledger.contents
    assert "read-only mode" in instructions


async def test_full_server_offers_the_creating_tools(make_runtime: Callable[..., Runtime]) -> None:
    async with Client(build_server(make_runtime())) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert {"ensure_cluster", "run_job", "deploy_acs", "cleanup"} <= names
