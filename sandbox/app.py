"""The ASGI app: every request goes product -> count -> signature -> fault -> route, and always answers JSON."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute

from ack_compute.sandbox.bss import urls as bss_urls
from ack_compute.sandbox.cs import urls as cs_urls
from ack_compute.sandbox.eci import urls as eci_urls
from ack_compute.sandbox.ecs import urls as ecs_urls
from ack_compute.sandbox.errors import ApiError, internal_error, invalid_version, missing_parameter, new_request_id
from ack_compute.sandbox.products import ApiStyle, product_for_version
from ack_compute.sandbox.router import ApiRequest, Router
from ack_compute.sandbox.signature import SignedRequest, verify_signature
from ack_compute.sandbox.state import SandboxState
from ack_compute.sandbox.vpc import urls as vpc_urls

log = logging.getLogger("ack_compute.sandbox")

# One Route list per product package (moto's urls.py): the router takes them all.
ROUTE_MODULES = (ecs_urls, eci_urls, vpc_urls, cs_urls, bss_urls)
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]


def build_app(state: SandboxState) -> Starlette:
    router = Router(route for module in ROUTE_MODULES for route in module.ROUTES)

    async def endpoint(request: Request) -> Response:
        return await _dispatch(request, state, router)

    return Starlette(routes=[StarletteRoute("/{path:path}", endpoint, methods=METHODS)])


async def _dispatch(request: Request, state: SandboxState, router: Router) -> Response:
    request_id = new_request_id()
    product = product_for_version(request.headers.get("x-acs-version"))
    style = product.style if product else ApiStyle.RPC
    action = request.headers.get("x-acs-action") or request.query_params.get("Action") or ""
    host = request.headers.get("host", "")
    try:
        if not action:
            raise missing_parameter("Action")
        state.counter.add(action)
        if product is None:
            raise invalid_version()
        body = await request.body()
        if state.verify_signatures:
            verify_signature(_signed_request(request, body), state.credentials, state.nonces, datetime.now(UTC))
        token = _client_token(style, action, request, body)
        entered = state.tokens.enter(action, token)  # a repeat while the first is still processing is refused
        try:
            fault = state.faults.take(action)
            if fault is not None:
                await fault.apply()
            route, path_params = router.resolve(product, action, request.method, request.url.path)
            call = ApiRequest(product, action, request_id, dict(request.query_params), path_params, body)
            reply = route.handler(call, state)
        finally:
            if entered:
                state.tokens.leave(action, token)
    except ApiError as error:
        log.debug("%s %s -> %d %s", product, action, error.status, error.code)
        return _json(error.body(style, request_id, host), error.status, request_id, error.headers)
    except Exception:
        log.exception("sandbox route %s %s failed", product, action)
        error = internal_error()
        return _json(error.body(style, request_id, host), error.status, request_id)
    if style is ApiStyle.RPC:
        reply = {"RequestId": request_id, **reply}
    log.debug("%s %s -> %d", product, action, route.status)
    return _json(reply, route.status, request_id)


def _client_token(style: ApiStyle, action: str, request: Request, body: bytes) -> str | None:
    """The ClientToken of a create: `ClientToken` among an RPC call's parameters, `client_token` in a ROA body."""
    if not action.startswith("Create"):
        return None
    if style is ApiStyle.RPC:
        return request.query_params.get("ClientToken") or None
    try:
        data = json.loads(body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    token = data.get("client_token") if isinstance(data, dict) else None
    return str(token) if token else None


def _signed_request(request: Request, body: bytes) -> SignedRequest:
    return SignedRequest(
        method=request.method,
        raw_path=request.scope["raw_path"].decode("latin-1"),
        raw_query=request.scope["query_string"].decode("latin-1"),
        headers=[(key.decode("latin-1").lower(), value.decode("latin-1")) for key, value in request.scope["headers"]],
        body=body,
    )


def _json(content: Any, status: int, request_id: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(content, status_code=status, headers={"x-acs-request-id": request_id, **(headers or {})})
