"""Temporary kubeconfigs, in memory only, refreshed before they expire; never returned to the agent."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ack_compute.cloud.cs import ContainerService, Kubeconfig
from ack_compute.cloud.kube import KubeAccess

REFRESH_MARGIN = timedelta(minutes=5)  # at most; short-lived kubeconfigs refresh in their last quarter


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
        fetched_at = self._clock()
        fresh = self._cs.user_kubeconfig(cluster_id, private=self.private_endpoint, minutes=self.minutes)
        with self._lock:
            self._cache[cluster_id] = (fetched_at, fresh)
        return fresh

    def forget(self, cluster_id: str) -> None:
        with self._lock:
            self._cache.pop(cluster_id, None)

    def access(self, cluster_id: str, *, timeout_s: float = 10.0) -> KubeAccess:
        return KubeAccess(self.get(cluster_id).config, timeout_s=timeout_s)
