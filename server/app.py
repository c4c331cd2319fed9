"""MCPServer assembly: tool registration, annotations, and the agent-facing instructions."""

from __future__ import annotations

import anyio.to_thread
from mcp.server import MCPServer
from mcp.types import ToolAnnotations
from starlette.requests import Request
from starlette.responses import JSONResponse

from ack_compute.server.access import CallerMiddleware, HttpAccess
from ack_compute.server.cancel_operation import register_cancel_operation
from ack_compute.server.cleanup import register_cleanup
from ack_compute.server.clusters import register_clusters
from ack_compute.server.docs import register_docs
from ack_compute.server.errors import ArgumentCheck, as_tool_errors
from ack_compute.server.list_resources import register_list_resources
from ack_compute.server.prompts import register_prompts
from ack_compute.server.runtime import Runtime, package_version
from ack_compute.server.workloads import register_workloads
from ack_compute.tools import estimate_cost as estimating
from ack_compute.tools.estimate_cost import Estimate
from ack_compute.tools.plans import Plan

INSTRUCTIONS = """\
ack-compute-mcp buys and uses Alibaba Cloud compute (ACK clusters, ACS serverless pods) for you.
Money is real, so the order is fixed:
1. estimate_cost(plan) prices the plan and returns a quote with a quote_token.
2. Show the person the line items, the hourly cost and the total. Do not proceed without their yes.
3. Call the creating tool with the SAME plan and the quote_token. A token pays for exactly that plan,
   once, before it expires; any change to the plan needs a new estimate.
The server enforces budget caps set by the operator and never deletes what it did not create.
For product facts (ACK editions, ACS compute classes, prices, error codes) use doc_search or the
docs://references resources instead of guessing.
"""
READ_ONLY_NOTE = """
This server is in read-only mode: it prices plans and answers questions, but it cannot create, change or
delete anything. To act on a quote, the person needs a server without --read-only.
"""


def _read_only_note(runtime: Runtime) -> str:
    """The read-only note, naming the operations a stopped server left that only a full server may continue."""
    waiting = runtime.operations.orphaned()
    if not waiting:
        return READ_ONLY_NOTE
    return READ_ONLY_NOTE + (
        f"Operations {', '.join(waiting)} were left unfinished by a stopped server; they wait for a server without "
        "--read-only (get_operation shows them).\n"
    )


READ_ONLY_TOOLS = {"estimate_cost", "doc_search", "get_operation", "list_resources"}


def build_server(runtime: Runtime, access: HttpAccess | None = None) -> MCPServer:
    """`access` (HTTP only) brings the token verifier; every request then runs as its token's caller."""
    read_only = runtime.settings.read_only
    server = MCPServer(
        name="ack-compute-mcp",
        title="ACK compute",
        version=package_version(),
        instructions=INSTRUCTIONS + (_read_only_note(runtime) if read_only else ""),
        token_verifier=access.verifier if access else None,
        auth=access.auth if access else None,
        middleware=[CallerMiddleware(access.admin_scope if access else runtime.settings.admin_scope)],
    )
    server.middleware.append(ArgumentCheck(server))

    @server.custom_route("/healthz", methods=["GET"], include_in_schema=False)
    async def healthz(request: Request) -> JSONResponse:
        """For load balancers and probes: unauthenticated, so it says nothing about callers or the cloud."""
        return JSONResponse(
            {"status": "ok", "server": "ack-compute-mcp", "version": package_version(), "read_only": read_only}
        )

    default_region = runtime.settings.region
    # Estimates are CPU-bound Python: a few threads at a time, not anyio's 40, keep the tail short under load
    # (bench/bench_http_load.py: server-side p99 from ~170 ms to ~30 ms at 50 concurrent clients).
    estimates = anyio.CapacityLimiter(4)

    @server.tool(
        name="estimate_cost",
        title="Estimate cost and issue a quote",
        description=(
            "Price a plan before anything is created: an ACK cluster (kind=cluster: edition, worker instance "
            "types, node count, disks, region/zone), an ACK Serverless cluster (kind=serverless: edition, "
            "region/zone; no nodes, so only the Pro fee and network; its pods are quoted as kind=acs or kind=eci), "
            "ACS pods (kind=acs: replicas, vCPU, memory, compute class, QoS, GPUs) or ECI pods for ACK Serverless "
            "(kind=eci: replicas, an ECI vCPU/memory spec, spot, use_specs, image_cache; priced by the ECI price "
            "API). Returns line items with their price "
            "source, the hourly cost and the total for `hours`, "
            "assumptions and exclusions, and a signed single-use quote_token that the creating tool requires "
            "for exactly this plan. Creates nothing and costs nothing."
        ),
        annotations=ToolAnnotations(
            read_only_hint=True, destructive_hint=False, idempotent_hint=False, open_world_hint=True
        ),
    )
    @as_tool_errors
    async def estimate_cost(plan: Plan) -> Estimate:
        return await anyio.to_thread.run_sync(
            lambda: estimating.estimate_cost(
                plan, default_region=default_region, pricer=runtime.pricer, quotes=runtime.quotes
            ),
            limiter=estimates,
        )

    register_clusters(server, runtime)
    register_docs(server)
    register_list_resources(server, runtime)
    if read_only:
        server.remove_tool("ensure_cluster")  # get_operation and the ledger view stay: they only read
        register_prompts(server, READ_ONLY_TOOLS)
        return server
    register_workloads(server, runtime)
    register_cleanup(server, runtime)
    register_cancel_operation(server, runtime)
    register_prompts(
        server,
        {"estimate_cost", "doc_search", "ensure_cluster", "get_operation", "run_job", "deploy_acs", "cleanup"},
    )
    return server
