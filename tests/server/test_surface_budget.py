"""The surface as a model pays for it: slim schemas that still say how to call, pay by quote id, lean results,
plain-word refusals, annotations that tell the truth. Through a real MCP client."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from mcp import Client

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.app import build_server
from ack_compute.server.runtime import Runtime
from tests.helpers.agent import accept, answering, cluster_plan

pytestmark = pytest.mark.anyio
CLUSTER: dict[str, Any] = cluster_plan()
ACS: dict[str, Any] = {"kind": "acs", "replicas": 1, "vcpu": 1, "memory_gib": 2, "hours": 1}


def _walk(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [d for n in node for d in _walk(n)]
    if not isinstance(node, dict):
        return []
    return [node, *(d for v in node.values() for d in _walk(v))]


async def test_every_parameter_is_described_and_schemas_carry_no_generated_noise(runtime: Runtime) -> None:
    async with Client(build_server(runtime)) as client:
        tools = (await client.list_tools()).tools
    assert {t.name for t in tools} >= {"estimate_cost", "ensure_cluster", "run_job", "deploy_acs", "cleanup"}
    for tool in tools:
        for name, prop in tool.input_schema["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
        for schema in (tool.input_schema, tool.output_schema or {}):
            for node in _walk(schema):
                assert not isinstance(node.get("title"), str), f"{tool.name}: generated title in {node}"
                assert "pattern" not in node, f"{tool.name}: a raw regex in {node}"
        for prop in tool.input_schema["properties"].values():
            assert {"type": "null"} not in prop.get("anyOf", []), f"{tool.name}: a nullable wrapper in {prop}"
    by_name = {t.name: t for t in tools}
    for creating in ("ensure_cluster", "run_job", "deploy_acs"):
        schema = by_name[creating].input_schema
        assert "quote_id" in schema["properties"] and "$defs" not in schema, creating
    # What a model reads about the quote: the id, never a token to copy.
    assert "quote_id" in by_name["estimate_cost"].description and "token" not in by_name["estimate_cost"].description


async def test_annotations_tell_the_truth(runtime: Runtime) -> None:
    async with Client(build_server(runtime)) as client:
        tools = {t.name: t.annotations for t in (await client.list_tools()).tools}
    for read_only in ("estimate_cost", "get_operation", "doc_search"):
        assert tools[read_only] and tools[read_only].read_only_hint, read_only
    for destructive in ("run_job", "deploy_acs", "cleanup"):  # cleanup_after; updates replace pods; deletion
        assert tools[destructive] and tools[destructive].destructive_hint, destructive
    assert tools["ensure_cluster"] and tools["ensure_cluster"].destructive_hint is False


async def test_a_cluster_is_paid_by_quote_id_alone(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> None:
    async with Client(build_server(runtime_on(world)), elicitation_callback=accept) as client:
        est = await client.call_tool("estimate_cost", {"plan": CLUSTER})
        quote_id = (est.structured_content or {})["quote_id"]
        changed = await client.call_tool(
            "ensure_cluster", {"name": "acf-byid", "quote_id": quote_id, "plan": {**CLUSTER, "node_count": 3}}
        )
        created = await client.call_tool(
            "ensure_cluster", {"name": "acf-byid", "quote_id": quote_id, "wait_seconds": 40}
        )
        again = await client.call_tool("ensure_cluster", {"name": "acf-byid2", "quote_id": quote_id})
    text = est.content[0].text  # type: ignore[union-attr]
    assert "\n" not in text and "null" not in text and json.loads(text) == est.structured_content
    assert isinstance((est.structured_content or {})["hourly_total"], float)  # money is a number
    assert changed.is_error and "plan_mismatch" in changed.content[0].text  # type: ignore[union-attr]
    assert "node_count: quoted 1, given 3" in changed.content[0].text  # type: ignore[union-attr]
    assert not created.is_error, created.content
    assert (created.structured_content or {})["status"] == "created", created.structured_content
    # A spent quote names what it paid for: an agent whose first answer was lost follows it instead of buying again.
    bought = (created.structured_content or {})["operation_id"]
    assert again.is_error and re.fullmatch(  # type: ignore[union-attr]
        rf"Quote refused \(already_used\): quote {quote_id} was already redeemed at \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ "
        rf"\(ensure_cluster acf-byid, operation {bought}\); a quote pays for one create only\. If that was this "
        rf"request, get_operation {bought} shows where it stands; otherwise call estimate_cost for a new quote and "
        r"show it to the person\.",
        again.content[0].text,  # type: ignore[union-attr]
    ), again.content
    assert len([c for c in world.clusters() if c.name.startswith("acf-byid")]) == 1


async def test_ids_copied_with_quotes_spaces_or_capitals_still_name_what_they_name(
    world: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    """Models copy ids with what was around them in the text (quotes, backticks, a space) or upper-cased; they were
    refused as "not the q-... id estimate_cost returned", which the model believed it had passed."""
    async with Client(build_server(runtime_on(world)), elicitation_callback=accept) as client:
        est = await client.call_tool("estimate_cost", {"plan": CLUSTER})
        quote_id = (est.structured_content or {})["quote_id"]
        created = await client.call_tool(
            "ensure_cluster", {"name": "acf-copied", "quote_id": f' "{quote_id.upper()}" ', "wait_seconds": 0}
        )
        operation_id = (created.structured_content or {}).get("operation_id", "")
        followed = await client.call_tool("get_operation", {"operation_id": f"`{operation_id}` ", "wait_seconds": 0})
    assert not created.is_error and (created.structured_content or {})["status"] == "creating", created.content
    assert not followed.is_error and (followed.structured_content or {})["operation_id"] == operation_id


async def test_a_quote_for_a_name_that_is_running_asks_nobody_and_stays_unspent(
    world: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    """The person was asked to buy a 3-node cluster, then the running 1-node one of that name was reused; the answer
    said neither that the quote was left unspent nor that the cluster is smaller than what was quoted."""
    running = world.plant_cluster("acf-here", nodes=1)
    asked: list[str] = []
    async with Client(build_server(runtime_on(world)), elicitation_callback=answering("accept", asked)) as client:
        est = await client.call_tool("estimate_cost", {"plan": {**CLUSTER, "node_count": 3}})
        quote_id = (est.structured_content or {})["quote_id"]
        reused = await client.call_tool("ensure_cluster", {"name": "acf-here", "quote_id": quote_id})
    out = reused.structured_content or {}
    assert asked == [], "nobody is asked to pay for what is not bought"
    assert (out["status"], out["cluster_id"]) == ("reused", running), out
    assert out["message"].endswith(
        "The quote was not spent: it can still pay for a create. It has 1 Ready node(s), fewer than the quoted 3: "
        "ensure_node_pool adds a pool of more (quoted), or another name makes a new cluster."
    )
    assert "CreateCluster" not in world.counts()


async def test_a_quote_for_pods_cannot_buy_a_cluster(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> None:
    world.reset_counts()
    async with Client(build_server(runtime_on(world)), elicitation_callback=accept) as client:
        est = await client.call_tool("estimate_cost", {"plan": ACS})
        refused = await client.call_tool(
            "ensure_cluster", {"name": "acf-wrongkind", "quote_id": (est.structured_content or {})["quote_id"]}
        )
    text = refused.content[0].text  # type: ignore[union-attr]
    assert refused.is_error and "The quote is for a acs plan; ensure_cluster buys cluster or serverless plans" in text
    assert "CreateCluster" not in world.counts()


async def test_an_acs_job_runs_on_its_quote_id(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> None:
    world.plant_cluster("acf-byid-acs", nodes=1, cluster_spec="ack.pro.small", addons={"ack-virtual-node": None})
    async with Client(build_server(runtime_on(world)), elicitation_callback=accept) as client:
        est = await client.call_tool("estimate_cost", {"plan": ACS})
        quote_id = (est.structured_content or {})["quote_id"]
        job = await client.call_tool(
            "run_job",
            {"cluster": "acf-byid-acs", "script": "seq 1 200", "compute": "acs", "quote_id": quote_id},
        )
    assert not job.is_error, job.content
    out = job.structured_content or {}
    assert out["status"] == "succeeded" and out["compute"] == "acs", out
    # The default tail is short: 50 lines, the last ones.
    assert out["log"].split() == [str(n) for n in range(151, 201)] and out["log_truncated"] is True


async def test_bad_arguments_read_in_plain_words(runtime: Runtime) -> None:
    async with Client(build_server(runtime)) as client:
        name = await client.call_tool("ensure_cluster", {"name": "-bad name"})
        kind = await client.call_tool("estimate_cost", {"plan": {"node_count": 2}})
        quote = await client.call_tool("ensure_cluster", {"name": "acf-x", "quote_id": "nope"})
    texts = [r.content[0].text for r in (name, kind, quote)]  # type: ignore[union-attr]
    assert texts[0] == (
        "Invalid input for ensure_cluster: name: use letters, digits and hyphens, up to 63 characters, not starting "
        "with a hyphen. Fix the field and retry; nothing was done."
    )
    assert texts[1].startswith("Invalid input for estimate_cost: plan: needs `kind`: one of cluster, serverless")
    assert "quote_id: use the q-... id estimate_cost returned" in texts[2]
    assert not any("pattern" in t or "^" in t or "pydantic" in t for t in texts)
