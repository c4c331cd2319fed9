"""The reference docs on the MCP surface: resources, a search template, completions, a tool alias."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import unquote

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.types import Completion, ResourceTemplateReference

from ack_compute.tools import doc_search
from ack_compute.tools.doc_search import UnknownDocument, UnknownSection

REFERENCE_TEMPLATE = "docs://references/{name}"
SECTION_TEMPLATE = "docs://references/{name}/{anchor}"
SEARCH_TEMPLATE = "docs://search/{query}"


def _read(name: str, anchor: str = "") -> str:
    try:
        if anchor:
            return doc_search.read_section(unquote(name), unquote(anchor))
        return doc_search.read_document(unquote(name))
    except (UnknownDocument, UnknownSection) as exc:
        raise ResourceNotFoundError(str(exc)) from None


def _reader(name: str) -> Callable[[], str]:
    def read() -> str:
        return _read(name)

    read.__name__ = f"read_{name.replace('-', '_')}"
    return read


def register_docs(server: MCPServer) -> None:
    titles = doc_search.document_titles()  # the index itself is built on the first search, not at start
    for name, title in titles.items():
        server.resource(
            f"docs://references/{name}",
            name=name,
            title=title,
            mime_type="text/markdown",
            description=f"Reference: {title}",
        )(_reader(name))

    @server.resource(
        REFERENCE_TEMPLATE,
        name="reference",
        title="A reference document",
        mime_type="text/markdown",
        description="The whole Markdown document; see docs://references/<name>/<anchor> for one section.",
    )
    def reference(name: str) -> str:
        return _read(name)

    @server.resource(
        SECTION_TEMPLATE,
        name="reference_section",
        title="One section of a reference document",
        mime_type="text/markdown",
        description="The section (with its subsections) that a search hit points at.",
    )
    def reference_section(name: str, anchor: str) -> str:
        return _read(name, anchor)

    @server.resource(
        SEARCH_TEMPLATE,
        name="doc_search",
        title="Search the reference docs",
        mime_type="application/json",
        description="Ranked sections (English and Chinese) with snippets and the URI to read.",
    )
    def search_resource(query: str) -> str:
        try:
            hits = doc_search.search(unquote(query), limit=8)
        except ValueError as exc:
            raise ResourceNotFoundError(str(exc)) from None
        return json.dumps([h.model_dump() for h in hits], ensure_ascii=False)

    @server.completion()
    async def complete(ref: object, argument: object, context: object) -> Completion | None:
        if isinstance(ref, ResourceTemplateReference) and ref.uri in (REFERENCE_TEMPLATE, SECTION_TEMPLATE):
            if getattr(argument, "name", "") == "anchor":
                document = (getattr(context, "arguments", None) or {}).get("name", "")
                try:
                    anchors = [s.anchor for s in doc_search.sections(document)]
                except UnknownDocument:
                    return None
                prefix = getattr(argument, "value", "") or ""
                found = [a for a in anchors if a.startswith(prefix)]
                return Completion(values=found[:100], total=len(found), has_more=len(found) > 100)
            prefix = getattr(argument, "value", "") or ""
            names = [n for n in titles if n.startswith(prefix)]
            return Completion(values=names, total=len(names), has_more=False)
        return None
