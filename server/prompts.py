"""Workflow prompts. Each names the tools it needs and is offered only when all of them exist,
so a prompt never sends an agent to a tool this build does not have."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mcp.server import MCPServer

QUOTE_RULE = (
    "Money is real. Before anything billable: call estimate_cost with the plan, show the person the line items, "
    "the hourly cost, the total and the assumptions/exclusions as a table, and wait for an explicit yes. Then pass "
    "the quote_id to the creating tool. If the person changes anything, estimate again."
)


@dataclass(frozen=True)
class Workflow:
    name: str
    title: str
    description: str
    requires: frozenset[str]
    render: Callable[..., str]


def _quote_a_plan(goal: str, budget: str = "") -> str:
    limit = f" The person's budget: {budget}." if budget else ""
    return (
        f"Goal: {goal}.{limit}\n"
        "1. Propose the smallest plan that meets the goal (a cluster: edition, instance types, node count, disks, "
        "region/zone, hours; or ACS pods: replicas, vCPU, memory, class, QoS, hours). If unsure about a product "
        "fact, use doc_search first.\n"
        f"2. {QUOTE_RULE}\n"
        "3. If the quote exceeds the budget or the operator's cap, propose a smaller plan and estimate again."
    )


def _run_script_on_ack(script_goal: str, budget: str = "") -> str:
    return (
        f"Goal: run a script on ACK: {script_goal}." + (f" Budget: {budget}." if budget else "") + "\n"
        "1. ensure_cluster without a quote first: it reuses a running cluster by name (or any acf- cluster with "
        "reuse_any=true) at no cost; if it must create one it answers with the plan to quote.\n"
        f"2. If a cluster must be created: {QUOTE_RULE}\n"
        "3. ensure_cluster with the quote_id; if it returns an operation id, poll get_operation.\n"
        "4. run_job with the script; report the exit code and the log tail.\n"
        "5. Offer cleanup: it deletes only what this server created, newest first; run it as a dry run first."
    )


def _deploy_on_acs(service_goal: str, budget: str = "") -> str:
    return (
        f"Goal: deploy a service on ACS serverless compute: {service_goal}."
        + (f" Budget: {budget}." if budget else "")
        + "\n1. Pick the compute class (general-purpose, gpu, gpu-hpn) and QoS; read docs://references/acs-compute "
        "for prerequisites.\n"
        f"2. {QUOTE_RULE} (replicas x resources x hours).\n"
        "3. deploy_acs with the quote_id; verify pods run on virtual-kubelet nodes with acs- ids.\n"
        "4. Offer cleanup when the service is no longer needed."
    )


WORKFLOWS = [
    Workflow(
        "quote_a_plan",
        "Price a plan and get the person's yes",
        "Choose a plan, quote it, confirm the cost.",
        frozenset({"estimate_cost"}),
        _quote_a_plan,
    ),
    Workflow(
        "run_script_on_ack",
        "Run a script on ACK with cost confirmation",
        "End to end: cluster (reuse or create with a quote), job, output, cleanup.",
        frozenset({"estimate_cost", "ensure_cluster", "run_job", "get_operation", "cleanup"}),
        _run_script_on_ack,
    ),
    Workflow(
        "deploy_on_acs",
        "Deploy a service on ACS",
        "End to end: quote, deploy on virtual nodes, verify.",
        frozenset({"estimate_cost", "deploy_acs", "cleanup"}),
        _deploy_on_acs,
    ),
]


def register_prompts(server: MCPServer, tools: set[str]) -> list[str]:
    """Register the workflows whose tools all exist; returns their names."""
    offered = []
    for flow in WORKFLOWS:
        if flow.requires <= tools:
            server.prompt(name=flow.name, title=flow.title, description=flow.description)(flow.render)
            offered.append(flow.name)
    return offered
