"""The reference docs as an agent reaches them: resources, the search template, completions, the tool."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from mcp import Client
from mcp.types import ResourceTemplateReference

from ack_compute.server.app import build_server
from ack_compute.server.runtime import Runtime
from tests.helpers.docs import DOCUMENTS

pytestmark = pytest.mark.anyio


async def test_documents_are_listed_and_readable(runtime: Runtime) -> None:
    async with Client(build_server(runtime)) as client:
        listed = {str(r.uri): r for r in (await client.list_resources()).resources}
        whole = await client.read_resource("docs://references/acs-compute")
        section = await client.read_resource("docs://references/acs-compute/gpu-workloads-on-acs")
    assert {f"docs://references/{d}" for d in DOCUMENTS} <= set(listed)
    assert all(listed[f"docs://references/{d}"].title for d in DOCUMENTS)
    text = whole.contents[0].text  # type: ignore[union-attr]
    part = section.contents[0].text  # type: ignore[union-attr]
    assert text.startswith("# ") and "## Virtual nodes" in text
    assert part.startswith("## GPU workloads on ACS") and "## Virtual nodes" not in part


async def test_unknown_document_lists_the_valid_names(runtime: Runtime) -> None:
    async with Client(build_server(runtime)) as client:
        with pytest.raises(Exception) as info:
            await client.read_resource("docs://references/no-such-doc")
    assert "pricing" in str(info.value) and "acs-compute" in str(info.value)


async def test_search_template_ranks_chinese_queries(runtime: Runtime) -> None:
    async with Client(build_server(runtime)) as client:
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        result = await client.read_resource(f"docs://search/{quote('虚拟节点 GPU')}")
    assert {"docs://search/{query}", "docs://references/{name}", "docs://references/{name}/{anchor}"} <= templates
    hits = json.loads(result.contents[0].text)  # type: ignore[union-attr]
    assert hits and hits[0]["document"] == "acs-compute"
    assert hits[0]["uri"].startswith("docs://references/acs-compute/")
    assert hits[0]["score"] >= hits[-1]["score"]


async def test_completion_of_document_names(runtime: Runtime) -> None:
    async with Client(build_server(runtime)) as client:
        result = await client.complete(
            ResourceTemplateReference(type="ref/resource", uri="docs://references/{name}"),
            {"name": "name", "value": "ack"},
        )
        anchors = await client.complete(
            ResourceTemplateReference(type="ref/resource", uri="docs://references/{name}/{anchor}"),
            {"name": "anchor", "value": "gpu"},
            context_arguments={"name": "acs-compute"},
        )
    assert set(result.completion.values) == {"ack-clusters", "ack-serverless"}
    assert anchors.completion.values == ["gpu-workloads-on-acs", "gpu-hpn-on-reserved-nodes"]


async def test_doc_search_tool_for_clients_without_resources(runtime: Runtime) -> None:
    async with Client(build_server(runtime)) as client:
        result = await client.call_tool("doc_search", {"query": "ImagePullBackOff what to do", "limit": 3})
        blank = await client.call_tool("doc_search", {"query": "   "})
    assert not result.is_error
    data = result.structured_content or {}
    assert data["hits"][0]["document"] == "troubleshooting" and len(data["hits"]) <= 3
    assert "ImagePullBackOff" in data["top_section"]
    assert blank.is_error and "query" in blank.content[0].text.lower()  # type: ignore[union-attr]


async def test_only_workflows_whose_tools_exist_are_offered(runtime: Runtime) -> None:
    async with Client(build_server(runtime)) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        rendered = await client.get_prompt("quote_a_plan", {"goal": "train a model for 3 hours", "budget": "50 CNY"})
    from ack_compute.server.prompts import WORKFLOWS

    assert prompts == {w.name for w in WORKFLOWS if w.requires <= tools}
    assert "quote_a_plan" in prompts
    text = rendered.messages[0].content.text  # type: ignore[union-attr]
    assert "train a model" in text and "50 CNY" in text and "quote_id" in text and "estimate_cost" in text
