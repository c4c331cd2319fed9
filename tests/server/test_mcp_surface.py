"""The MCP face through real clients: in memory, over stdio (a real subprocess) and streamable HTTP."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from ack_compute.sandbox import Fault, SandboxCloud
from ack_compute.server.app import build_server
from ack_compute.server.runtime import Runtime
from ack_compute.tools.plans import ClusterPlan

pytestmark = pytest.mark.anyio
PLAN = {"kind": "cluster", "edition": "pro", "instance_types": ["ecs.g7.xlarge"], "node_count": 2, "hours": 2}


def server_env(cloud: SandboxCloud, state_dir: Path, **extra: str) -> dict[str, str]:
    """A production-like environment: credentials for the default chain plus an endpoint override."""
    return {**cloud.server_env(state_dir), **extra}


async def test_tools_list_describes_estimate_cost(runtime: Runtime) -> None:
    async with Client(build_server(runtime)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    tool = tools["estimate_cost"]
    assert tool.annotations and tool.annotations.read_only_hint and not tool.annotations.destructive_hint
    plan_schema = tool.input_schema["properties"]["plan"]
    text = str(tool.input_schema)
    # One compact object: `kind` required and naming every plan type, each field once with the kinds it is for.
    assert plan_schema["required"] == ["kind"]
    assert plan_schema["properties"]["kind"]["enum"] == ["cluster", "acs", "serverless", "eci", "node_pool"]
    assert "node_count" in text and "vcpu" in text and "'maximum': 100" in text
    assert plan_schema["properties"]["node_count"]["description"].startswith("(cluster/node_pool only)")
    assert "'title'" not in text and "pattern" not in text
    assert tool.output_schema and "quote_id" in tool.output_schema["properties"]


async def test_estimate_returns_structured_quote(runtime: Runtime) -> None:
    async with Client(build_server(runtime)) as client:
        result = await client.call_tool("estimate_cost", {"plan": PLAN})
    assert not result.is_error, result.content
    est: dict[str, Any] = result.structured_content or {}
    assert est["currency"] == "CNY" and est["hourly_total"] > 0.64
    assert est["total"] == pytest.approx(est["hourly_total"] * 2, abs=0.001)
    assert est["quote_id"].startswith("q-") and est["plan"]["region"] == "cn-hangzhou"
    assert "quote_token" not in est and "plan_digest" not in est  # what the agent cannot use is not shown
    # The plan as echoed is the plan the quote id pays for.
    runtime.quotes.redeem(est["quote_id"], ClusterPlan.model_validate(est["plan"]))


async def test_bad_input_is_refused_before_any_cloud_call(runtime: Runtime, cloud: SandboxCloud) -> None:
    async with Client(build_server(runtime)) as client:
        result = await client.call_tool("estimate_cost", {"plan": {**PLAN, "node_count": 250}})
        unknown = await client.call_tool("estimate_cost", {"plan": {**PLAN, "instance_types": ["ecs.zz9.large"]}})
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "node_count" in text and "100" in text
    # One line per field, as every refusal reads: no pydantic type codes, echoed values or URLs.
    assert (
        text.startswith("Invalid input for estimate_cost: plan.node_count: must be at most 100.")
        and "Fix the field" in text
    )
    assert "250" not in text and "type=" not in text and "http" not in text
    assert cloud.counts().get("DescribePrice", 0) == 0
    # A tool's own refusal is its words alone: the SDK's "Error executing tool estimate_cost: " costs tokens and
    # says what the agent knows.
    assert unknown.is_error and unknown.content[0].text == (  # type: ignore[union-attr]
        "Invalid plan field `instance_types`: ecs.zz9.large not offered in cn-hangzhou. Check the spelling "
        "(e.g. ecs.g7.xlarge) or pick another type."
    )


async def test_arguments_a_tool_does_not_take_or_that_break_its_rules_are_refused_in_its_words(
    runtime: Runtime, cloud: SandboxCloud
) -> None:
    """The SDK drops unknown arguments: `timeout` ran with the default deadline, and `edition` beside the plan
    quoted an ACK Basic cluster the agent meant as Pro. Refused, naming where each belongs, before anything runs."""
    async with Client(build_server(runtime)) as client:
        pro = await client.call_tool("ensure_cluster", {"name": "acf-pro", "edition": "pro"})
        job = await client.call_tool("run_job", {"cluster": "acf-pro", "script": "true", "timeout": 5, "ttl": 1})
        web = await client.call_tool("deploy_acs", {"cluster": "acf-pro", "name": "Web", "image": "nginx:1.27"})
        gpu = await client.call_tool("ensure_node_pool", {"cluster": "acf-pro", "name": "GPU", "node_count": 1})
        nodes = await client.call_tool("estimate_cost", {"plan": {"kind": "cluster", "nodes": 2, "replicas": 2}})
        pods = await client.call_tool(
            "estimate_cost", {"plan": {"kind": "acs", "vcpu": 1, "memory_gib": 2, "nodes": 2, "replica": 2}}
        )
        flood = await client.call_tool(
            "estimate_cost", {"plan": {"kind": "acs", **{f"k{i}" + "x" * 90: 1 for i in range(30)}}}
        )
    assert pro.is_error and pro.content[0].text == (  # type: ignore[union-attr]
        "Invalid input for ensure_cluster: edition: ensure_cluster has no such parameter (a plan field: put it "
        "inside plan). Fix the field and retry; nothing was done."
    )
    assert job.is_error and job.content[0].text.startswith(  # type: ignore[union-attr]
        "Invalid input for run_job: timeout: run_job has no such parameter (did you mean timeout_seconds?). "
        "ttl: run_job has no such parameter. It takes acs, cleanup_after, cluster, compute, env, image, "
    )
    # A name's rule is the tool's own: a Deployment's and a pool's are lower-case DNS labels, not a cluster's.
    assert web.content[0].text == (  # type: ignore[union-attr]
        "Invalid input for deploy_acs: name: use lower-case letters, digits and hyphens, up to 50 characters, a letter "
        "or digit at each end. Fix the field and retry; nothing was done."
    )
    assert gpu.content[0].text == (  # type: ignore[union-attr]
        "Invalid input for ensure_node_pool: name: use lower-case letters, digits and hyphens, up to 40 characters, a "
        "letter or digit at each end. Fix the field and retry; nothing was done."
    )
    # A plan field one slip away is named; one of another kind of plan is not guessed at.
    assert nodes.content[0].text == (  # type: ignore[union-attr]
        "Invalid input for estimate_cost: plan.nodes: is not a field this takes (did you mean node_count?); "
        "plan.replicas: is not a field this takes. Fix the field and retry; nothing was done."
    )
    # Matched against the fields of the kind given: an ACS plan has replicas, not node_count.
    assert pods.content[0].text == (  # type: ignore[union-attr]
        "Invalid input for estimate_cost: plan.nodes: is not a field this takes; plan.replica: is not a field this "
        "takes (did you mean replicas?). Fix the field and retry; nothing was done."
    )
    flooded = flood.content[0].text  # type: ignore[union-attr]
    assert len(flooded) < 1000 and flooded.count("is not a field this takes") == 4 and "; and 26 more." in flooded
    assert cloud.counts() == {}, "nothing was asked of the cloud"


async def test_cloud_failure_reads_as_next_step(runtime: Runtime, cloud: SandboxCloud) -> None:
    cloud.inject("DescribeRegions", Fault.server_error(status=500, code="InternalError"), times=10)
    async with Client(build_server(runtime)) as client:
        result = await client.call_tool("estimate_cost", {"plan": PLAN})
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error and "InternalError" in text and "retry" in text
    assert cloud.access_key_secret not in text


@pytest.mark.slow
async def test_stdio_subprocess(cloud: SandboxCloud, tmp_path: Path) -> None:
    errlog = (tmp_path / "stderr.log").open("w")
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "ack_compute.server", "serve"],
        env=server_env(cloud, tmp_path, ACK_COMPUTE_LOG_LEVEL="DEBUG"),
    )
    from mcp.client.stdio import stdio_client

    async with Client(stdio_client(params, errlog=errlog)) as client:
        listed = await client.list_tools()
        result = await client.call_tool("estimate_cost", {"plan": PLAN})
    errlog.close()
    assert {t.name for t in listed.tools} >= {"estimate_cost", "doc_search"}
    assert not result.is_error and (result.structured_content or {})["quote_id"]
    log = (tmp_path / "stderr.log").read_text()
    assert cloud.access_key_secret not in log


@pytest.mark.slow
async def test_sandbox_flag_needs_no_account_and_is_fast_enough_to_try_by_hand(tmp_path: Path) -> None:
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=sys.executable, args=["-m", "ack_compute.server", "serve", "--sandbox"], env={"HOME": str(tmp_path)}
    )
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            result = await client.call_tool("estimate_cost", {"plan": PLAN})
            assert not result.is_error, result.content
            started = time.monotonic()
            created = await client.call_tool(
                "ensure_cluster",
                {"name": "acf-by-hand", "quote_id": (result.structured_content or {})["quote_id"], "wait_seconds": 40},
            )
            took = time.monotonic() - started
    # A real cluster takes minutes; with no --time-scale the sandbox makes it seconds, and says so at start.
    assert (created.structured_content or {}).get("status") == "created", created.content
    assert took < 30, took
    assert "sandbox clock runs 120x fast" in (tmp_path / "stderr.log").read_text()


@pytest.fixture
def http_server(cloud: SandboxCloud, tmp_path: Path, serve_http: Any) -> Iterator[str]:
    env = {**os.environ, **server_env(cloud, tmp_path / "state")}
    with serve_http.serving(["--transport", "http"], env, tmp_path / "server.log") as server:  # the older spelling
        yield server.url


@pytest.mark.slow
async def test_streamable_http(http_server: str) -> None:
    async with Client(http_server) as client:
        result = await client.call_tool("estimate_cost", {"plan": {"kind": "acs", "vcpu": 1, "memory_gib": 2}})
    assert not result.is_error
    assert (result.structured_content or {})["hourly_total"] == pytest.approx(0.12)


@pytest.mark.slow
async def test_a_client_leaving_mid_create_is_told_in_the_log_and_the_operation_resumes(tmp_path: Path) -> None:
    """The client goes away while a cluster is being created: the server says what is in flight as it stops, and
    the next start resumes it from the ledger (nothing is orphaned)."""
    from mcp.client.stdio import stdio_client

    with SandboxCloud(time_scale=20) as slow:
        env = server_env(slow, tmp_path / "state")
        params = StdioServerParameters(command=sys.executable, args=["-m", "ack_compute.server", "serve"], env=env)
        plan = {**PLAN, "node_count": 1, "zone": "cn-hangzhou-h"}
        with (tmp_path / "first.log").open("w") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as client:
                est = (await client.call_tool("estimate_cost", {"plan": plan})).structured_content or {}
                started = await client.call_tool(
                    "ensure_cluster",
                    {"name": "acf-left", "plan": plan, "quote_id": est["quote_id"], "wait_seconds": 0},
                )
                operation = (started.structured_content or {})["operation_id"]
        first = (tmp_path / "first.log").read_text()
        assert f"stopping with 1 operation(s) in flight ({operation})" in first, first[-2000:]
        with (tmp_path / "second.log").open("w") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as client:
                view = await client.call_tool("get_operation", {"operation_id": operation, "wait_seconds": 50})
        assert (view.structured_content or {})["outcome"] == "succeeded", view.content
        assert f"resumed 1 unfinished operation(s): {operation}" in (tmp_path / "second.log").read_text()
        assert [c.name for c in slow.clusters()] == ["acf-left"]
