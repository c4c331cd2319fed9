"""The kubelet's Kubernetes API client: plain HTTP to the apiserver's REST paths, like any other client.

The sandbox speaks only HTTP (tests/test_architecture.py keeps SDKs out of it), so the kubelet does not use the
`kubernetes` package; it reaches the emulator and a real kube-apiserver through the same requests, which is
what lets the contract tests run one kubelet against both.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger("ack_compute.sandbox.kubelet")

# Kubelets write as `kubelet`: the apiserver names a client's managedFields entry after its user agent.
USER_AGENT = "kubelet/v1.20.2 (linux/amd64) ack-compute-sandbox"
REQUEST_TIMEOUT_SECONDS = 10.0


class ApiError(Exception):
    """A failed API call: `status` is the HTTP code (0 when the server could not be reached)."""

    def __init__(self, status: int, message: str, reason: str = "", body: Any = None) -> None:
        super().__init__(f"{status} {reason}: {message}" if reason else f"{status}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


@dataclass(frozen=True)
class ApiEndpoint:
    """Where an apiserver answers and how to authenticate to it."""

    server: str
    token: str | None = None
    ca_file: str | None = None
    ca_data: str | None = None  # base64 PEM, as in a kubeconfig's certificate-authority-data
    insecure: bool = False

    @classmethod
    def coerce(cls, source: Any) -> ApiEndpoint:
        """An endpoint from itself, a kubeconfig dict, or a `kubernetes.client.ApiClient` (read, not imported)."""
        if isinstance(source, ApiEndpoint):
            return source
        if isinstance(source, Mapping):
            return cls.from_kubeconfig(source)
        configuration = getattr(source, "configuration", None)
        if configuration is not None and getattr(configuration, "host", None):
            return cls.from_client_configuration(configuration)
        raise TypeError(f"cannot reach a Kubernetes API through {type(source).__name__}")

    @classmethod
    def from_client_configuration(cls, configuration: Any) -> ApiEndpoint:
        token = None
        for value in (getattr(configuration, "api_key", None) or {}).values():
            if isinstance(value, str) and value.lower().startswith("bearer "):
                token = value[7:].strip()
        return cls(
            server=str(configuration.host).rstrip("/"),
            token=token,
            ca_file=getattr(configuration, "ssl_ca_cert", None),
            insecure=not getattr(configuration, "verify_ssl", True),
        )

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Mapping[str, Any]) -> ApiEndpoint:
        contexts = {c["name"]: c.get("context") or {} for c in kubeconfig.get("contexts") or []}
        context = contexts.get(kubeconfig.get("current-context") or "") or next(iter(contexts.values()), {})
        clusters = {c["name"]: c.get("cluster") or {} for c in kubeconfig.get("clusters") or []}
        users = {u["name"]: u.get("user") or {} for u in kubeconfig.get("users") or []}
        cluster = clusters.get(context.get("cluster") or "") or next(iter(clusters.values()), {})
        user = users.get(context.get("user") or "") or next(iter(users.values()), {})
        return cls(
            server=str(cluster["server"]).rstrip("/"),
            token=user.get("token"),
            ca_file=cluster.get("certificate-authority"),
            ca_data=cluster.get("certificate-authority-data"),
            insecure=bool(cluster.get("insecure-skip-tls-verify")),
        )

    def verify(self) -> bool | ssl.SSLContext:
        if self.insecure or not self.server.startswith("https"):
            return False
        if self.ca_data:
            return ssl.create_default_context(cadata=base64.b64decode(self.ca_data).decode())
        if self.ca_file:
            return ssl.create_default_context(cafile=self.ca_file)
        return True


class KubeApi:
    """Synchronous JSON calls to one apiserver; safe to share between threads."""

    def __init__(self, endpoint: ApiEndpoint, *, timeout: float = REQUEST_TIMEOUT_SECONDS) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if endpoint.token:
            headers["Authorization"] = f"Bearer {endpoint.token}"
        self._client = httpx.Client(
            base_url=endpoint.server,
            headers=headers,
            verify=endpoint.verify(),
            timeout=timeout,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=8),
            trust_env=False,
        )

    def close(self) -> None:
        self._client.close()

    def set_token(self, token: str) -> None:
        """Authenticate with a new bearer token from now on (the old one was revoked)."""
        self._client.headers["Authorization"] = f"Bearer {token}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        headers = {"Content-Type": content_type} if body is not None else {}
        content = json.dumps(body).encode() if body is not None else None
        try:
            response = self._client.request(method, path, params=params, content=content, headers=headers)
        except httpx.HTTPError as error:
            raise ApiError(0, f"{method} {path}: {error}") from error
        if response.status_code >= 400:
            raise _error(response.status_code, response.content)
        if not response.content:
            return {}
        return json.loads(response.content)

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.request("GET", path, params=params or None)

    def create(self, path: str, body: Any) -> dict[str, Any]:
        return self.request("POST", path, body=body)

    def replace(self, path: str, body: Any) -> dict[str, Any]:
        return self.request("PUT", path, body=body)

    def merge_patch(self, path: str, body: Any) -> dict[str, Any]:
        return self.request("PATCH", path, body=body, content_type="application/merge-patch+json")

    def delete(self, path: str, body: Any = None) -> dict[str, Any]:
        return self.request("DELETE", path, body=body)

    def watch(self, path: str, params: Mapping[str, Any], read_timeout: float) -> WatchStream:
        return WatchStream(self._client, path, params, read_timeout)


class WatchStream:
    """One watch request whose JSON lines are read on one thread and which `abort()` ends from any other."""

    def __init__(self, client: httpx.Client, path: str, params: Mapping[str, Any], read_timeout: float) -> None:
        self._client = client
        self._path = path
        self._params = dict(params)
        self._timeout = httpx.Timeout(REQUEST_TIMEOUT_SECONDS, read=read_timeout)
        self._lock = threading.Lock()
        self._response: httpx.Response | None = None
        self._aborted = False

    def events(self) -> Iterator[dict[str, Any]]:
        request = self._client.build_request("GET", self._path, params=self._params, timeout=self._timeout)
        try:
            response = self._client.send(request, stream=True)
        except httpx.HTTPError as error:
            raise ApiError(0, f"watch {self._path}: {error}") from error
        with self._lock:
            self._response = response
            aborted = self._aborted
        try:
            if aborted:
                return
            if response.status_code >= 400:
                raise _error(response.status_code, response.read())
            for line in response.iter_lines():
                if line.strip():
                    yield json.loads(line)
        except httpx.HTTPError as error:
            if not self._aborted:
                raise ApiError(0, f"watch {self._path}: {error}") from error
        finally:
            response.close()

    def abort(self) -> None:
        """Unblock the reading thread: shut the connection's socket down under it."""
        with self._lock:
            self._aborted = True
            response = self._response
        if response is None:
            return
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _error(status: int, content: bytes) -> ApiError:
    try:
        body = json.loads(content)
    except ValueError:
        body = content.decode(errors="replace")
    if isinstance(body, dict):
        return ApiError(status, str(body.get("message") or ""), str(body.get("reason") or ""), body)
    return ApiError(status, str(body))
