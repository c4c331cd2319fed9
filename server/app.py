"""MCPServer assembly: tool registration, annotations, and the agent-facing instructions."""

from __future__ import annotations

from collections.abc import Callable

from mcp.server import MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse

from ack_compute.server.access import CallerMiddleware, HttpAccess
from ack_compute.server.cancel_operation import register_cancel_operation
from ack_compute.server.cleanup import register_cleanup
from ack_compute.server.deploy_acs import register_deploy_acs
from ack_compute.server.doc_search import register_doc_search
from ack_compute.server.docs import register_docs
from ack_compute.server.ensure_cluster import register_ensure_cluster
from ack_compute.server.ensure_node_pool import register_ensure_node_pool
from ack_compute.server.errors import ToolRefusals
from ack_compute.server.estimate_cost import register_estimate_cost
from ack_compute.server.extend_lease import register_extend_lease
from ack_compute.server.get_operation import register_get_operation
from ack_compute.server.http_sessions import request_state_security
from ack_compute.server.ledger import register_ledger
from ack_compute.server.list_resources import register_list_resources
from ack_compute.server.prompts import register_prompts
from ack_compute.server.results import slim_schemas
from ack_compute.server.run_job import register_run_job
from ack_compute.server.runtime import Runtime, package_version
from ack_compute.server.settings import READ_ONLY_TOOLS

# One server/<tool>.py per tool, by the name it registers, in tools/list order: the read-only ones first. A read-only
# server registers only READ_ONLY_TOOLS (server/settings.py): nothing that creates, changes or deletes.
TOOLS: dict[str, Callable[[MCPServer, Runtime], None]] = {
    "estimate_cost": register_estimate_cost,
    "doc_search": register_doc_search,
    "get_operation": register_get_operation,
    "list_resources": register_list_resources,
    "ensure_cluster": register_ensure_cluster,
    "ensure_node_pool": register_ensure_node_pool,
    "run_job": register_run_job,
    "deploy_acs": register_deploy_acs,
    "extend_lease": register_extend_lease,
    "cleanup": register_cleanup,
    "cancel_operation": register_cancel_operation,
}

INSTRUCTIONS = """\
ack-compute-mcp buys and uses Alibaba Cloud compute (ACK clusters, ACS serverless pods) for you.
Money is real, so the order is fixed:
1. estimate_cost(plan) prices the plan and returns a quote_id.
2. Show the person the line items, the hourly cost and the total. Do not proceed without their yes.
3. Call the creating tool with the quote_id. It pays for exactly the quoted plan, once, before it
   expires; any change to the plan needs a new estimate.
4. What it buys is leased for the quoted hours (lease_ends_at), then deleted unless extend_lease adds hours.
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
        # The cost question's answer round may reach another replica (server/http_sessions.py).
        request_state_security=request_state_security(runtime),
        middleware=[
            CallerMiddleware(access.admin_scope if access else runtime.settings.admin_scope, access and access.budgets)
        ],
    )
    server.middleware.append(ToolRefusals(server))

    @server.custom_route("/healthz", methods=["GET"], include_in_schema=False)
    async def healthz(request: Request) -> JSONResponse:
        """For load balancers and probes: unauthenticated, so it says nothing about callers or the cloud."""
        return JSONResponse(
            {"status": "ok", "server": "ack-compute-mcp", "version": package_version(), "read_only": read_only}
        )

    for name, register in TOOLS.items():
        if not read_only or name in READ_ONLY_TOOLS:
            register(server, runtime)
    register_docs(server)
    register_ledger(server, runtime)
    slim_schemas(server)  # after every tool is registered: what a model reads (server/results.py)
    register_prompts(server, {tool.name for tool in server._tool_manager.list_tools()})
    return server
