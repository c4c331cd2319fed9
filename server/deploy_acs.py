"""deploy_acs on the MCP surface: a Deployment on ACS (or ECI) pods, paid by quote id, consent by elicitation."""

# No `from __future__ import annotations`: the SDK evaluates the tool signature to build its schema.
from typing import Annotated

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Resolve
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field, TypeAdapter

from ack_compute.server.consent import ConsentRef, Offer, consent_resolver, cost_words, quoted_offer
from ack_compute.server.errors import as_tool_errors
from ack_compute.server.params import (
    ClusterRef,
    Env,
    Image,
    Namespace,
    QuoteId,
    QuoteToken,
    WaitSeconds,
    WorkloadName,
)
from ack_compute.server.quoting import quoted_plan
from ack_compute.server.runtime import Runtime
from ack_compute.server.waiting import requested_by, start_then_answer
from ack_compute.tools.deploy_acs import DeployOutcome, DeployPlan, DeployRequest, PodPlan
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.plans import EciPlan

PLANS: TypeAdapter[PodPlan] = TypeAdapter(DeployPlan)
KINDS = ("acs", "eci")
DESCRIPTION = (
    "Creates or updates a Deployment whose pods run on ACS serverless compute via virtual nodes (ACK Pro with "
    "ack-virtual-node, ACK Serverless, or context:<name>); on ACK Serverless a kind=eci plan runs ECI pods. Billed "
    "per pod: pass the quote_id of an estimate_cost kind=acs/eci plan. Without quote_id, pass plan to get "
    "plan_to_quote. Re-running with the same name updates it (replacing its pods); a new quote is needed only when "
    "it costs more per hour. On an ACK Pro cluster this server created it installs the free ack-virtual-node "
    "first. Returns pods, nodes, instance ids and the service endpoint when ports are given."
)


def _pods(plan: PodPlan) -> str:
    """What the person pays for, in words: the pod kind, spec and (for ECI) spot terms and fallback specs."""
    if isinstance(plan, EciPlan):
        spot = ""
        if plan.spot_strategy == "SpotAsPriceGo":
            spot = " as spot instances at the market price (at most the pay-as-you-go price; they can be reclaimed)"
        elif plan.spot_strategy == "SpotWithPriceLimit":
            spot = f" as spot instances with a limit of {plan.spot_price_limit:g}/h each (they can be reclaimed)"
        fallback = f", or {', '.join(plan.use_specs)} when that is out of stock" if plan.use_specs else ""
        return (
            f"{plan.replicas} ECI pod(s) of {plan.vcpu:g} vCPU, {plan.memory_gib:g} GiB{fallback}{spot} on ACK "
            "Serverless"
        )
    gpu = f", {plan.gpu_count} x {plan.gpu_model}" if plan.gpu_count else ""
    return f"{plan.replicas} ACS {plan.compute_class} pod(s) of {plan.vcpu:g} vCPU, {plan.memory_gib:g} GiB{gpu}"


def _plan(runtime: Runtime, ref: str, plan: dict | None) -> PodPlan:
    found = quoted_plan(runtime, PLANS, KINDS, "deploy_acs", ref, plan)
    if found is None:
        raise AckComputeError(
            "deploy_acs needs a quote_id (or, to find out what to quote, a plan).",
            "Pass quote_id from estimate_cost, or a kind=acs plan to get plan_to_quote. Nothing was changed.",
        )
    return found


def register_deploy_acs(server: MCPServer, runtime: Runtime) -> None:
    policy = runtime.settings.confirmation

    def deploy_precheck(
        cluster: str,
        name: str,
        image: str,
        quote_id: str = "",
        quote_token: str = "",
        plan: dict | None = None,
        namespace: str = "default",
    ) -> Offer:
        """deploy_acs's purchase path up to the question (a cheaper update buys nothing and asks nothing)."""
        ref = quote_id or quote_token

        def buy():  # type: ignore[no-untyped-def]
            bought = _plan(runtime, ref, plan)
            request = DeployRequest(
                cluster=cluster, name=name, image=image, plan=bought, quote_token=ref, namespace=namespace
            )
            quote, addon = runtime.deployer.offer_with_addon(request)
            return (bought, addon), quote

        def question(what, q):  # type: ignore[no-untyped-def]
            bought, addon = what
            return (
                f"On cluster '{cluster}', {addon} (no charge), then: " if addon else ""
            ) + f"Deploy '{name}' on cluster '{cluster}' ({q.region}): {_pods(bought)} at {cost_words(q)}?"

        return quoted_offer(ref, buy, question)

    @server.tool(
        name="deploy_acs",
        title="Deploy a workload on ACS serverless compute",
        description=DESCRIPTION,
        # Destructive: an update replaces the running pods, and a smaller plan stops pods. Idempotent: the same
        # arguments again change nothing (status unchanged, or the same add-on operation while it prepares).
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
        ),
    )
    @as_tool_errors
    async def deploy_acs(
        ctx: Context,
        cluster: ClusterRef,
        name: WorkloadName,
        image: Image,
        consent: Annotated[ConsentRef, Resolve(consent_resolver(runtime, deploy_precheck))],
        quote_id: QuoteId = "",
        plan: Annotated[
            dict | None,
            Field(description="kind=acs or eci pod plan; optional with quote_id (then it must equal the quoted one)."),
        ] = None,
        quote_token: QuoteToken = "",
        namespace: Namespace = "default",
        ports: Annotated[list[int], Field(description="Container ports; a ClusterIP Service exposes them.")] = [],  # noqa: B006
        env: Env | None = None,
        command: Annotated[list[str], Field(description="Overrides the image's entrypoint.")] = [],  # noqa: B006
        wait_seconds: WaitSeconds = 30,
    ) -> Annotated[CallToolResult, DeployOutcome]:
        ref = quote_id or quote_token
        request = DeployRequest(
            cluster=cluster,
            name=name,
            image=image,
            plan=_plan(runtime, ref, plan),
            quote_token=ref or None,
            namespace=namespace,
            ports=ports or [],
            env=env or {},
            command=command or [],
        )
        return await start_then_answer(
            runtime,
            ctx,
            lambda: runtime.deployer.deploy(
                request, consent_id=consent.consent_id, confirmation_policy=policy, requested_by=requested_by(ctx)
            ),
            wait_seconds,
            running=lambda o: o.status == "preparing",
            finished=DeployOutcome.model_validate,
            what="deploy_acs",
        )
