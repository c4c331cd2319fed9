"""A loopback round-robin HTTP proxy in front of `serve --http` replicas, for bench_replicas.py.

Run: python bench/rr_proxy.py --port P [--affinity sticky|none] http://127.0.0.1:A http://127.0.0.1:B ...

Each request goes to the next replica in turn. With `--affinity sticky` (default) a request that carries an
`Mcp-Session-Id` goes to the replica that issued it (learnt from the response header): what a load balancer needs
for the stateful streamable HTTP sessions (sticky sessions). `--affinity none` spreads every request, as a
sessionless server allows. Bodies stream both ways (SSE responses included). GET /_proxy/stats answers the
requests sent to each replica, the answers' statuses and the proxy's own failures; listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

# RFC 9110 7.6.1 connection-specific fields, and the length the streaming response recomputes.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
SESSION = "mcp-session-id"


def build(backends: list[str], affinity: str) -> Starlette:
    turn = itertools.cycle(backends)
    owner: dict[str, str] = {}  # session id -> replica that issued it
    sent: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    statuses: Counter[str] = Counter()  # "METHOD status", e.g. "POST 404"
    client = httpx.AsyncClient(timeout=httpx.Timeout(300.0), limits=httpx.Limits(max_connections=1000))

    async def forward(request: Request) -> Response:
        session = request.headers.get(SESSION)
        backend = owner.get(session, "") if affinity == "sticky" and session else ""
        backend = backend or next(turn)
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        url = backend + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        upstream = client.build_request(request.method, url, headers=headers, content=await request.body())
        sent[backend] += 1
        try:
            response = await client.send(upstream, stream=True)
        except httpx.HTTPError as exc:
            failures[f"{backend}: {type(exc).__name__}"] += 1
            return JSONResponse({"error": f"proxy: {type(exc).__name__}"}, status_code=502)
        statuses[f"{request.method} {response.status_code}"] += 1
        issued = response.headers.get(SESSION)
        if issued:
            owner[issued] = backend
        if request.method == "DELETE" and session:
            owner.pop(session, None)
        out = [(k, v) for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP]
        return StreamingResponse(
            response.aiter_raw(),
            status_code=response.status_code,
            headers=dict(out),
            background=BackgroundTask(response.aclose),
        )

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(
            {"sent": dict(sent), "statuses": dict(statuses), "failures": dict(failures), "sessions": len(owner)}
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    methods = ["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"]
    return Starlette(
        routes=[Route("/_proxy/stats", stats, methods=["GET"]), Route("/{path:path}", forward, methods=methods)],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--affinity", choices=["sticky", "none"], default="sticky")
    parser.add_argument("backends", nargs="+", help="replica base URLs, e.g. http://127.0.0.1:8001")
    args = parser.parse_args()
    for b in args.backends:
        if not b.startswith("http://127.0.0.1:"):
            parser.error(f"loopback replicas only (http://127.0.0.1:PORT), got {b}")
    app = build([b.rstrip("/") for b in args.backends], args.affinity)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
