"""ledger://resources: what this server created or reused for the caller; ledger://spend: the caller's spend meter.
Both read-only."""

from __future__ import annotations

import json

from mcp.server import MCPServer

from ack_compute.server.runtime import Runtime
from ack_compute.tools.identity import current_caller


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

    @server.resource(
        "ledger://spend",
        name="spend",
        title="Your spend per day and month",
        mime_type="application/json",
        description=(
            "Your accrued spend per UTC day (last 31) and month (last 12) at the quoted prices, what your live leases "
            "still commit, and your budgets; read-only."
        ),
    )
    def ledger_spend() -> str:
        caller = current_caller()
        budget = runtime.quotes.budget()
        spend = runtime.quotes.meter.history(caller.subject)
        return json.dumps(
            {
                "caller": caller.label,
                **spend,
                "budgets": {
                    "currency": runtime.quotes.caps.currency,
                    **budget.model_dump(mode="json", exclude_none=True),
                },
            },
            ensure_ascii=False,
        )
