"""run_job and deploy_acs through a real MCP client: structured results, consent for billed compute, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from mcp import Client

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.app import build_server
from ack_compute.server.runtime import Runtime
from tests.helpers.agent import answering, deploy_quoted

pytestmark = pytest.mark.anyio
ACS: dict[str, Any] = {"kind": "acs", "replicas": 1, "vcpu": 1, "memory_gib": 2, "hours": 1}


async def test_run_job_returns_the_scripts_output(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> None:
    cluster = world.plant_cluster("acf-mcp-jobs", nodes=1)
    async with Client(build_server(runtime_on(world))) as client:
        result = await client.call_tool(
            "run_job",
            {"cluster": "acf-mcp-jobs", "script": "print(sum(range(10)))", "script_type": "python"},
        )
    assert not result.is_error, result.content
    out = result.structured_content or {}
    assert out["status"] == "succeeded" and out["exit_code"] == 0 and out["log"].strip() == "45", out
    assert out["cluster_id"] == cluster and out["job_name"].startswith("acf-job-")


async def test_run_job_refuses_bad_input_before_any_call(
    world: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    world.reset_counts()
    async with Client(build_server(runtime_on(world))) as client:
        result = await client.call_tool("run_job", {"cluster": "acf-x", "script": "echo", "timeout_seconds": 1})
        acs = await client.call_tool("run_job", {"cluster": "acf-x", "script": "echo", "compute": "acs"})
    assert result.is_error and "timeout_seconds" in result.content[0].text  # type: ignore[union-attr]
    assert acs.is_error and "needs quote_id" in acs.content[0].text  # type: ignore[union-attr]
    assert world.counts() == {}


async def test_acs_job_asks_the_person_and_a_decline_voids_the_quote(
    world: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    world.plant_cluster("acf-mcp-acs", nodes=1, cluster_spec="ack.pro.small", addons={"ack-virtual-node": None})
    seen: list[str] = []
    async with Client(build_server(runtime_on(world)), elicitation_callback=answering("decline", seen)) as client:
        est = await client.call_tool("estimate_cost", {"plan": ACS})
        token = (est.structured_content or {})["quote_id"]
        args = {"cluster": "acf-mcp-acs", "script": "echo hi", "compute": "acs", "acs": ACS, "quote_id": token}
        declined = await client.call_tool("run_job", args)
        again = await client.call_tool("run_job", args)
    assert (declined.structured_content or {})["status"] == "declined", declined.content
    assert len(seen) == 1 and "ACS general-purpose" in seen[0] and "CNY" in seen[0]
    assert again.is_error and "declined" in again.content[0].text  # type: ignore[union-attr]


async def test_deploy_acs_after_the_person_accepts(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> None:
    world.plant_cluster("acf-mcp-dep", nodes=1, cluster_spec="ack.pro.small", addons={"ack-virtual-node": None})
    plan = {**ACS, "replicas": 2}
    seen: list[str] = []
    async with Client(build_server(runtime_on(world)), elicitation_callback=answering("accept", seen)) as client:
        result = await deploy_quoted(client, "acf-mcp-dep", plan)
    assert not result.is_error, result.content
    out = result.structured_content or {}
    assert out["status"] == "deployed" and out["ready_replicas"] == 2, out
    assert all(p["instance_id"].startswith("acs-") for p in out["pods"])
    assert len(seen) == 1 and "(1 h), then is deleted unless extended." in seen[0]


async def test_deploy_acs_with_an_eci_plan_asks_about_eci_pods(
    world: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    world.plant_cluster("acf-mcp-ask", nodes=0, profile="Serverless")
    plan = {"kind": "eci", "replicas": 1, "vcpu": 0.5, "memory_gib": 1, "spot_strategy": "SpotAsPriceGo", "hours": 1}
    seen: list[str] = []
    async with Client(build_server(runtime_on(world)), elicitation_callback=answering("accept", seen)) as client:
        result = await deploy_quoted(client, "acf-mcp-ask", plan)
    assert not result.is_error, result.content
    out = result.structured_content or {}
    assert out["status"] == "deployed" and all(p["instance_id"].startswith("eci-") for p in out["pods"]), out
    assert len(seen) == 1 and "1 ECI pod(s) of 0.5 vCPU, 1 GiB" in seen[0] and "spot" in seen[0], seen
    assert "ACS" not in seen[0]


async def test_nobody_is_asked_to_pay_for_pods_that_cannot_run(
    world: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    """Without the virtual node add-on the refusal comes first; the quote stays unused for a cluster that has it."""
    world.plant_cluster("acf-mcp-noaddon", nodes=1, cluster_spec="ack.pro.small")
    seen: list[str] = []
    runtime = runtime_on(world)
    async with Client(build_server(runtime), elicitation_callback=answering("accept", seen)) as client:
        est = await client.call_tool("estimate_cost", {"plan": ACS})
        token = (est.structured_content or {})["quote_id"]
        job = await client.call_tool(
            "run_job",
            {"cluster": "acf-mcp-noaddon", "script": "echo hi", "compute": "acs", "acs": ACS, "quote_id": token},
        )
        deploy = await client.call_tool(
            "deploy_acs",
            {"cluster": "acf-mcp-noaddon", "name": "api", "image": "nginx:1.27", "plan": ACS, "quote_id": token},
        )
    assert seen == []
    for refused in (job, deploy):
        assert refused.is_error and "ack-virtual-node" in refused.content[0].text  # type: ignore[union-attr]
    assert runtime.quotes.consumed(token) is None, "the refusals spend nothing: the quote can still pay"
