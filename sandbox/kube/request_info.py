"""What a request asks for, parsed like the apiserver's RequestInfoFactory, so authorization sees the same
verb, resource, namespace and name as on a real cluster."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from ack_compute.sandbox.kube.rbac import Attributes

_NAMESPACE_SUBRESOURCES = {"status", "finalize"}
_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True)
class RequestInfo(Attributes):
    """Attributes plus what routing needs beyond them."""

    api_prefix: str = ""
    # The name a list/watch is authorized for (from fieldSelector metadata.name=X); routing ignores it.
    selected_name: str = ""
    extra_parts: int = 0
    legacy_watch: bool = False

    def attributes(self) -> Attributes:
        """What authorization sees: a list/watch narrowed to one name asks for that name."""
        asked = {field.name: getattr(self, field.name) for field in fields(Attributes)}
        return Attributes(**{**asked, "name": self.name or self.selected_name})


def is_watch(query: Mapping[str, str]) -> bool:
    value = query.get("watch")
    return value is not None and value.lower() not in ("false", "0", "f")


def parse_request(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    parts = [part for part in path.strip("/").split("/") if part] if path.strip("/") else []
    verb = _VERBS.get(method, method.lower())
    if len(parts) < 2 or parts[0] not in ("api", "apis") or (parts[0] == "apis" and len(parts) < 3):
        return RequestInfo(path=path or "/", verb=verb, resource_request=False)
    if parts[0] == "api":
        prefix, group, version, rest = "api", "", parts[1], parts[2:]
    else:
        prefix, group, version, rest = "apis", parts[1], parts[2], parts[3:]
    if not rest:
        return RequestInfo(path=path, verb=verb, resource_request=False)
    legacy_watch = False
    if rest[0] == "watch" and method in ("GET", "HEAD"):
        legacy_watch, verb, rest = True, "watch", rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name and verb == "delete":
        verb = "deletecollection"
    if not name and verb == "get":
        verb = "watch" if is_watch(query) else "list"
    selected_name = _exact_name(query.get("fieldSelector") or "") if not name and verb in ("list", "watch") else ""
    return RequestInfo(
        path=path,
        verb=verb,
        resource_request=True,
        api_prefix=prefix,
        group=group,
        version=version,
        namespace=namespace,
        resource=resource,
        subresource=subresource,
        name=name,
        selected_name=selected_name,
        extra_parts=max(0, len(rest) - 3),
        legacy_watch=legacy_watch,
    )


def _exact_name(selector: str) -> str:
    """A list/watch with fieldSelector metadata.name=X is authorized as a request for X."""
    names = []
    for term in selector.split(","):
        for operator in ("==", "="):
            if term.startswith("metadata.name" + operator) and "!" not in term:
                names.append(term[len("metadata.name" + operator) :])
                break
    if len(names) == 1 and names[0] and names[0] not in (".", "..") and "/" not in names[0] and "%" not in names[0]:
        return names[0]
    return ""
