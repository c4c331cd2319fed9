"""One cluster's HTTP API: authenticate, authorize, route and answer like kube-apiserver's handler chain."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from ack_compute.sandbox.kube import discovery
from ack_compute.sandbox.kube.auth import ANONYMOUS, UserInfo
from ack_compute.sandbox.kube.context import WriteContext
from ack_compute.sandbox.kube.managed_fields import manager_from_user_agent
from ack_compute.sandbox.kube.objects import DeleteOptions
from ack_compute.sandbox.kube.patch import APPLY_PATCH, PATCH_TYPES, apply_patch, invalid_patch_body
from ack_compute.sandbox.kube.rbac import authorize, forbidden_message
from ack_compute.sandbox.kube.registry import Kind
from ack_compute.sandbox.kube.request_info import RequestInfo, parse_request
from ack_compute.sandbox.kube.selectors import SelectorError, parse_field_selector, parse_label_selector
from ack_compute.sandbox.kube.status import (
    GroupResource,
    StatusError,
    bad_request,
    forbidden_request,
    internal_error,
    method_not_allowed,
    not_acceptable,
    resource_not_found,
    too_large_resource_version,
    unauthorized,
    unsupported_media_type,
)
from ack_compute.sandbox.kube.subresources import VERB_OF_METHOD, Subresource, SubresourceCall, decode_json
from ack_compute.sandbox.kube.tls import client_certificate
from ack_compute.sandbox.kube.watch import WatchRequest, WatchStream

if TYPE_CHECKING:
    from ack_compute.sandbox.kube.cluster import KubeCluster

log = logging.getLogger("ack_compute.sandbox.kube")

MIN_REQUEST_TIMEOUT_SECONDS = 1800
TOO_LARGE_RV_WAIT_SECONDS = 3.0
_ACCEPTABLE = ("application/json", "application/*", "*/*", "application/yaml", "application/vnd.kubernetes.protobuf")
_PUBLIC_TEXT_PATHS = ("/healthz", "/livez", "/readyz")


def json_response(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)


def error_response(error: StatusError) -> Response:
    return JSONResponse(error.status(), status_code=error.code, headers=error.headers)


class ClusterApi:
    """Serves one cluster's requests; the hub strips the `/clusters/{id}` prefix before calling it."""

    def __init__(self, cluster: KubeCluster) -> None:
        self.cluster = cluster

    async def handle(self, request: Request, path: str) -> Response:
        body = await request.body()
        if not await self.cluster.wait_responsive(request):
            return Response(status_code=499)  # nobody is listening any more
        try:
            user = self._authenticate(request)
            info = parse_request(request.method, path, request.query_params)
            decision = authorize(user, info.attributes())
            if not decision.allowed:
                raise self._forbidden(user, info, decision.reason)
            if not _acceptable(request.headers.get("accept", "")):
                raise not_acceptable()
            if not info.resource_request:
                return self._non_resource(request, info)
            return await self._resource(request, info, user, body)
        except StatusError as error:
            return error_response(error)
        except Exception as error:
            log.exception("kube emulator request %s %s failed", request.method, path)
            return error_response(internal_error(str(error)))

    def _authenticate(self, request: Request) -> UserInfo:
        """kube-apiserver's order: a client certificate, then a bearer token, else anonymous. A certificate
        that is not this cluster CA's, expired or revoked is a 401 unless a good token comes with it."""
        presented = client_certificate(request.scope)
        if presented is not None:
            user = self.cluster.authority.authenticate(presented)
            if user is not None:
                return user
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            if presented is not None:
                raise unauthorized()
            return ANONYMOUS
        user = self.cluster.tokens.authenticate(token.strip())
        if user is None:
            raise unauthorized()
        return user

    @staticmethod
    def _forbidden(user: UserInfo, info: RequestInfo, reason: str) -> StatusError:
        message = forbidden_message(user, info.attributes())
        if reason:
            message = f"{message}: {reason}"
        if not info.resource_request:
            return forbidden_request(None, "", message)
        return forbidden_request(GroupResource(info.group, info.resource), info.name or info.selected_name, message)

    # --- discovery and health ----------------------------------------------------------------------------

    def _non_resource(self, request: Request, info: RequestInfo) -> Response:
        cluster = self.cluster
        registry = cluster.registry
        path = "/" + info.path.strip("/")
        parts = [p for p in path.split("/") if p]
        if request.method not in ("GET", "HEAD"):
            if parts and parts[0] in ("api", "apis"):
                raise method_not_allowed()
            return PlainTextResponse("404 page not found\n", status_code=404)
        if path == "/":
            return json_response(discovery.root_paths(registry))
        if path == "/version":
            return json_response(discovery.version_info(cluster.version, cluster.git_version))
        if path in _PUBLIC_TEXT_PATHS:
            return PlainTextResponse("ok")
        if parts == ["api"]:
            return json_response(discovery.api_versions(cluster.server_address))
        if parts == ["apis"]:
            return json_response(discovery.api_group_list(registry))
        if len(parts) == 2 and parts[0] == "api":
            found = discovery.api_resource_list(registry, "", parts[1])
            if found is None:
                raise resource_not_found()
            return json_response(found)
        if len(parts) == 2 and parts[0] == "apis":
            group = discovery.api_group(registry, parts[1])
            if group is None:
                return PlainTextResponse("404 page not found\n", status_code=404)
            return json_response(group)
        if len(parts) == 3 and parts[0] == "apis":
            found = discovery.api_resource_list(registry, parts[1], parts[2])
            if found is None:
                return PlainTextResponse("404 page not found\n", status_code=404)
            return json_response(found)
        return json_response(discovery.root_paths(registry), 404)

    # --- resources ---------------------------------------------------------------------------------------

    async def _resource(self, request: Request, info: RequestInfo, user: UserInfo, body: bytes) -> Response:
        registry = self.cluster.registry
        if info.api_prefix == "apis" and not registry.has_group_version(info.group, info.version):
            return PlainTextResponse("404 page not found\n", status_code=404)
        kind = registry.lookup(info.group, info.version, info.resource)
        if (
            kind is None
            or info.extra_parts
            or (info.namespace and not kind.namespaced and info.resource != "namespaces")
        ):
            raise resource_not_found()
        if kind.namespaced and info.name and not info.namespace:
            raise resource_not_found()
        sub = kind.subresource(info.subresource) if info.subresource else None
        if info.subresource and sub is None:
            raise resource_not_found()
        if info.legacy_watch and info.verb != "watch":
            raise resource_not_found()
        query = request.query_params
        ctx = WriteContext(
            self.cluster.store,
            registry,
            self.cluster.version,
            user,
            query.get("fieldManager") or manager_from_user_agent(request.headers.get("user-agent", "")),
            datetime.now(UTC),
        )
        namespace = info.namespace if kind.namespaced else ""
        method = request.method
        if sub is not None:
            return await self._subresource(request, info, kind, sub, ctx, body)
        if not info.name:
            if method == "GET" and info.verb == "watch" and "watch" in kind.verbs:
                return self._watch(kind, info.namespace or None, query)
            if method == "GET" and "list" in kind.verbs:
                return await self._list(kind, info.namespace or None, query)
            if method == "POST" and "create" in kind.verbs and (info.namespace or not kind.namespaced):
                created = self.cluster.objects.create(
                    kind, namespace, _decode_json(body, kind, request), ctx, dry_run=_dry_run(query)
                )
                return json_response(created, 201)
            if method == "DELETE" and "deletecollection" in kind.verbs and (info.namespace or not kind.namespaced):
                labels, fields = _selectors(kind, query)
                page = self.cluster.objects.delete_collection(
                    kind, info.namespace or None, labels, fields, _delete_options(query, body), ctx
                )
                return json_response(_list_body(kind, page.items, page.resource_version))
            raise method_not_allowed()
        if method == "GET" and info.verb == "watch":
            return self._watch(kind, info.namespace or None, query, name=info.name)
        if method == "GET" and "get" in kind.verbs:
            return json_response(self.cluster.objects.get(kind, namespace, info.name))
        if method == "PUT" and "update" in kind.verbs:
            obj = _decode_json(body, kind, request)
            updated = self.cluster.objects.update(kind, namespace, info.name, obj, ctx, dry_run=_dry_run(query))
            return json_response(updated)
        if method == "PATCH" and "patch" in kind.verbs:
            return json_response(self._patch(request, kind, namespace, info.name, "", ctx, body))
        if method == "DELETE" and "delete" in kind.verbs:
            result, gone = self.cluster.objects.delete(kind, namespace, info.name, _delete_options(query, body), ctx)
            options = _delete_options(query, body)
            accepted = not gone and options.orphan_dependents is False
            return json_response(result, 202 if accepted else 200)
        raise method_not_allowed()

    async def _subresource(
        self, request: Request, info: RequestInfo, kind: Kind, sub: Subresource, ctx: WriteContext, body: bytes
    ) -> Response:
        """`status` is every kind's (StatusREST); any other subresource is served by the handler its Kind carries."""
        namespace = info.namespace if kind.namespaced else ""
        method = request.method
        if VERB_OF_METHOD.get(method) not in sub[2]:
            raise method_not_allowed()
        if sub[0] == "status":
            objects = self.cluster.objects
            if method == "GET":
                return json_response(objects.get(kind, namespace, info.name))
            if method == "PUT":
                obj = _decode_json(body, kind, request)
                updated = objects.update(
                    kind, namespace, info.name, obj, ctx, subresource="status", dry_run=_dry_run(request.query_params)
                )
                return json_response(updated)
            return json_response(self._patch(request, kind, namespace, info.name, "status", ctx, body))
        handler = sub.handler if isinstance(sub, Subresource) else None
        if handler is None:
            raise method_not_allowed()
        call = SubresourceCall(
            self.cluster,
            kind,
            namespace,
            info.name,
            method,
            body,
            request.headers.get("content-type", ""),
            request.query_params,
            ctx,
        )
        result = await handler(call)
        return result if isinstance(result, Response) else json_response(*result)

    def _patch(
        self, request: Request, kind: Kind, namespace: str, name: str, subresource: str, ctx: WriteContext, body: bytes
    ) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == APPLY_PATCH or content_type not in PATCH_TYPES:
            raise unsupported_media_type()
        try:
            patch = json.loads(body or b"null")
        except ValueError:
            raise invalid_patch_body() from None
        objects = self.cluster.objects
        current = objects.get(kind, namespace, name)
        patched = apply_patch(current, patch, content_type)
        return objects.update(
            kind,
            namespace,
            name,
            patched,
            ctx,
            subresource=subresource,
            dry_run=_dry_run(request.query_params),
            patched_from=current,
        )

    async def _list(self, kind: Kind, namespace: str | None, query: Mapping[str, str]) -> Response:
        labels, fields = _selectors(kind, query)
        rv = _resource_version(query.get("resourceVersion"))
        if rv:
            await self._wait_for_rv(rv)
        limit = _int_param(query.get("limit"), "limit") or 0
        page = self.cluster.objects.list(
            kind, namespace, labels=labels, fields=fields, limit=limit, continue_token=query.get("continue") or ""
        )
        body = _list_body(kind, page.items, page.resource_version)
        if page.continue_token:
            body["metadata"]["continue"] = page.continue_token
        if page.remaining is not None:
            body["metadata"]["remainingItemCount"] = page.remaining
        return json_response(body)

    async def _wait_for_rv(self, rv: int) -> None:
        """A list not older than a future resourceVersion waits up to 3 s for it, then times out."""
        deadline = time.monotonic() + TOO_LARGE_RV_WAIT_SECONDS
        store = self.cluster.store
        while store.resource_version < rv:
            if time.monotonic() >= deadline:
                raise too_large_resource_version(rv, store.resource_version)
            await asyncio.sleep(0.05)

    def _watch(self, kind: Kind, namespace: str | None, query: Mapping[str, str], name: str = "") -> Response:
        labels, fields = _selectors(kind, query)
        if name:
            fields = parse_field_selector(f"metadata.name={name}", kind.field_labels)
        rv = _resource_version(query.get("resourceVersion"))
        timeout = _int_param(query.get("timeoutSeconds"), "timeoutSeconds")
        if timeout is None or timeout <= 0:
            timeout = int(MIN_REQUEST_TIMEOUT_SECONDS * (1 + random.random()))
        bookmarks = (query.get("allowWatchBookmarks") or "").lower() in ("true", "1", "t")
        request = WatchRequest(kind, namespace, labels, fields, rv or None, float(timeout), bookmarks)
        stream = WatchStream(
            self.cluster.objects, request, self.cluster.version, self.cluster.wait_responsive, self.cluster.time_scale
        )
        return StreamingResponse(stream.events(), media_type="application/json")


def _acceptable(accept: str) -> bool:
    if not accept.strip():
        return True
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in _ACCEPTABLE or media.startswith("application/json"):
            return True
    return False


def _decode_json(body: bytes, kind: Kind | None, request: Request) -> Any:
    return decode_json(body, request.headers.get("content-type", "application/json"), kind.kind if kind else "object")


def _selectors(kind: Kind, query: Mapping[str, str]) -> tuple[Any, Any]:
    try:
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), kind.field_labels)
    except SelectorError as error:
        raise bad_request(str(error)) from None
    return labels, fields


def _resource_version(value: str | None) -> int:
    if not value:
        return 0
    if not value.isdigit():
        raise StatusError(
            500,
            "",
            f'resourceVersion: Invalid value: "{value}": strconv.ParseUint: parsing "{value}": invalid syntax',
        )
    return int(value)


def _int_param(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(
            f'{name}: Invalid value: "{value}": strconv.ParseInt: parsing "{value}": invalid syntax'
        ) from None


def _dry_run(query: Mapping[str, str]) -> bool:
    return query.get("dryRun") == "All"


def _delete_options(query: Mapping[str, str], body: bytes) -> DeleteOptions:
    data: dict[str, Any] = {}
    if body.strip():
        try:
            parsed = json.loads(body)
        except ValueError as error:
            raise bad_request(f"error decoding DeleteOptions: {error}") from None
        if isinstance(parsed, dict):
            data = parsed
    preconditions = data.get("preconditions") or {}
    grace = data.get("gracePeriodSeconds")
    if query.get("gracePeriodSeconds") not in (None, ""):
        grace = _int_param(query.get("gracePeriodSeconds"), "gracePeriodSeconds")
    orphan = data.get("orphanDependents")
    if query.get("orphanDependents") not in (None, ""):
        orphan = (query.get("orphanDependents") or "").lower() in ("true", "1", "t")
    dry_run = data.get("dryRun") == ["All"] or query.get("dryRun") == "All"
    return DeleteOptions(
        grace_period_seconds=grace,
        propagation_policy=query.get("propagationPolicy") or data.get("propagationPolicy"),
        orphan_dependents=orphan,
        uid=preconditions.get("uid"),
        resource_version=preconditions.get("resourceVersion"),
        dry_run=dry_run,
    )


def _list_body(kind: Kind, items: list[dict[str, Any]], rv: int) -> dict[str, Any]:
    """Lists carry their items without kind and apiVersion, like the apiserver's encoder writes them."""
    stripped = [{k: v for k, v in item.items() if k not in ("kind", "apiVersion")} for item in items]
    return {
        "kind": kind.list_kind,
        "apiVersion": kind.api_version,
        "metadata": {"resourceVersion": str(rv)},
        "items": stripped,
    }
