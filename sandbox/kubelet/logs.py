"""Container logs: a bounded file per container instance, and the kubelet's log endpoint that serves them.

The apiserver answers `GET .../pods/{name}/log` by proxying to `GET /containerLogs/{ns}/{pod}/{container}` on
the node's kubelet (https on a real control plane), so the LogServer speaks that protocol: the same query
options, plain-text bodies, and the kubelet's error texts, which the apiserver passes on to clients.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from ack_compute.sandbox.kubelet.polling import readable

log = logging.getLogger("ack_compute.sandbox.kubelet")

MAX_LOG_BYTES = 10 * 1024 * 1024
_MAX_PARTIAL = 16 * 1024  # like the CRI, a line longer than this is split into partial records
_FOLLOW_POLL_SECONDS = 0.5


def rfc3339_nano(ns: int) -> str:
    """Go's time.RFC3339Nano: nanoseconds with trailing zeros trimmed (and no dot when all are zero)."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{fraction:09d}".rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


@dataclass(frozen=True)
class LogOptions:
    """The subset of PodLogOptions a kubelet honours when it serves logs."""

    tail_lines: int | None = None
    limit_bytes: int | None = None
    timestamps: bool = False
    follow: bool = False
    previous: bool = False
    since_seconds: int | None = None
    since_time: str | None = None

    def since_ns(self) -> int | None:
        if self.since_seconds is not None:
            return time.time_ns() - self.since_seconds * 1_000_000_000
        if self.since_time:
            moment = datetime.fromisoformat(self.since_time.replace("Z", "+00:00"))
            return int(moment.timestamp() * 1_000_000_000)
        return None


@dataclass(frozen=True)
class _Record:
    ns: int
    full: bool
    content: bytes

    def render(self, timestamps: bool) -> bytes:
        text = self.content + (b"\n" if self.full else b"")
        return (rfc3339_nano(self.ns).encode() + b" " + text) if timestamps else text


class ContainerLog:
    """One container instance's output: appended by the runtime, read and followed by the log server.

    Records are kept as `<unix ns> <F|P> <bytes>` lines (like the CRI's files); past `max_bytes` the oldest half
    is dropped, so a chatty container cannot fill the disk.
    """

    def __init__(self, path: Path, *, max_bytes: int = MAX_LOG_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        self._cond = threading.Condition()
        self._partial = b""
        self._dropped = 0  # bytes removed from the front of the file so far
        self._size = 0
        self.closed = False

    # writing

    def write(self, data: bytes) -> None:
        with self._cond:
            if self.closed:
                return
            self._partial += data
            lines = self._partial.split(b"\n")
            self._partial = lines.pop()
            records = [(True, line) for line in lines]
            while len(self._partial) > _MAX_PARTIAL:
                records.append((False, self._partial[:_MAX_PARTIAL]))
                self._partial = self._partial[_MAX_PARTIAL:]
            self._append(records)

    def note(self, text: str) -> None:
        """A line from the sandbox itself (not from the container), e.g. why nothing ran."""
        self.write(text.encode() + (b"" if text.endswith("\n") else b"\n"))

    def close(self) -> None:
        """The instance ended: flush a last partial line and release followers."""
        with self._cond:
            if self.closed:
                return
            if self._partial:
                self._append([(False, self._partial)])
                self._partial = b""
            self.closed = True
            self._cond.notify_all()

    def _append(self, records: list[tuple[bool, bytes]]) -> None:
        if not records:
            return
        now = time.time_ns()
        blob = b"".join(f"{now} {'F' if full else 'P'} ".encode() + content + b"\n" for full, content in records)
        with self.path.open("ab") as handle:
            handle.write(blob)
        self._size += len(blob)
        if self._size > self.max_bytes:
            self._trim()
        self._cond.notify_all()

    def _trim(self) -> None:
        data = self.path.read_bytes()
        keep_from = len(data) - self.max_bytes // 2
        cut = data.find(b"\n", max(keep_from, 0))
        cut = len(data) if cut < 0 else cut + 1
        self.path.write_bytes(data[cut:])
        self._dropped += cut
        self._size = len(data) - cut

    # reading

    def _records_from(self, offset: int) -> tuple[list[_Record], int]:
        """Records at or after absolute `offset`, and the absolute offset after the last one."""
        start = max(offset - self._dropped, 0)
        with self.path.open("rb") as handle:
            handle.seek(start)
            data = handle.read()
        out: list[_Record] = []
        for line in data.split(b"\n")[:-1]:
            stamp, _, rest = line.partition(b" ")
            tag, _, content = rest.partition(b" ")
            out.append(_Record(int(stamp), tag == b"F", content))
        return out, self._dropped + start + len(data)

    def read(self, options: LogOptions) -> bytes:
        return b"".join(self.stream(options, threading.Event()))

    def stream(
        self, options: LogOptions, stop: threading.Event, connected: Callable[[], bool] | None = None
    ) -> Iterator[bytes]:
        """The log as the kubelet serves it: since, then tail, then (when following) what comes next until the
        instance ends, `stop` is set or the reader is no longer `connected`; `limit_bytes` caps the answer."""
        budget = options.limit_bytes
        since = options.since_ns()
        with self._cond:
            records, offset = self._records_from(0)
        if since is not None:
            records = [r for r in records if r.ns >= since]
        if options.tail_lines is not None:
            records = records[-options.tail_lines :] if options.tail_lines else []
        while True:
            for record in records:
                chunk = record.render(options.timestamps)
                if budget is not None:
                    chunk = chunk[:budget]
                    budget -= len(chunk)
                if chunk:
                    yield chunk
                if budget is not None and budget <= 0:
                    return
            if not options.follow:
                return
            with self._cond:
                while not self.closed and not stop.is_set() and self._dropped + self._size <= offset:
                    if connected is not None and not connected():
                        return
                    self._cond.wait(_FOLLOW_POLL_SECONDS)
                if stop.is_set():
                    return
                records, new_offset = self._records_from(offset)
                finished = self.closed and new_offset >= self._dropped + self._size
                offset = new_offset
            if finished and not records:
                return

    def tail_text(self, lines: int, limit: int) -> str:
        """The last lines of output, as a termination message taken from the log."""
        data = self.read(LogOptions(tail_lines=lines))
        return data[-limit:].decode(errors="replace")


class LogError(Exception):
    """What the kubelet answers instead of a log: an HTTP status and its plain-text reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LogSource(Protocol):
    """A kubelet, as the log server asks it for a container's log."""

    def container_log(self, namespace: str, pod: str, container: str, previous: bool) -> ContainerLog | None:
        """The log to serve; None when this kubelet has no such pod; LogError for the kubelet's refusals."""
        ...


class LogServer:
    """The kubelet's read-only endpoint on 127.0.0.1 (HTTP, or HTTPS with `certfile`/`keyfile`).

    Several kubelets may attach to one server as long as their pods' namespace/name pairs do not collide (one
    cluster's nodes); the sandbox gives each cluster's kubelet its own.
    """

    def __init__(self, *, certfile: str | None = None, keyfile: str | None = None) -> None:
        self._tls: ssl.SSLContext | None = None
        if certfile:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(certfile, keyfile)
        self._sources: list[LogSource] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None

    @property
    def scheme(self) -> str:
        return "https" if self._tls is not None else "http"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the log server is not running")
        return int(self._server.server_address[1])

    @property
    def running(self) -> bool:
        return self._server is not None

    def attach(self, source: LogSource) -> None:
        with self._lock:
            if source not in self._sources:
                self._sources.append(source)

    def detach(self, source: LogSource) -> None:
        with self._lock:
            if source in self._sources:
                self._sources.remove(source)

    def start(self) -> None:
        if self._server is not None:
            return
        self._stop.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        server.tls = self._tls
        self._server = server
        self._wake = socket.socketpair()
        self._thread = threading.Thread(
            target=self._serve, args=(server, self._wake[0]), name="kubelet log server", daemon=True
        )
        self._thread.start()

    def _serve(self, server: _Server, wake: socket.socket) -> None:
        """Accept until stopped; idle, it sleeps in poll(2) (no busy loop), and stop() wakes it at once."""
        while not self._stop.is_set():
            if wake in readable([server.socket, wake], None):
                return
            server.handle_request_now()

    def stop(self) -> None:
        server, thread, wake = self._server, self._thread, self._wake
        if server is None or thread is None or wake is None:
            return
        self._stop.set()
        wake[1].send(b"x")
        thread.join()
        server.server_close()  # joins the request threads, which end as followers see the stop
        for end in wake:
            end.close()
        self._server = self._thread = self._wake = None

    def find(self, namespace: str, pod: str, container: str, previous: bool) -> ContainerLog:
        with self._lock:
            sources = list(self._sources)
        for source in sources:
            found = source.container_log(namespace, pod, container, previous)
            if found is not None:
                return found
        raise LogError(404, f'pod "{pod}" does not exist')


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    owner: LogServer
    tls: ssl.SSLContext | None

    def handle_request_now(self) -> None:
        self._handle_request_noblock()

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("kubelet log server: request from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "kubelet"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        if len(parts) != 4 or parts[0] != "containerLogs":
            self._text(404, "404 page not found\n")
            return
        _, namespace, pod, container = parts
        try:
            options = _options(parse_qs(url.query))
            found = self.server.owner.find(namespace, pod, container, options.previous)
        except LogError as error:
            self._text(error.status, error.message)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        try:
            for chunk in found.stream(options, self.server.owner._stop, self._connected):
                self.wfile.write(chunk)
                self.wfile.flush()
        except (TimeoutError, BrokenPipeError, ConnectionResetError, ssl.SSLError):
            return

    def _connected(self) -> bool:
        """Whether the reader is still there: a closed connection reads as end-of-file (peeked below TLS)."""
        try:
            return not readable([self.connection], 0) or bool(socket.socket.recv(self.connection, 1, socket.MSG_PEEK))
        except (OSError, ValueError):
            return False

    def _text(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _options(query: dict[str, list[str]]) -> LogOptions:
    def value(name: str) -> str | None:
        values = query.get(name)
        return values[-1] if values else None

    def integer(name: str) -> int | None:
        text = value(name)
        if text is None:
            return None
        try:
            return int(text)
        except ValueError:
            raise LogError(400, "Unable to decode query.") from None

    def flag(name: str) -> bool:
        text = value(name)
        if text is None:
            return False
        if text in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if text in ("0", "f", "F", "FALSE", "false", "False"):
            return False
        raise LogError(400, "Unable to decode query.")

    return LogOptions(
        tail_lines=integer("tailLines"),
        limit_bytes=integer("limitBytes"),
        timestamps=flag("timestamps"),
        follow=flag("follow"),
        previous=flag("previous"),
        since_seconds=integer("sinceSeconds"),
        since_time=value("sinceTime"),
    )
