"""ledger://resources: what this server created or reused for the caller, read-only."""

from __future__ import annotations

import json

from mcp.server import MCPServer

from ack_compute.server.runtime import Runtime


def register_ledger(server: MCPServer, runtime: Runtime) -> None:
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
