"""A loopback HTTP forwarder between the product's SDK clients and the sandbox that records every exchange.

The SDK signs the `host` header with the endpoint it was given (the proxy's), and the proxy forwards every header
unchanged, so the sandbox verifies the very request the product sent. Nothing is rewritten: what is recorded is
what would have gone to Alibaba.
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# Hop-by-hop headers are the connection's, not the request's (RFC 9110 7.6.1).
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass(frozen=True)
class Exchange:
    """One request as sent and the sandbox's answer."""

    version: str
    action: str
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    status: int
    response: bytes

    def json_body(self) -> Any:
        return json.loads(self.body) if self.body else None

    def json_response(self) -> Any:
        return json.loads(self.response) if self.response else None


@dataclass
class RecordingProxy:
    """Forwards to `upstream` (host:port); `endpoint` is what the product is told to call."""

    upstream: str
    exchanges: list[Exchange] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def actions(self) -> list[str]:
        with self._lock:
            return [e.action for e in self.exchanges]

    def start(self) -> RecordingProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                connection = http.client.HTTPConnection(proxy.upstream, timeout=120)
                try:
                    connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for key, value in headers.items():
                        connection.putheader(key, value)
                    connection.endheaders(body or None)
                    answer = connection.getresponse()
                    payload = answer.read()
                    reply_headers = [(k, v) for k, v in answer.getheaders() if k.lower() not in _HOP]
                    status = answer.status
                finally:
                    connection.close()
                url = urlsplit(self.path)
                query = dict(parse_qsl(url.query, keep_blank_values=True))
                exchange = Exchange(
                    version=self.headers.get("x-acs-version", ""),
                    action=self.headers.get("x-acs-action") or query.get("Action", ""),
                    method=self.command,
                    path=url.path,
                    query=query,
                    body=body,
                    status=status,
                    response=payload,
                )
                with proxy._lock:
                    proxy.exchanges.append(exchange)
                self.send_response(status)
                for key, value in reply_headers:
                    if key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _forward

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="recording-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
