"""Temporary kubeconfigs, in memory only, refreshed before they expire; never returned to the agent.

Which endpoint: the operator's `private_endpoint` setting asks for the cluster's intranet endpoint. Otherwise
the public one, unless DescribeClusterDetail's `master_url` shows the API server has none (no EIP; ACK's own
MCP server checks the same before it asks for a public kubeconfig: aliyun/alibabacloud-ack-mcp-server,
src/kubectl_handler.py); then the private one, which works from inside the cluster's VPC.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ack_compute.cloud.cs import ContainerService, Kubeconfig
from ack_compute.cloud.kube import KubeAccess
from ack_compute.tools.errors import AckComputeError

REFRESH_MARGIN = timedelta(minutes=5)  # at most; short-lived kubeconfigs refresh in their last quarter


class NoApiEndpoint(AckComputeError):
    """The cluster's API server has no endpoint this server may use; nothing was fetched."""


class Kubeconfigs:
    def __init__(
        self,
        cs: ContainerService,
        *,
        minutes: int = 60,
        private_endpoint: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._cs = cs
        self._clock = clock
        self.minutes = minutes
        self.private_endpoint = private_endpoint
        self._cache: dict[str, tuple[datetime, Kubeconfig]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Kubeconfigs({len(self._cache)} cached, contents hidden)"

    def get(self, cluster_id: str) -> Kubeconfig:
        with self._lock:
            fetched_at, cached = self._cache.get(cluster_id, (None, None))
        if cached is not None and fetched_at is not None:
            if cached.expiration is None:
                return cached
            margin = min(REFRESH_MARGIN, (cached.expiration - fetched_at) / 4)
            if cached.expiration - margin > self._clock():
                return cached
        private = self._private(cluster_id)
        fetched_at = self._clock()
        fresh = self._cs.user_kubeconfig(cluster_id, private=private, minutes=self.minutes)
        with self._lock:
            self._cache[cluster_id] = (fetched_at, fresh)
        return fresh

    def _private(self, cluster_id: str) -> bool:
        """Whether to ask for the intranet endpoint's kubeconfig (see the module's docstring)."""
        cluster = self._cs.describe_cluster(cluster_id)
        public, intranet = cluster.api_server_endpoint, cluster.intranet_api_server_endpoint
        if self.private_endpoint and intranet:
            return True
        if not self.private_endpoint and public:
            return False
        if not self.private_endpoint and intranet:
            return True
        if cluster.state != "running":  # no endpoint yet: the kubeconfig call says why (ErrorClusterState)
            return self.private_endpoint
        if self.private_endpoint:
            raise NoApiEndpoint(
                f"Cluster {cluster_id} has no private (intranet) API server endpoint, and this server is set to use "
                "private endpoints only (private_endpoint).",
                "Turn private_endpoint off to use its public endpoint, or check the cluster in the ACK console.",
            )
        raise NoApiEndpoint(
            f"Cluster {cluster_id} has no API server endpoint (neither public nor intranet) in its master_url, so no "
            "kubeconfig can reach it.",
            "Check the cluster's state and API server in the ACK console; bind an EIP for a public endpoint.",
        )

    def forget(self, cluster_id: str) -> None:
        with self._lock:
            self._cache.pop(cluster_id, None)

    def access(self, cluster_id: str, *, timeout_s: float = 10.0) -> KubeAccess:
        return KubeAccess(self.get(cluster_id).config, timeout_s=timeout_s)
