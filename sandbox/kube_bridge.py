"""Where the cloud world meets the per-cluster Kubernetes APIs of `ack_compute.sandbox.kube`.

The world calls this bridge when a cluster comes up, a node joins or turns Ready, or a cluster goes away.
Without the kube package the bridge does nothing, so the OpenAPI side works on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

log = logging.getLogger("ack_compute.sandbox")

# Where kubeconfigs point when the sandbox has no Kubernetes API: a loopback port nothing listens on.
UNREACHABLE_SERVER = "https://127.0.0.1:1"
COREDNS_TAG = "v1.11.3.2-f57ea7ed6-aliyun"


class _KubeCluster(Protocol):
    server_url: str

    def issue_token(self, role: str = ..., ttl_seconds: float = ..., user: str = ...) -> str: ...
    def revoke_tokens(self) -> None: ...
    def upsert_node(self, name: str, **kwargs: Any) -> Any: ...
    def delete_node(self, name: str) -> Any: ...
    def seed(self, obj: dict[str, Any]) -> Any: ...
    def set_unresponsive(self, unresponsive: bool) -> None: ...


class _KubeHub(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def add_cluster(self, cluster_id: str, kubernetes_version: str = ...) -> _KubeCluster: ...
    def get(self, cluster_id: str) -> _KubeCluster | None: ...
    def remove_cluster(self, cluster_id: str) -> Any: ...


def _new_hub() -> _KubeHub | None:
    try:
        from ack_compute.sandbox.kube import KubeHub
    except ImportError:
        return None
    hub: _KubeHub = KubeHub()
    return hub


def coredns_pod(region_id: str, cluster_id: str) -> dict[str, Any]:
    """The kube-system pod whose image tells clients the in-cluster registry prefix."""
    suffix = cluster_id[1:6]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"coredns-7d8c4b8f6d-{suffix}",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "pod-template-hash": "7d8c4b8f6d"},
        },
        "spec": {
            "containers": [
                {
                    "name": "coredns",
                    "image": f"registry-{region_id}-vpc.ack.aliyuncs.com/acs/coredns:{COREDNS_TAG}",
                    "args": ["-conf", "/etc/coredns/Corefile"],
                }
            ],
            "priorityClassName": "system-cluster-critical",
        },
        "status": {"phase": "Running"},
    }


class KubeBridge:
    """One KubeHub for the whole sandbox, started and stopped with it; every call tolerates a missing cluster."""

    def __init__(self, hub: _KubeHub | None = None, *, enabled: bool = True) -> None:
        self._hub = hub if hub is not None else (_new_hub() if enabled else None)
        self._started = False

    @property
    def available(self) -> bool:
        return self._hub is not None

    def start(self) -> None:
        if self._hub is not None and not self._started:
            self._hub.start()
            self._started = True

    def stop(self) -> None:
        if self._hub is not None and self._started:
            self._hub.stop()
            self._started = False

    def cluster_up(self, cluster_id: str, kubernetes_version: str, region_id: str) -> None:
        if self._hub is None:
            return
        cluster = self._hub.add_cluster(cluster_id, kubernetes_version=kubernetes_version)
        cluster.seed(coredns_pod(region_id, cluster_id))

    def cluster_down(self, cluster_id: str) -> None:
        if self._hub is None or self._hub.get(cluster_id) is None:
            return
        self._hub.remove_cluster(cluster_id)

    def upsert_node(
        self,
        cluster_id: str,
        name: str,
        *,
        ready: bool,
        labels: Mapping[str, str],
        taints: Sequence[Mapping[str, str]],
        capacity: Mapping[str, str],
    ) -> None:
        cluster = self._cluster(cluster_id)
        if cluster is not None:
            cluster.upsert_node(name, ready=ready, labels=dict(labels), taints=list(taints), capacity=dict(capacity))

    def delete_node(self, cluster_id: str, name: str) -> None:
        cluster = self._cluster(cluster_id)
        if cluster is not None:
            cluster.delete_node(name)

    def set_unresponsive(self, cluster_id: str, unresponsive: bool) -> None:
        cluster = self._cluster(cluster_id)
        if cluster is not None:
            cluster.set_unresponsive(unresponsive)

    def server_url(self, cluster_id: str) -> str | None:
        """The cluster's Kubernetes API address, or None while it has none (not running, no hub, hub stopped)."""
        cluster = self._cluster(cluster_id)
        try:
            return cluster.server_url if cluster is not None else None
        except RuntimeError:
            return None

    def issue_token(
        self, cluster_id: str, role: Literal["admin", "limited"], ttl_seconds: float, user: str
    ) -> str | None:
        cluster = self._cluster(cluster_id)
        if cluster is None:
            return None
        return cluster.issue_token(role=role, ttl_seconds=ttl_seconds, user=user)

    def certificate_authority(self, cluster_id: str) -> str | None:
        """Base64 PEM of the CA that signed the cluster's serving certificate, when its API speaks TLS."""
        cluster = self._cluster(cluster_id)
        for attribute in ("certificate_authority_data", "ca_data"):
            value = getattr(cluster, attribute, None)
            if isinstance(value, str) and value:
                return value
        return None

    def revoke_tokens(self, cluster_id: str) -> None:
        cluster = self._cluster(cluster_id)
        if cluster is not None:
            cluster.revoke_tokens()

    def _cluster(self, cluster_id: str) -> _KubeCluster | None:
        if self._hub is None:
            return None
        try:
            return self._hub.get(cluster_id)
        except KeyError:
            return None
