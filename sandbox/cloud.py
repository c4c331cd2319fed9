"""SandboxCloud: the embedded Alibaba Cloud, served on loopback for the real SDKs to call unchanged."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn

from ack_compute.sandbox.app import build_app
from ack_compute.sandbox.catalog import load_catalog
from ack_compute.sandbox.faults import Fault
from ack_compute.sandbox.state import SandboxState, generate_credentials

STARTUP_TIMEOUT_SECONDS = 10.0
SHUTDOWN_TIMEOUT_SECONDS = 5.0


class SandboxCloud:
    """A loopback OpenAPI server with its own random AccessKey; use as a context manager or start()/stop().

    `verify_signatures=False` skips signature checks and is meant for benchmarks only.
    """

    def __init__(self, time_scale: float = 1.0, verify_signatures: bool = True) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self._state = SandboxState(
            catalog=load_catalog(),
            credentials=generate_credentials(),
            verify_signatures=verify_signatures,
            time_scale=time_scale,
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    def start(self) -> None:
        """Serve on 127.0.0.1 at a free port from a daemon thread; returns once the server accepts calls."""
        if self._server is not None:
            raise RuntimeError("the sandbox cloud is already running")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            build_app(self._state),
            http="h11",
            loop="asyncio",
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="sandbox-cloud", daemon=True)
        thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError("the sandbox cloud failed to start")
            time.sleep(0.002)
        self._server, self._thread, self._port = server, thread, sock.getsockname()[1]

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT_SECONDS)
        self._server = self._thread = self._port = None

    @property
    def endpoint(self) -> str:
        if self._port is None:
            raise RuntimeError("the sandbox cloud is not running")
        return f"127.0.0.1:{self._port}"

    @property
    def access_key_id(self) -> str:
        return self._state.credentials.access_key_id

    @property
    def access_key_secret(self) -> str:
        return self._state.credentials.access_key_secret.get_secret_value()

    def counts(self) -> dict[str, int]:
        """Requests per action since the last reset, failed and faulted ones included."""
        return self._state.counter.snapshot()

    def reset_counts(self) -> None:
        self._state.counter.reset()

    def inject(self, action: str, fault: Fault, times: int = 1) -> None:
        """The next `times` requests of `action` get `fault` (after signature checks, before handling)."""
        self._state.faults.add(action, fault, times)

    def clear_faults(self) -> None:
        self._state.faults.clear()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.endpoint if self._port is not None else "stopped"
        return f"SandboxCloud({where}, access_key_id={self.access_key_id!r})"
