"""A load balancer on loopback in front of several `serve --http` replicas, for tests and benches: a real HTTP
reverse proxy (streamed both ways, SSE included) that records where each request went.

Policies: `round_robin` sends each request to the next replica; `sticky` keeps a 2025-protocol session (the
`Mcp-Session-Id` a replica handed out) on the replica that opened it, like cookie or source-IP stickiness at a real
balancer; `elsewhere` sends every request of a session to a replica that did not open it (a balancer that is not
sticky, at its most unlucky).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import httpx
import uvicorn

Policy = Literal["round_robin", "sticky", "elsewhere"]
_HOP = {b"host", b"content-length", b"connection", b"transfer-encoding", b"keep-alive"}
SESSION = "mcp-session-id"


@dataclass(frozen=True)
class Routed:
    """One request as the balancer saw it."""

    replica: int
    http_method: str
    rpc_method: str  # "" for a GET or DELETE
    tool: str  # the tool a tools/call names
    session: str  # the Mcp-Session-Id it carried ("" for none)
    answers: bool  # a tools/call retry carrying inputResponses (the answer round of a multi-round-trip call)
    status: int


class Balancer:
    def __init__(self, upstreams: list[str], policy: Policy = "round_robin", port: int = 0) -> None:
        self.upstreams = upstreams  # base URLs, http://127.0.0.1:<port>
        self.policy = policy
        self.routed: list[Routed] = []
        self._turn = itertools.count()
        self._sessions: dict[str, int] = {}  # session id -> the replica that opened it
        self._lock = threading.Lock()
        self._client: httpx.AsyncClient | None = None
        config = uvicorn.Config(
            self._app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", interface="asgi3"
        )
        config.timeout_graceful_shutdown = 1
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="balancer", daemon=True)

    @property
    def url(self) -> str:
        (sock,) = self._server.servers[0].sockets
        return f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"

    def __enter__(self) -> Balancer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "the balancer did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def tool_calls(self, tool: str) -> list[Routed]:
        return [r for r in self.routed if r.tool == tool]

    def _choose(self, session: str) -> int:
        with self._lock:
            opened = self._sessions.get(session) if session else None
            if opened is not None and self.policy == "sticky":
                return opened
            if opened is not None and self.policy == "elsewhere":
                return (opened + 1) % len(self.upstreams)
            return next(self._turn) % len(self.upstreams)

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k, v) for k, v in scope["headers"] if k not in _HOP]
        session = next((v.decode() for k, v in headers if k == SESSION.encode()), "")
        replica = self._choose(session)
        if self._client is None:  # made on the balancer's own event loop
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None))
        query = f"?{scope['query_string'].decode()}" if scope.get("query_string") else ""
        request = self._client.build_request(
            scope["method"], f"{self.upstreams[replica]}{scope['path']}{query}", headers=headers, content=body
        )
        response = await self._client.send(request, stream=True)
        opened = response.headers.get(SESSION)
        if opened and not session:
            with self._lock:
                self._sessions[opened] = replica
        self.routed.append(_routed(replica, scope["method"], body, session, response.status_code))
        out = [(k.encode(), v.encode()) for k, v in response.headers.multi_items() if k.encode() not in _HOP]

        async def relay() -> None:
            await send({"type": "http.response.start", "status": response.status_code, "headers": out})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            tg.cancel_scope.cancel()

        async def until_gone() -> None:  # a client that hangs up (an SSE stream it closed) ends the upstream's too
            while (await receive())["type"] != "http.disconnect":
                pass
            tg.cancel_scope.cancel()

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(relay)
                tg.start_soon(until_gone)
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()


def _routed(replica: int, http_method: str, body: bytes, session: str, status: int) -> Routed:
    try:
        message = json.loads(body) if body else {}
    except ValueError:
        message = {}
    params = message.get("params") or {} if isinstance(message, dict) else {}
    return Routed(
        replica=replica,
        http_method=http_method,
        rpc_method=str(message.get("method", "")) if isinstance(message, dict) else "",
        tool=str(params.get("name", "")) if message.get("method") == "tools/call" else "",
        session=session,
        answers=bool(params.get("inputResponses")),
        status=status,
    )
