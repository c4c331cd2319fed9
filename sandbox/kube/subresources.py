"""Subresources as the kind registry carries them: a Kind lists `Subresource(name, kind, verbs, handler)`, and the
HTTP layer checks the verb and hands the call to the handler, so a new subresource needs no change to api.py.

`status` is every kind's own (the apiserver's generic StatusREST) and has no handler; `scale`, `log`, `binding` and
`finalize` bring theirs (scale.py, pod_log.py, pods.py, namespaces.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ack_compute.sandbox.kube.status import bad_request, unsupported_media_type

if TYPE_CHECKING:
    from ack_compute.sandbox.kube.cluster import KubeCluster
    from ack_compute.sandbox.kube.context import WriteContext
    from ack_compute.sandbox.kube.registry import Kind

# The verb a method asks for on a subresource (RequestInfo's mapping for named resources).
VERB_OF_METHOD = {"GET": "get", "PUT": "update", "PATCH": "patch", "POST": "create"}


@dataclass(frozen=True)
class SubresourceCall:
    """One request to `{resource}/{name}/{subresource}`, as the handler needs it."""

    cluster: KubeCluster
    kind: Kind
    namespace: str
    name: str
    method: str
    body: bytes
    content_type: str
    query: Mapping[str, str]
    ctx: WriteContext

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun") == "All"


# A handler answers with (a JSON body, its status code), or with a ready response (a streamed log).
SubresourceHandler = Callable[[SubresourceCall], Awaitable[Any]]


class Subresource(NamedTuple):
    """One subresource as discovery lists it: (name, kind, verbs), plus the handler that serves it."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    handler: SubresourceHandler | None = None


def decode_json(body: bytes, content_type: str, expected: str = "object") -> Any:
    """A JSON request body, with the apiserver's errors for another media type or a body that does not parse."""
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media and media not in ("application/json", "application/yaml", "*/*"):
        raise unsupported_media_type()
    try:
        return json.loads(body or b"{}")
    except ValueError as error:
        snippet = body[:50].decode("utf-8", "replace")
        raise bad_request(
            f"the object provided is unrecognized (must be of type {expected}): couldn't get version/kind; "
            f"json parse error: {error.args[0] if error.args else error} ({snippet})"
        ) from None
