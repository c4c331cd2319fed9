"""An ASGI app on 127.0.0.1 at a free port, served by uvicorn from a daemon thread.

Shared by the OpenAPI cloud and the Kubernetes hub so both start, stop and fail the same way.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from types import TracebackType
from typing import Any, Literal, Self

import uvicorn

STARTUP_TIMEOUT_SECONDS = 10.0
SHUTDOWN_TIMEOUT_SECONDS = 5.0


class Served:
    """What serves on loopback (the OpenAPI cloud, the Kubernetes hub): `with X() as x:` starts it and stops it."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


class LoopbackServer:
    def __init__(
        self,
        app: Any,
        *,
        name: str,
        lifespan: Literal["on", "off"] = "off",
        tls: ssl.SSLContext | None = None,
        protocol: type[asyncio.Protocol] | None = None,
    ) -> None:
        """`tls` serves HTTPS with that context; `protocol` replaces uvicorn's h11 protocol (a subclass of it)."""
        self._app = app
        self._name = name
        self._lifespan = lifespan
        self._tls = tls
        self._protocol = protocol
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None  # known from bind on, so an app's startup can already name its URL

    @property
    def scheme(self) -> str:
        return "https" if self._tls is not None else "http"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Returns once the server accepts calls; raises RuntimeError if it cannot start."""
        if self._server is not None:
            raise RuntimeError(f"the {self._name} is already running")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Accepted connections inherit this; without it small answers wait out delayed ACKs (~40 ms each).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            self._app,
            http=self._protocol or "h11",
            loop="asyncio",
            lifespan=self._lifespan,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
            ssl_context_factory=(lambda _config, _default: self._tls) if self._tls is not None else None,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=self._name, daemon=True)
        self.port = sock.getsockname()[1]
        thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                self.port = None
                raise RuntimeError(f"the {self._name} failed to start")
            time.sleep(0.002)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT_SECONDS)
        self._server = self._thread = self.port = None
