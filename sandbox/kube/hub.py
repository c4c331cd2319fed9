"""KubeHub: one loopback listener serving many clusters' APIs, each under `/clusters/{cluster_id}`.

A sandbox with a hundred clusters needs one server thread, not a hundred; removing a cluster makes its
prefix answer 404 like a deleted cluster's endpoint would stop answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ack_compute.sandbox.kube.cluster import KubeCluster
from ack_compute.sandbox.kube.status import resource_not_found
from ack_compute.sandbox.kube.tls import HUB_ADDRESS, HubTls, PeerCertificateProtocol
from ack_compute.sandbox.loopback import LoopbackServer, Served

log = logging.getLogger("ack_compute.sandbox.kube")

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class KubeHub(Served):
    """Hosts clusters' Kubernetes APIs on 127.0.0.1; use as a context manager or start()/stop().

    `time_scale` divides the control plane's own waits, as the sandbox cloud's does for cloud work: the
    namespace controller's 5 s before it empties a Terminating namespace, the watch cache's 75 s freshness
    window (how long events must age before a watch from an old resourceVersion can get 410), the 60 s
    between watch bookmarks and between retries of unschedulable pods.
    """

    def __init__(self, *, time_scale: float = 1.0, tls: bool = False) -> None:
        """`tls` serves HTTPS (each cluster's certificate by SNI, client certificates authenticate)."""
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self._clusters: dict[str, KubeCluster] = {}
        self._lock = threading.Lock()
        self._time_scale = time_scale
        self.tls = HubTls() if tls else None
        self._http = LoopbackServer(
            self._app(),
            name="kube hub",
            lifespan="on",
            tls=self.tls.context if self.tls is not None else None,
            protocol=PeerCertificateProtocol if self.tls is not None else None,
        )
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Serve on 127.0.0.1 at a free port from a daemon thread; returns once the server accepts calls."""
        if self._http.running:
            raise RuntimeError("the kube hub is already running")
        self._http.start()

    def stop(self) -> None:
        if not self._http.running:
            return
        self._http.stop()
        with self._lock:
            clusters = list(self._clusters.values())
        for cluster in clusters:
            cluster.attach(None)
        self._loop = None

    def _app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            return await self._dispatch(request)

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self._loop = asyncio.get_running_loop()
            with self._lock:
                clusters = list(self._clusters.values())
            for cluster in clusters:
                cluster.attach(self._loop)
            yield

        routes = [Route("/{path:path}", endpoint, methods=METHODS)]
        return Starlette(routes=routes, lifespan=lifespan)

    async def _dispatch(self, request: Request) -> Response:
        path = request.url.path
        parts = path.split("/", 3)
        if len(parts) < 3 or parts[1] != "clusters" or not parts[2]:
            return JSONResponse(resource_not_found().status(), status_code=404)
        cluster = self.get(parts[2])
        if cluster is None:
            return JSONResponse(resource_not_found().status(), status_code=404)
        return await cluster.api.handle(request, "/" + (parts[3] if len(parts) > 3 else ""))

    # --- clusters ----------------------------------------------------------------------------------------

    def add_cluster(self, cluster_id: str, *, kubernetes_version: str = "1.31.1") -> KubeCluster:
        """A new cluster with the default, kube-system, kube-public and kube-node-lease namespaces."""
        if not cluster_id or "/" in cluster_id:
            raise ValueError(f"invalid cluster id {cluster_id!r}")
        with self._lock:
            if cluster_id in self._clusters:
                raise ValueError(f"cluster {cluster_id!r} already exists")
            cluster = KubeCluster(
                self,
                cluster_id,
                kubernetes_version=kubernetes_version,
                time_scale=self._time_scale,
            )
            self._clusters[cluster_id] = cluster
        if self.tls is not None:
            self.tls.add(cluster.authority)
        if self._loop is not None:
            cluster.attach(self._loop)
        log.debug("kube cluster %s added (%s)", cluster_id, cluster.git_version)
        return cluster

    def get(self, cluster_id: str) -> KubeCluster | None:
        with self._lock:
            return self._clusters.get(cluster_id)

    def remove_cluster(self, cluster_id: str) -> None:
        """Forget a cluster: its API answers 404 from now on (removing an unknown id is a no-op)."""
        with self._lock:
            cluster = self._clusters.pop(cluster_id, None)
        if cluster is not None:
            if self.tls is not None:
                self.tls.remove(cluster.authority)
            cluster.detach()
            log.debug("kube cluster %s removed", cluster_id)

    def clusters(self) -> list[KubeCluster]:
        with self._lock:
            return list(self._clusters.values())

    # --- addressing --------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._http.port is None:
            raise RuntimeError("the kube hub is not running")
        return f"{self._http.scheme}://{HUB_ADDRESS}:{self._http.port}"

    @property
    def certificate_authority_data(self) -> str | None:
        """Base64 PEM of the CA behind the hub's own serving certificate (what clients naming no cluster get)."""
        return self.tls.authority.data if self.tls is not None else None

    def __repr__(self) -> str:
        where = self.url if self._http.port is not None else "stopped"
        return f"KubeHub({where}, clusters={len(self._clusters)})"
