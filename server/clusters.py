"""ensure_cluster and get_operation on the MCP surface: consent by elicitation, bounded waits, progress."""

# No `from __future__ import annotations`: the tool signatures refer to a local resolver, and the SDK
# evaluates annotations to build the schema.
import json
from typing import Annotated

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Resolve
from mcp.types import ToolAnnotations
from pydantic import Field

from ack_compute.server.consent import ConsentRef, Offer, consent_resolver, pre_check
from ack_compute.server.errors import as_tool_errors
from ack_compute.server.runtime import Runtime
from ack_compute.tools.ensure_cluster import CLUSTER_NAME, ClusterOutcome
from ack_compute.tools.job_logs import JobLogs
from ack_compute.tools.operations import OperationStatus, OperationView, view
from ack_compute.tools.plans import AnyClusterPlan, ClusterPlan, ServerlessPlan, network_purchase

MAX_WAIT = 50  # hosts cancel calls at about 60 s


def _describe(name: str, plan: ClusterPlan | ServerlessPlan) -> str:
    """What the person is asked to buy, in their words: a Serverless cluster has no nodes to count."""
    extra = f", plus {network}" if (network := network_purchase(plan)) else ""
    if isinstance(plan, ServerlessPlan):
        return (
            f"ACK Serverless cluster '{name}' ({plan.edition}, no worker nodes; pods are billed separately per pod, "
            f"each under its own quote{extra})"
        )
    return f"ACK cluster '{name}' ({plan.edition}, {plan.node_count} x {plan.instance_types[0]}{extra})"


def _requested_by(ctx: Context) -> str:
    params = getattr(ctx.session, "client_params", None)
    info = getattr(params, "client_info", None)
    return f"{getattr(info, 'name', '')} {getattr(info, 'version', '')}".strip()


async def await_operation(runtime: Runtime, ctx: Context, operation_id: str, wait_seconds: int) -> OperationStatus:
    """Wait at most `wait_seconds`, reporting progress as it changes; the work itself never stops."""
    deadline = anyio.current_time() + max(0, min(wait_seconds, MAX_WAIT))
    status = runtime.operations.get(operation_id)
    reported, said = -1.0, ""
    while not status.done and not status.waiting_for_full_server and (remaining := deadline - anyio.current_time()) > 0:
        status = await anyio.to_thread.run_sync(
            runtime.operations.wait, operation_id, min(remaining, 2.0), abandon_on_cancel=True
        )
        # MCP: each progress value must be greater than the last. A wait that timed out has nothing to say; a new
        # message at the same fraction is nudged up a hair so the person still sees what the server is doing.
        message = f"{status.stage}: {status.message}".strip(": ")
        progress = status.progress * 100
        if progress <= reported and message != said and reported < 99.8:
            progress = reported + 0.1
        if progress > reported:
            await ctx.report_progress(progress, 100, message)
            reported, said = progress, message
    return status


def register_clusters(server: MCPServer, runtime: Runtime) -> None:
    clusters = runtime.clusters
    logs = JobLogs(runtime.targets, runtime.ledger)
    policy = runtime.settings.confirmation

    def precheck(name: str, plan: AnyClusterPlan | None = None, quote_token: str | None = None) -> Offer:
        """The create's purchase path up to the question: what the person would pay, from the quote's ledger row."""
        if plan is None or not quote_token:
            return Offer()
        return pre_check(
            lambda: clusters.offer(name, plan, quote_token),
            lambda q: (
                f"Create {_describe(name, plan)} in {q.region} for {q.hourly} {q.currency}/h, about {q.total} "
                f"{q.currency} for {q.hours:g} h (quote {q.quote_id})? If a cluster named '{name}' is already "
                "running it is reused at no cost."
            ),
        )

    @server.tool(
        name="ensure_cluster",
        title="Find, reuse or create an ACK cluster",
        description=(
            "Returns a usable ACK cluster. Reuses a running cluster with this exact name (after checking the "
            "credentials may create Jobs there); with reuse_any=true also any running acf-* cluster with Ready "
            "nodes; otherwise creates one, which costs money: call it first without plan/quote_token to get the "
            "plan to estimate, then estimate_cost, show the person the quote, and call again with the same plan "
            "and quote_token. A plan of kind=cluster creates worker nodes; kind=serverless creates an ACK Serverless "
            "cluster (no nodes, pods billed per pod via deploy_acs or run_job compute=acs). Waits at most "
            "wait_seconds, then returns an operation_id for get_operation."
        ),
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
    @as_tool_errors
    async def ensure_cluster(
        ctx: Context,
        name: Annotated[str, Field(pattern=CLUSTER_NAME, description="Cluster name; acf- prefix allows auto-reuse.")],
        consent: Annotated[ConsentRef, Resolve(consent_resolver(runtime, precheck))],
        reuse_any: bool = False,
        plan: AnyClusterPlan | None = None,
        quote_token: str | None = None,
        wait_seconds: Annotated[int, Field(ge=0, le=MAX_WAIT)] = 30,
        security_group_id: Annotated[
            str | None,
            Field(
                pattern=r"^sg-[0-9a-z]+$",
                description="Existing security group for the nodes; "
                "default: ACK creates an enterprise group and releases it with the cluster.",
            ),
        ] = None,
    ) -> ClusterOutcome:
        outcome = await anyio.to_thread.run_sync(
            lambda: clusters.ensure(
                name,
                reuse_any=reuse_any,
                plan=plan,
                quote_token=quote_token,
                consent_id=consent.consent_id,
                confirmation_policy=policy,
                requested_by=_requested_by(ctx),
                security_group_id=security_group_id,
            )
        )
        if outcome.operation_id and outcome.status in ("creating", "waiting") and wait_seconds:
            status = await await_operation(runtime, ctx, outcome.operation_id, wait_seconds)
            if status.state == "succeeded":
                return ClusterOutcome.model_validate(status.result)
            if status.state == "failed":
                raise ToolError(f"Operation {status.operation_id} failed: {status.error}")
            outcome = outcome.model_copy(update={"message": f"{outcome.message} Now: {status.stage} {status.message}."})
        return outcome

    @server.tool(
        name="get_operation",
        title="Follow a long operation",
        description="Status, progress and result of an operation id returned by another tool. Waits at most "
        f"wait_seconds (0..{MAX_WAIT}) for it to finish or change.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    @as_tool_errors
    async def get_operation(
        ctx: Context, operation_id: str, wait_seconds: Annotated[int, Field(ge=0, le=MAX_WAIT)] = 20
    ) -> OperationView:
        status = await await_operation(runtime, ctx, operation_id, wait_seconds)
        lines = await anyio.to_thread.run_sync(logs.new_lines, status) if not status.done else None
        return view(status, log_lines=lines)

    @server.resource(
        "ledger://resources",
        name="ledger",
        title="What this server owns and reuses",
        mime_type="application/json",
        description=(
            "Every resource this server created (with its state) or reused for you (all of them for an admin); "
            "read-only."
        ),
    )
    def ledger_resources() -> str:
        rows = [r.model_dump(mode="json") for r in runtime.ownership.visible()]
        return json.dumps({"resources": rows}, ensure_ascii=False)
