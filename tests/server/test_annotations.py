"""The tool annotations a host reads from tools/list tell the truth: what only reads, what can delete or replace.

Hosts use them to decide what to run without asking (read-only) and what to confirm (destructive). The table is the
decision, tool by tool (MCP ToolAnnotations: destructiveHint matters only when readOnlyHint is false):
- estimate_cost is read-only: it creates and spends nothing in the cloud; the quote row it writes is the server's own
  record, unused it expires and costs nothing, and spending it still needs a person's yes. A new quote_id each time:
  not idempotent.
- get_operation is read-only (it moves this caller's log cursor, so not idempotent) and reads a job's log from the
  cluster (open world).
- run_job can delete (cleanup_after deletes the cluster it created; it deletes its Job), deploy_acs replaces pods
  on an update and stops pods when the plan shrinks, cleanup and cancel_operation delete: destructive.
- ensure_cluster creates or reuses and never deletes or replaces: not destructive; asking again returns the same
  cluster or operation: idempotent.
- extend_lease moves a lease's end later and never deletes: not destructive; each call spends a quote: not
  idempotent; it reads and writes only the server's ledger: closed world.
- ensure_node_pool shrinks a pool by draining and releasing nodes: destructive; asking again for the same size
  returns the same pool or operation: idempotent.
"""

from __future__ import annotations

import pytest
from mcp import Client

from ack_compute.server.app import build_server
from ack_compute.server.runtime import Runtime

pytestmark = pytest.mark.anyio

# tool: (readOnlyHint, destructiveHint, idempotentHint, openWorldHint)
HINTS = {
    "estimate_cost": (True, False, False, True),
    "ensure_cluster": (False, False, True, True),
    "ensure_node_pool": (False, True, True, True),
    "run_job": (False, True, False, True),
    "deploy_acs": (False, True, True, True),
    "cleanup": (False, True, True, True),
    "get_operation": (True, False, False, True),
    "cancel_operation": (False, True, True, True),
    "list_resources": (True, False, True, True),
    "doc_search": (True, False, True, False),
    "extend_lease": (False, False, False, False),
}


async def test_every_tools_hints_are_the_table(runtime: Runtime) -> None:
    async with Client(build_server(runtime)) as client:
        listed = (await client.list_tools()).tools
    seen = {}
    for tool in listed:
        hints = tool.annotations
        assert hints is not None, f"{tool.name} has no annotations"
        seen[tool.name] = (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint)
    assert seen == HINTS


async def test_the_hints_go_on_the_wire_in_the_protocols_names(runtime: Runtime) -> None:
    async with Client(build_server(runtime)) as client:
        wire = (await client.list_tools()).model_dump(mode="json", by_alias=True, exclude_none=True)
    cleanup = next(t for t in wire["tools"] if t["name"] == "cleanup")
    assert cleanup["annotations"] == {
        "readOnlyHint": False,
        "destructiveHint": True,
        "idempotentHint": True,
        "openWorldHint": True,
    }
