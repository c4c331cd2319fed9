"""extend_lease on the MCP surface: more hours for a lease, paid by a quote for the lease's plan with the added hours,
asked of the person by the same elicitation consent flow as the creating tools."""

# No `from __future__ import annotations`: the tool signature refers to a local resolver, and the SDK evaluates
# annotations to build the schema.
from typing import Annotated

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver.resolve import Resolve
from mcp.types import CallToolResult, ToolAnnotations

from ack_compute.server.consent import ConsentRef, Offer, consent_resolver, cost_words, quoted_offer, utc_time
from ack_compute.server.errors import as_tool_errors
from ack_compute.server.params import OperationId, QuoteId
from ack_compute.server.results import lean
from ack_compute.server.runtime import Runtime
from ack_compute.tools.extend_lease import LeaseExtender, LeaseOutcome
from ack_compute.tools.purchase import Purchase

DESCRIPTION = (
    "Adds hours to the lease of a resource this server created (at its end the resource is deleted). Without "
    "quote_id returns plan_to_quote; estimate_cost it with hours = the hours to add, show the person, call again "
    "with its quote_id."
)


def register_extend_lease(server: MCPServer, runtime: Runtime) -> None:
    extender = LeaseExtender(Purchase(runtime.quotes, runtime.ownership))
    policy = runtime.settings.confirmation

    def precheck(operation_id: str, quote_id: str = "") -> Offer:
        """The extension's purchase path up to the question: the lease, and the quote's ledger row for its plan."""

        def buy():  # type: ignore[no-untyped-def]
            lease, quote, _ = extender.offer(operation_id, quote_id)
            return lease, quote

        def question(lease, q):  # type: ignore[no-untyped-def]
            # From the ledger's rows only (stable across the rounds of one question): the end moves from the old
            # end, or from the quote's issue once the old end has passed.
            owned = runtime.ownership.get(lease.resource_id)
            end = extender.new_end(lease, q, now=q.issued_at)
            return (
                f"Extend {owned.kind} '{owned.name.rsplit('/', 1)[-1]}' ({q.region}) by {q.hours:g} h for "
                f"{cost_words(q)}? It then runs until about {utc_time(end, q.issued_at)} instead of "
                f"{utc_time(lease.ends_at, q.issued_at)}."
            )

        return quoted_offer(quote_id, buy, question)

    @server.tool(
        name="extend_lease",
        title="Extend a resource's lease",
        description=DESCRIPTION,
        # Spends a quote on each call (not idempotent); moves an end later, never deletes (not destructive).
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
        ),
    )
    @as_tool_errors
    async def extend_lease(
        operation_id: OperationId,
        consent: Annotated[ConsentRef, Resolve(consent_resolver(runtime, precheck, lease=False))],
        quote_id: QuoteId = "",
    ) -> Annotated[CallToolResult, LeaseOutcome]:
        outcome = await anyio.to_thread.run_sync(
            lambda: extender.extend(operation_id, quote_id, consent.consent_id, policy)
        )
        return lean(outcome)
