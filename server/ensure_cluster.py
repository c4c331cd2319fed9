"""ensure_cluster on the MCP surface: reuse or create, paid by quote id, consent by elicitation, a bounded wait."""

# No `from __future__ import annotations`: the tool signature refers to a local resolver, and the SDK evaluates
# annotations to build the schema.
from typing import Annotated

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Resolve
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field, TypeAdapter

from ack_compute.server.consent import ConsentRef, Offer, consent_resolver, cost_words, quoted_offer
from ack_compute.server.errors import as_tool_errors
from ack_compute.server.params import ClusterName, QuotedPlan, QuoteId, QuoteToken, WaitSeconds
from ack_compute.server.quoting import quoted_plan
from ack_compute.server.runtime import Runtime
from ack_compute.server.waiting import now_at, requested_by, start_then_answer
from ack_compute.tools.ensure_cluster import ClusterOutcome
from ack_compute.tools.plans import AnyClusterPlan, ClusterPlan, ServerlessPlan, network_purchase

PLANS: TypeAdapter[ClusterPlan | ServerlessPlan] = TypeAdapter(AnyClusterPlan)
KINDS = ("cluster", "serverless")
DESCRIPTION = (
    "Returns a usable ACK cluster. Reuses a running cluster with this name (reuse_any=true: also any running acf-* "
    "cluster); otherwise creating one costs money: call without quote_id to get plan_to_quote, estimate_cost it, "
    "show the person the quote, then call again with its quote_id. Waits up to wait_seconds, then returns an "
    "operation_id for get_operation."
)


def _describe(name: str, plan: ClusterPlan | ServerlessPlan) -> str:
    """What the person is asked to buy, in their words: a Serverless cluster has no nodes to count."""
    extra = f", plus {network}" if (network := network_purchase(plan)) else ""
    if isinstance(plan, ServerlessPlan):
        return (
            f"ACK Serverless cluster '{name}' ({plan.edition}, no worker nodes; pods are billed separately per pod, "
            f"each under its own quote{extra})"
        )
    return f"ACK cluster '{name}' ({plan.edition}, {plan.node_count} x {plan.instance_types[0]}{extra})"


def register_ensure_cluster(server: MCPServer, runtime: Runtime) -> None:
    clusters = runtime.clusters
    policy = runtime.settings.confirmation

    def precheck(name: str, quote_id: str = "", quote_token: str = "", plan: dict | None = None) -> Offer:
        """The create's purchase path up to the question: what the person would pay, from the quote's ledger row."""
        ref = quote_id or quote_token

        def buy():  # type: ignore[no-untyped-def]
            bought = quoted_plan(runtime, PLANS, KINDS, "ensure_cluster", ref, plan)
            return bought, clusters.offer(name, bought, ref)

        return quoted_offer(
            ref,
            buy,
            lambda bought, q: (
                f"Create {_describe(name, bought)} in {q.region} for {cost_words(q)}? If a cluster named '{name}' is "
                "already running it is reused at no cost."
            ),
        )

    @server.tool(
        name="ensure_cluster",
        title="Find, reuse or create an ACK cluster",
        description=DESCRIPTION,
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
    @as_tool_errors
    async def ensure_cluster(
        ctx: Context,
        name: ClusterName,
        consent: Annotated[ConsentRef, Resolve(consent_resolver(runtime, precheck))],
        quote_id: QuoteId = "",
        reuse_any: Annotated[bool, Field(description="Also reuse any running acf-* cluster with Ready nodes.")] = False,
        plan: QuotedPlan = None,
        quote_token: QuoteToken = "",
        wait_seconds: WaitSeconds = 30,
        security_group_id: Annotated[
            str,
            Field(
                pattern=r"^(sg-[0-9a-z]+)?$",
                description="Existing security group for the nodes (sg-...); default: ACK creates one.",
            ),
        ] = "",
    ) -> Annotated[CallToolResult, ClusterOutcome]:
        ref = quote_id or quote_token
        bought = quoted_plan(runtime, PLANS, KINDS, "ensure_cluster", ref, plan)
        return await start_then_answer(
            runtime,
            ctx,
            lambda: clusters.ensure(
                name,
                reuse_any=reuse_any,
                plan=bought,
                quote_token=ref or None,
                consent_id=consent.consent_id,
                confirmation_policy=policy,
                requested_by=requested_by(ctx),
                security_group_id=security_group_id or None,
            ),
            wait_seconds,
            running=lambda o: o.status in ("creating", "waiting"),
            finished=ClusterOutcome.model_validate,
            still=now_at,
        )
