"""ensure_node_pool on the MCP surface: add or resize a node pool, growth paid by quote id with the person's yes,
shrinking free and named node by node; a bounded wait, then an operation."""

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
from ack_compute.server.params import RULES, ClusterRef, QuotedPlan, QuoteId, QuoteToken, WaitSeconds
from ack_compute.server.quoting import quoted_plan
from ack_compute.server.runtime import Runtime
from ack_compute.server.waiting import now_at, requested_by, start_then_answer
from ack_compute.tools.node_pool_spec import POOL_NAME, NodePoolOutcome
from ack_compute.tools.plans import NodePoolPlan

PLAN: TypeAdapter[NodePoolPlan] = TypeAdapter(NodePoolPlan)
DESCRIPTION = (
    "Adds a node pool (GPU types included) to an ACK cluster, or resizes one this server made. Adding or growing "
    "costs money: call without quote_id to get plan_to_quote, estimate_cost it, show the person, call again with "
    "its quote_id. Shrinking is free and says which nodes go. Send work there with run_job node_pool. Waits up to "
    "wait_seconds, then returns an operation_id."
)
PoolName = Annotated[str, Field(pattern=POOL_NAME, description=f"Pool name: {RULES['node_pool']}.")]


def register_ensure_node_pool(server: MCPServer, runtime: Runtime) -> None:
    pools = runtime.node_pools
    policy = runtime.settings.confirmation

    def precheck(
        cluster: str,
        name: str,
        node_count: int | None = None,
        quote_id: str = "",
        quote_token: str = "",
        plan: dict | None = None,
    ) -> Offer:
        """The pool's purchase path up to the question: what the person would pay, from the quote's ledger row."""
        ref = quote_id or quote_token

        def buy():  # type: ignore[no-untyped-def]
            bought = quoted_plan(runtime, PLAN, ("node_pool",), "ensure_node_pool", ref, plan)
            return bought, pools.offer(cluster, name, node_count, bought, ref)

        def question(p, q):  # type: ignore[no-untyped-def]
            spot = " spot" if p.spot_strategy else ""
            return (
                f"Add {p.node_count} x {p.instance_types[0]}{spot} nodes to node pool '{name}' on cluster '{cluster}' "
                f"({q.region}) for {cost_words(q)}?"
            )

        return quoted_offer(ref, buy, question)

    @server.tool(
        name="ensure_node_pool",
        title="Add or resize a node pool",
        description=DESCRIPTION,
        # Shrinking drains and releases nodes: a host must not take this tool for harmless.
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
        ),
    )
    @as_tool_errors
    async def ensure_node_pool(
        ctx: Context,
        cluster: ClusterRef,
        name: PoolName,
        consent: Annotated[ConsentRef, Resolve(consent_resolver(runtime, precheck))],
        node_count: Annotated[
            int | None, Field(ge=0, le=100, description="Nodes wanted; default: the quote's, or unchanged.")
        ] = None,
        quote_id: QuoteId = "",
        plan: QuotedPlan = None,
        quote_token: QuoteToken = "",
        wait_seconds: WaitSeconds = 30,
    ) -> Annotated[CallToolResult, NodePoolOutcome]:
        ref = quote_id or quote_token
        bought = quoted_plan(runtime, PLAN, ("node_pool",), "ensure_node_pool", ref, plan)
        return await start_then_answer(
            runtime,
            ctx,
            lambda: pools.ensure(
                cluster,
                name,
                node_count=node_count,
                plan=bought,
                quote_token=ref or None,
                consent_id=consent.consent_id,
                confirmation_policy=policy,
                requested_by=requested_by(ctx),
            ),
            wait_seconds,
            running=lambda o: o.status in ("creating", "resizing"),
            finished=NodePoolOutcome.model_validate,
            still=now_at,
        )
