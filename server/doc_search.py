"""doc_search on the MCP surface: the offline reference search, for clients without resources too."""

# No `from __future__ import annotations`: the SDK evaluates the tool signature to build its schema.
from typing import Annotated

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from ack_compute.server.results import lean
from ack_compute.server.runtime import Runtime
from ack_compute.tools import doc_search
from ack_compute.tools.doc_search import DocHit


class DocSearchResult(BaseModel):
    query: str
    hits: list[DocHit]
    top_section: str | None = Field(None, description="Full Markdown of the best hit, for clients without resources.")


def register_doc_search(server: MCPServer, runtime: Runtime) -> None:
    @server.tool(
        name="doc_search",
        title="Search the reference docs",
        description=(
            "Offline search of this server's reference docs (ACK, ACS, ACK Serverless, CreateCluster, pricing, "
            "troubleshooting, these tools; English or Chinese). Returns ranked sections and the best one in full."
        ),
        annotations=ToolAnnotations(
            read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
        ),
    )
    async def doc_search_tool(
        query: Annotated[str, Field(description="What to look up, in words or an error code.")],
        limit: Annotated[int, Field(ge=1, le=20, description="Most hits returned.")] = 5,
    ) -> Annotated[CallToolResult, DocSearchResult]:
        def run() -> DocSearchResult:
            hits = doc_search.search(query, limit=limit)
            top = doc_search.read_section(hits[0].document, hits[0].anchor) if hits else None
            return DocSearchResult(query=query, hits=hits, top_section=top)

        try:
            return lean(await anyio.to_thread.run_sync(run))
        except ValueError as exc:
            raise ToolError(f"{exc}") from None
