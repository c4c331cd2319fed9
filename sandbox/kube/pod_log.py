"""`GET .../pods/{name}/log`: validated like the apiserver, then proxied to the node's kubelet.

The apiserver does not keep logs; it finds the pod's node, asks the kubelet at the node's InternalIP and
`daemonEndpoints.kubeletEndpoint.Port` for `/containerLogs/{ns}/{pod}/{container}`, and passes the answer on
(the kubelet's refusals become API errors through the same checker as kube-apiserver 1.20's).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import httpx
from starlette.responses import Response, StreamingResponse

from ack_compute.sandbox.kube.status import (
    StatusError,
    bad_request,
    forbidden,
    internal_error,
    invalid,
    invalid_object,
)

if TYPE_CHECKING:
    from ack_compute.sandbox.kube.subresources import SubresourceCall

# The kubelet addresses the sandbox's control plane prefers, in order (its kube-apiserver is started with
# --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname as ACK's are: node names do not resolve).
PREFERRED_ADDRESS_TYPES = ("InternalIP", "ExternalIP", "Hostname")
DEFAULT_KUBELET_PORT = 10250
_MAX_ERROR_BODY = 50000
_INT_OPTIONS = ("sinceSeconds", "tailLines", "limitBytes")
_BOOL_OPTIONS = ("follow", "previous", "timestamps", "insecureSkipTLSVerifyBackend")
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _options(query: Mapping[str, str]) -> dict[str, Any]:
    """PodLogOptions from the query, with the parameter codec's errors for what does not parse."""
    options: dict[str, Any] = {"container": query.get("container") or ""}
    for name in _INT_OPTIONS:
        text = query.get(name)
        if text is None or text == "":
            continue
        try:
            options[name] = int(text)
        except ValueError:
            raise bad_request(f'strconv.ParseInt: parsing "{text}": invalid syntax') from None
    for name in _BOOL_OPTIONS:
        text = query.get(name)
        if text is None or text == "":
            continue
        if text not in _TRUE and text not in _FALSE:
            raise bad_request(f'strconv.ParseBool: parsing "{text}": invalid syntax')
        options[name] = text in _TRUE
    since_time = query.get("sinceTime")
    if since_time:
        if not _TIME.match(since_time):
            raise bad_request(
                f'parsing time "{since_time}" as "2006-01-02T15:04:05Z07:00": cannot parse "{since_time}" as "2006"'
            )
        moment = datetime.fromisoformat(since_time.replace("Z", "+00:00"))
        options["sinceTime"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment.utcoffset() is not None else since_time
    return options


def _validate(name: str, options: Mapping[str, Any]) -> None:
    """ValidatePodLogOptions."""
    errors = []
    if options.get("tailLines") is not None and options["tailLines"] < 0:
        errors.append(invalid("tailLines", options["tailLines"], "must be greater than or equal to 0"))
    if options.get("limitBytes") is not None and options["limitBytes"] < 1:
        errors.append(invalid("limitBytes", options["limitBytes"], "must be greater than 0"))
    if options.get("sinceSeconds") is not None and options.get("sinceTime"):
        errors.append(forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
    elif options.get("sinceSeconds") is not None and options["sinceSeconds"] < 1:
        errors.append(invalid("sinceSeconds", options["sinceSeconds"], "must be greater than 0"))
    if errors:
        raise invalid_object("", "PodLogOptions", name, errors)


def _container(pod: Mapping[str, Any], wanted: str) -> str:
    """The container to read: the named one (init containers count), or the only one."""
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    containers = [c.get("name") or "" for c in spec.get("containers") or []]
    inits = [c.get("name") or "" for c in spec.get("initContainers") or []]
    if wanted:
        if wanted not in containers and wanted not in inits:
            raise bad_request(f"container {wanted} is not valid for pod {name}")
        return wanted
    if len(containers) == 1:
        return containers[0]
    message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
    if inits:
        message += f" or one of the init containers: [{' '.join(inits)}]"
    raise bad_request(message)


def _address(node: Mapping[str, Any]) -> str:
    addresses = (node.get("status") or {}).get("addresses") or []
    for kind in PREFERRED_ADDRESS_TYPES:
        for address in addresses:
            if address.get("type") == kind:
                return str(address.get("address") or "")
    known = " ".join(f"{{{a.get('type', '')} {a.get('address', '')}}}" for a in addresses)
    raise StatusError(500, "", f"no preferred addresses found; known addresses: [{known}]")


def kubelet_url(pod: Mapping[str, Any], node: Mapping[str, Any], container: str, options: Mapping[str, Any]) -> str:
    """LogLocation: where the node's kubelet serves this container's log (query keys sorted, as Go encodes)."""
    port = ((node.get("status") or {}).get("daemonEndpoints") or {}).get("kubeletEndpoint", {}).get("Port") or 0
    host = _address(node)
    params = {}
    for flag in ("follow", "previous", "timestamps"):
        if options.get(flag):
            params[flag] = "true"
    for key in ("sinceSeconds", "sinceTime", "tailLines", "limitBytes"):
        if options.get(key) is not None:
            params[key] = str(options[key])
    metadata = pod["metadata"]
    path = "/".join(quote(part, safe="") for part in (metadata["namespace"], metadata["name"], container))
    query = urlencode(sorted(params.items()))
    return f"http://{host}:{port if port > 0 else DEFAULT_KUBELET_PORT}/containerLogs/{path}" + (
        f"?{query}" if query else ""
    )


def _checked(status: int, body: str, name: str) -> StatusError:
    """GenericHttpResponseChecker: how the apiserver turns a kubelet's refusal into an API error."""
    if status == 500:
        return internal_error(body)
    if status == 400:
        return bad_request(body)
    generic = {
        404: ("NotFound", "the server could not find the requested resource"),
        401: ("Unauthorized", "the server has asked for the client to provide credentials"),
        403: ("Forbidden", body),
        409: ("Conflict", "the server reported a conflict"),
        405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
        422: ("Invalid", "the server rejected our request due to an error in our request"),
        429: ("TooManyRequests", "the server has received too many requests and has asked us to try again later"),
        504: (
            "Timeout",
            "the server was unable to return a response in the time allotted, but may still be processing the request",
        ),
    }
    reason, message = generic.get(
        status, ("", f"the server responded with the status code {status} but did not return more information")
    )
    if status not in generic and status >= 500:
        reason = "InternalError"
        message = f'an error on the server ("{body}") has prevented the request from succeeding'
    return StatusError(status, reason, f"{message} ( pods/log {name})", {"name": name, "kind": "pods/log"})


def _dial_error(url: str, error: httpx.HTTPError) -> StatusError:
    host = url.split("/", 3)[2]
    if isinstance(error, httpx.ConnectError):
        return StatusError(500, "", f'Get "{url}": dial tcp {host}: connect: connection refused')
    return StatusError(500, "", f'Get "{url}": {error}')


async def pod_log(
    name: str, query: Mapping[str, str], get_pod: Callable[[str], dict[str, Any]], get_node: Callable[[str], Any]
) -> Response:
    """The log subresource; `get_pod` and `get_node` read from storage (raising their NotFound)."""
    options = _options(query)
    _validate(name, options)
    pod = get_pod(name)
    container = _container(pod, options["container"])
    node_name = (pod.get("spec") or {}).get("nodeName") or ""
    if not node_name:
        return Response(status_code=204)  # not scheduled yet: no location, no content
    try:
        node = get_node(node_name)
    except StatusError as error:
        if error.code != 404:
            raise
        # The apiserver's node getter reports a missing node as a missing "pods" resource.
        raise StatusError(
            404, "NotFound", f'pods "{node_name}" not found', {"name": node_name, "kind": "pods"}
        ) from None
    url = kubelet_url(pod, node, container, options)
    client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None), trust_env=False)
    try:
        response = await client.send(client.build_request("GET", url), stream=True)
    except httpx.HTTPError as error:
        await client.aclose()
        raise _dial_error(url, error) from None
    if not 200 <= response.status_code <= 206:
        body = (await response.aread())[:_MAX_ERROR_BODY].decode(errors="replace")
        await response.aclose()
        await client.aclose()
        raise _checked(response.status_code, body, name)
    if not options.get("follow"):
        try:
            content = await response.aread()
        finally:
            await response.aclose()
            await client.aclose()
        return Response(content, headers={"Content-Type": "text/plain"})

    async def stream() -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_raw():
                yield chunk
        except httpx.HTTPError:
            return
        finally:
            await response.aclose()
            await client.aclose()

    return StreamingResponse(stream(), headers={"Content-Type": "text/plain"})


async def log_handler(call: SubresourceCall) -> Response:
    """The `pods/log` subresource as POD carries it: the pod and its node come from storage."""
    objects = call.cluster.objects
    nodes = call.cluster.registry.lookup("", "v1", "nodes")
    return await pod_log(
        call.name,
        call.query,
        lambda name: objects.get(call.kind, call.namespace, name),
        lambda name: objects.get(nodes, "", name),
    )
