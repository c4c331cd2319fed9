"""`serve --http` as a separate process, the way a team runs it: one launcher for every test that needs one."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx
import pytest

SERVE = [sys.executable, "-m", "ack_compute.server", "serve"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class HttpServer:
    base: str  # http://127.0.0.1:<port>
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"


def start_http(
    args: Sequence[str], env: Mapping[str, str], stderr: TextIO, log: Path, port: int | None = None
) -> HttpServer:
    """Start it and wait for /healthz. Its stderr goes to a file: a pipe nobody drains would stall a chatty
    server. `log` is that file, read back when the server fails to come up."""
    port = port or free_port()
    process = subprocess.Popen(
        [*SERVE, "--http", "--port", str(port), *args], env=dict(env), stdout=subprocess.DEVNULL, stderr=stderr
    )
    server = HttpServer(f"http://127.0.0.1:{port}", process)
    deadline = time.monotonic() + 30
    while True:
        stderr.flush()
        assert process.poll() is None, f"the HTTP server exited with {process.returncode}: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"the HTTP server never answered: {log.read_text()[-3000:]}"
        try:
            if httpx.get(f"{server.base}/healthz", timeout=0.5).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)


def stop_http(server: HttpServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


@contextmanager
def serving_http(
    args: Sequence[str], env: Mapping[str, str], log: Path, port: int | None = None
) -> Iterator[HttpServer]:
    """One server for a `with` block, logging to `log`."""
    with log.open("w") as stderr:
        server = start_http(args, env, stderr, log, port)
        try:
            yield server
        finally:
            stop_http(server)


@contextmanager
def crashing_http(args: Sequence[str], env: Mapping[str, str], log: Path) -> Iterator[HttpServer]:
    """One server for a `with` block, killed with SIGKILL when the block ends, however it ends: a crash, so
    nothing it was doing gets to finish or clean up."""
    with log.open("w") as stderr:
        server = start_http(args, env, stderr, log)
        try:
            yield server
        finally:
            server.process.kill()
            server.process.wait(10)


@pytest.fixture(scope="session")
def serve_http() -> type[HttpLauncher]:
    return HttpLauncher


class HttpLauncher:
    """What the `serve_http` fixture hands out (test modules import nothing from here)."""

    serving = staticmethod(serving_http)
    start = staticmethod(start_http)
    stop = staticmethod(stop_http)
    free_port = staticmethod(free_port)
