"""Several replicas behind one load balancer: what lets any replica answer any request, and what does not.

A client of MCP 2026-07-28 sends each request on its own (no `initialize`, no `Mcp-Session-Id`); the SDK serves it
whole in one exchange, whatever `stateless_http` says (mcp/server/streamable_http_manager.py routes on the
MCP-Protocol-Version header to mcp/server/_streamable_http_modern.py). Everything a request needs is in the request
or in the shared ledger, except one thing: a multi-round-trip call (the cost question, server/consent.py) carries its
progress in a sealed `requestState` that the client echoes on the answer round. The SDK seals it under a key made
up by each process unless told otherwise (mcp/server/request_state.py, RequestStateSecurity.ephemeral), and any
other replica then refuses the answer round ("Invalid or expired requestState"). So it is sealed here under a key
derived from the quote secret, which replicas share anyway (they must, to honour each other's quotes).

A client of the 2025 handshake holds a session in one replica's memory: the SDK's transport, the call waiting for
its pushed elicitation's answer. No event store moves that to another replica (an event store only replays a
dropped SSE stream on the replica that holds the session), so such clients need the load balancer to keep them on
one replica (README, "Several replicas behind a load balancer"). A replica that does not know the session answers
404 as the SDK and the spec say (the client must initialize again); `UnknownSessionNotice` words that answer so
the person and the operator both learn why.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mcp.server.request_state import RequestStateSecurity
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ack_compute.server.runtime import Runtime

log = logging.getLogger("ack_compute.server")

REQUEST_STATE_PURPOSE = "mcp-request-state/v1"
SESSION_HEADER = b"mcp-session-id"
SDK_UNKNOWN_SESSION = "Session not found"  # mcp/server/streamable_http_manager.py, its 404 for an unknown session id
UNKNOWN_SESSION = (
    "Session not found on this server replica: it expired, or it was opened on another replica. Start a new "
    "session (initialize again). Behind a load balancer, clients of the 2025 MCP protocol need sticky sessions; "
    "clients of MCP 2026-07-28 need none."
)


def request_state_security(runtime: Runtime) -> RequestStateSecurity:
    """The sealing of `requestState` every replica shares. It lives as long as a quote (at least the SDK's 10
    minutes): a person may take that long to answer the cost question, and after it the quote is gone anyway."""
    ttl = float(max(600, runtime.settings.quote_ttl_seconds))
    return RequestStateSecurity(keys=[runtime.quotes.derived_key(REQUEST_STATE_PURPOSE)], ttl=ttl)


class UnknownSessionNotice:
    """ASGI wrapper: the SDK's 404 "Session not found" said in words that name the likely cause (a load balancer
    that is not sticky) and the fix, and logged as a warning so the operator sees it too. Nothing else changes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not any(k == SESSION_HEADER for k, _ in scope.get("headers", ())):
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def relay(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 404:
                held.append(message)
                return
            if not held:
                await send(message)
                return
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                for out in _reworded(held, scope):
                    await send(out)

        await self.app(scope, receive, relay)


def _reworded(held: list[Message], scope: Scope) -> list[Message]:
    """The held 404 as it was, or with the SDK's "Session not found" reworded (and a warning logged)."""
    start, bodies = held[0], held[1:]
    raw = b"".join(m.get("body", b"") for m in bodies)
    try:
        reply: Any = json.loads(raw)
        unknown = reply["error"]["message"] == SDK_UNKNOWN_SESSION
    except (ValueError, KeyError, TypeError):
        unknown = False
    if not unknown:
        return held
    log.warning(
        "%s %s for a session this replica does not know (expired, or opened on another replica: is the load "
        "balancer sticky for 2025-protocol clients?)",
        scope.get("method", ""),
        scope.get("path", ""),
    )
    reply["error"]["message"] = UNKNOWN_SESSION
    body = json.dumps(reply, separators=(",", ":")).encode()
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    return [{**start, "headers": headers}, {"type": "http.response.body", "body": body, "more_body": False}]
