"""--read-only: a server that prices, lists and answers but cannot create, change or delete anything, named the same
wherever it is explained, and served by the read-only RAM policy alone."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from ack_compute.cloud.config import StaticCredentials
from ack_compute.cloud.diagnostics import RAM_ACTIONS
from ack_compute.sandbox import Fault, SandboxCloud
from ack_compute.server.app import TOOLS, build_server
from ack_compute.server.cli import main
from ack_compute.server.doctor import diagnose, policy_document
from ack_compute.server.runtime import Runtime
from ack_compute.server.settings import READ_ONLY_TOOLS, Settings
from ack_compute.tools.deploy_acs import DeployRequest
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.identity import Caller, acting_as
from ack_compute.tools.job_logs import JobLogs
from ack_compute.tools.job_spec import JobRequest
from ack_compute.tools.plans import AcsPlan, ClusterPlan, NodePoolPlan, Plan
from tests.helpers.waiting import eventually, finished

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
SERVED = {"estimate_cost", "doc_search", "get_operation", "list_resources"}
CLUSTER = ClusterPlan(edition="pro", instance_types=["ecs.g7.xlarge"], node_count=1, zone="cn-hangzhou-h", hours=3)
PODS = AcsPlan(replicas=1, vcpu=1, memory_gib=2, hours=2)


async def test_read_only_offers_no_tool_that_spends_or_deletes(make_runtime: Callable[..., Runtime]) -> None:
    server = build_server(make_runtime(read_only=True))
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        estimate = await client.call_tool("estimate_cost", {"plan": {"kind": "acs", "vcpu": 1, "memory_gib": 2}})
        refused = await client.call_tool("ensure_cluster", {"name": "acf-x"})
        ledger = await client.read_resource("ledger://resources")
        instructions = client.instructions or ""
    assert set(tools) == set(READ_ONLY_TOOLS) == SERVED
    assert all(t.annotations and t.annotations.read_only_hint for t in tools.values())
    assert prompts == {"quote_a_plan"}
    assert not estimate.is_error
    assert refused.is_error and "ensure_cluster" in refused.content[0].text  # type: ignore[union-attr]
    assert ledger.contents
    assert "read-only mode" in instructions


async def test_full_server_offers_the_creating_tools(make_runtime: Callable[..., Runtime]) -> None:
    async with Client(build_server(make_runtime())) as client:
        names = [t.name for t in (await client.list_tools()).tools]
    assert {"ensure_cluster", "run_job", "deploy_acs", "cleanup"} <= set(names)
    assert names == list(TOOLS), "each registration is filed under the name it registers"


# ----------------------------------------------------------------------- one list of tools, wherever it is told


def named(text: str) -> set[str]:
    """The tool names a text mentions (as words: `get_operation`, not `get_operations`)."""
    return {name for name in TOOLS if re.search(rf"(?<![\w-]){name}(?![\w-])", text)}


def test_every_explanation_of_read_only_names_exactly_the_tools_it_serves(
    cloud: SandboxCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`serve --help`, doctor's mode row, the setting's description, the MCP registry and desktop bundle entries and
    the RAM reference and the README (its settings row and its paragraph) all name the tools a read-only server
    serves, and no other."""
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    usage = " ".join(capsys.readouterr().out.split())
    help_text = usage[usage.index("--read-only ") :].split(" --", 1)[0]
    settings = Settings(region="cn-hangzhou", state_dir=tmp_path, endpoint=cloud.endpoint, protocol="http")
    keys = StaticCredentials(access_key_id=cloud.access_key_id, access_key_secret=cloud.access_key_secret)
    report = diagnose(settings.model_copy(update={"read_only": True}), keys)
    (mode,) = [c.detail for c in report.checks if c.check == "mode"]
    registry = json.loads((ROOT / "server.json").read_text())
    (registry_entry,) = [
        v["description"]
        for p in registry["packages"]
        for v in p.get("environmentVariables", [])
        if v["name"] == "ACK_COMPUTE_READ_ONLY"
    ]
    bundle = json.loads((ROOT / "manifest.json").read_text())["user_config"]["read_only"]["description"]
    reference = (ROOT / "references" / "ram-policy.md").read_text()
    policy_section = reference[reference.index("## Read-only policy") :].split("```", 1)[0]
    readme = (ROOT / "README.md").read_text()
    (readme_row,) = [line for line in readme.splitlines() if line.startswith("| `READ_ONLY` (`--read-only`)")]
    readme_paragraph = readme[readme.index("`--read-only` serves only") :].split(": a safe way", 1)[0]

    told = {
        "serve --help": help_text,
        "doctor mode row": mode,
        "ACK_COMPUTE_READ_ONLY description": Settings.model_fields["read_only"].description or "",
        "server.json": registry_entry,
        "manifest.json": bundle,
        "references/ram-policy.md": policy_section,
        "README settings row": readme_row,
        "README paragraph (its first sentence)": readme_paragraph,
    }
    assert {where: named(text) for where, text in told.items()} == dict.fromkeys(told, SERVED)


# ------------------------------------------------------------------------- the read-only RAM policy suffices


def quoted(runtime: Runtime, plan: Plan) -> str:
    """A quote for `plan`, as estimate_cost issues it."""
    estimate = estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
    assert estimate.quote_id, estimate
    return estimate.quote_id


def buy_one_of_each(full: Runtime, world: SandboxCloud) -> str:
    """Through a full server, every kind of row list_resources checks: a cluster with its VPC and vSwitch, a node
    pool on it, a finished Job there, and a Deployment with its Service on a team's cluster. The cluster's id."""
    made = full.clusters.ensure("acf-read-only", plan=CLUSTER, quote_token=quoted(full, CLUSTER))
    assert made.operation_id and finished(full, made.operation_id).state == "succeeded"
    (cluster_id,) = [c.cluster_id for c in world.clusters()]

    pool_quote = quoted(full, NodePoolPlan(cluster=cluster_id, instance_types=["ecs.g7.xlarge"], node_count=1))
    kind, plan = full.quotes.plan_of(pool_quote)
    assert kind == "node_pool"
    pool = full.node_pools.ensure(cluster_id, "extra", plan=NodePoolPlan.model_validate(plan), quote_token=pool_quote)
    assert pool.operation_id and finished(full, pool.operation_id).state == "succeeded"

    job = full.jobs.start(JobRequest(cluster=cluster_id, script="echo listed\n"))
    assert job.operation_id and finished(full, job.operation_id).state == "succeeded"

    team = world.plant_cluster("acf-team", nodes=1, cluster_spec="ack.pro.small", addons={"ack-virtual-node": None})
    request = {"cluster": team, "name": "web", "image": "nginx:1.27", "plan": PODS, "ports": [80]}
    deployed = full.deployer.deploy(DeployRequest.model_validate({**request, "quote_token": quoted(full, PODS)}))
    assert deployed.status == "deployed", deployed.message
    return cluster_id


def read_only_policy() -> set[str]:
    """The actions `doctor --print-policy read-only` allows, by name."""
    document = json.loads(policy_document("read-only"))
    return {name.split(":", 1)[1] for statement in document["Statement"] for name in statement["Action"]}


async def test_the_read_only_policy_is_all_its_tools_need(
    world: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    """What a read-only server does, as an identity with only the read-only policy: it lists every kind of resource
    with the cloud's state (none `unknown`), the bill beside the estimate, prices plans and follows operations,
    and sends nothing outside that policy; above all no kubeconfig (the policy leaves it out: a credential)."""
    world.bill_lag_seconds = 0
    full = runtime_on(world, kubeconfig_minutes=4320)  # fetched once: the sandbox's clock runs 600x fast
    cluster_id = buy_one_of_each(full, world)
    running = full.jobs.start(JobRequest(cluster=cluster_id, script="echo following\nsleep 5\n"))
    assert running.operation_id
    with acting_as(Caller(subject="watcher", admin=True)):  # a full server would hand its log over (own cursor)
        logs = JobLogs(full.targets, full.ledger)
        eventually(lambda: "following" in (logs.new_lines(full.operations.get(running.operation_id)) or ""))
    allowed = read_only_policy()
    assert "DescribeClusterUserKubeconfig" not in allowed
    for action in {a.action for a in RAM_ACTIONS} - allowed:  # RAM refuses all the rest
        world.inject(action, Fault.denied(), times=1000)
    world.reset_counts()

    async with Client(build_server(runtime_on(world, read_only=True))) as client:

        async def call(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, result.content
            return result.structured_content or {}

        following = await call("get_operation", {"operation_id": running.operation_id, "wait_seconds": 0})
        listed = await call("list_resources", {})
        for plan in (CLUSTER, PODS, NodePoolPlan(cluster=cluster_id, instance_types=["ecs.g7.xlarge"])):
            await call("estimate_cost", {"plan": plan.model_dump(mode="json", exclude_none=True)})
        assert finished(full, running.operation_id).state == "succeeded"
        done = await call("get_operation", {"operation_id": running.operation_id, "wait_seconds": 0})

    assert set(world.counts()) <= allowed, sorted(set(world.counts()) - allowed)
    assert following["state"] == "running" and not following.get("log"), "a read-only server reads no log"
    assert (done["state"], done["outcome"]) == ("done", "succeeded")
    states = {(r["kind"], r["state"]) for r in listed["resources"]}
    assert {kind for kind, _ in states} == {"cluster", "vpc", "vswitch", "node_pool", "job", "deployment", "service"}
    assert not [s for s in states if "unknown" in s[1]], states
    assert ("cluster", "running") in states and any(k == "node_pool" and s.startswith("active") for k, s in states)
    # Jobs, Deployments and Services are on clusters, which a read-only server does not reach: as the ledger has them.
    assert {(k, s) for k, s in states if k in ("job", "deployment", "service")} == {
        ("job", "finished (as recorded: a read-only server does not read clusters)"),
        ("job", "submitted (as recorded: a read-only server does not read clusters)"),  # running, as far as known
        ("deployment", "ready (as recorded: a read-only server does not read clusters)"),
        ("service", "ready (as recorded: a read-only server does not read clusters)"),
    }
    (cluster,) = [r for r in listed["resources"] if r["kind"] == "cluster"]
    assert cluster["meter"] == "billed", "bss:DescribeInstanceBill is in the read-only policy"
