"""Where the cloud world meets the per-cluster Kubernetes APIs of `ack_compute.sandbox.kube`.

The world calls this bridge when a cluster comes up, a node joins or turns Ready, or a cluster goes away.
Each running cluster with nodes gets a simulated kubelet (`ack_compute.sandbox.kubelet`) that registers them
through the cluster's API and runs the pods bound to them. Without the kube package the bridge does nothing, so
the OpenAPI side works on its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from ack_compute.sandbox.kube.pki import ClientCredential
    from ack_compute.sandbox.kubelet import ImageRegistry, Kubelet

log = logging.getLogger("ack_compute.sandbox")

# Where kubeconfigs point when the sandbox has no Kubernetes API: a loopback port nothing listens on.
UNREACHABLE_SERVER = "https://127.0.0.1:1"
COREDNS_TAG = "v1.11.3.2-f57ea7ed6-aliyun"
VIRTUAL_NODE_PREFIX = "virtual-kubelet-"
# The kubelet's own token outlives any cluster.
KUBELET_TOKEN_SECONDS = 10 * 365 * 24 * 3600


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
    hub: _KubeHub = KubeHub(tls=True)
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


def _is_real_hub(hub: _KubeHub | None) -> bool:
    try:
        from ack_compute.sandbox.kube import KubeHub
    except ImportError:
        return False
    return isinstance(hub, KubeHub)


def _image_registry() -> ImageRegistry | None:
    try:
        from ack_compute.sandbox.kubelet import ImageRegistry
    except ImportError:
        return None
    return ImageRegistry()


class KubeBridge:
    """One KubeHub for the whole sandbox, started and stopped with it; every call tolerates a missing cluster.

    With a real hub each cluster gets a kubelet once it has a node; `run_containers=False` makes the kubelets
    run nothing (containers report success and their logs say why), `images` is the registry they pull from,
    and `time_scale` (a number or a function giving one) divides their back-off waits. A stand-in hub (tests)
    is told about nodes directly, unless `kubelets=True`.
    """

    def __init__(
        self,
        hub: _KubeHub | None = None,
        *,
        enabled: bool = True,
        run_containers: bool = True,
        images: ImageRegistry | None = None,
        time_scale: float | Callable[[], float] = 1.0,
        kubelets: bool | None = None,
    ) -> None:
        self._hub = hub if hub is not None else (_new_hub() if enabled else None)
        self._started = False
        self.run_containers = run_containers
        self.images = images if images is not None else _image_registry()
        self._time_scale = time_scale
        self._use_kubelets = (kubelets if kubelets is not None else _is_real_hub(self._hub)) and self.images is not None
        self._kubelets: dict[str, Kubelet] = {}
        self._unresponsive: set[str] = set()
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self._hub is not None

    def start(self) -> None:
        if self._hub is not None and not self._started:
            self._hub.start()
            self._started = True

    def stop(self) -> None:
        """Stop every kubelet (killing the processes they run), then the hub."""
        with self._lock:
            kubelets, self._kubelets = dict(self._kubelets), {}
            hanging, self._unresponsive = set(self._unresponsive), set()
        for cluster_id in hanging:  # so no kubelet waits on a hanging request while it stops
            cluster = self._cluster(cluster_id)
            if cluster is not None:
                cluster.set_unresponsive(False)
        for kubelet in kubelets.values():
            kubelet.stop()
        if self._hub is not None and self._started:
            self._hub.stop()
            self._started = False

    def add_image(self, reference: str) -> None:
        """Make one more image pullable by every cluster's kubelet."""
        if self.images is not None:
            self.images.add(reference)

    def cluster_up(self, cluster_id: str, kubernetes_version: str, region_id: str) -> None:
        if self._hub is None:
            return
        cluster = self._hub.add_cluster(cluster_id, kubernetes_version=kubernetes_version)
        cluster.seed(coredns_pod(region_id, cluster_id))

    def cluster_down(self, cluster_id: str) -> None:
        with self._lock:
            kubelet = self._kubelets.pop(cluster_id, None)
            self._unresponsive.discard(cluster_id)
        if self._hub is not None and self._hub.get(cluster_id) is not None:
            self._hub.remove_cluster(cluster_id)  # first: the kubelet's pending calls get their 404 and end
        if kubelet is not None:
            kubelet.stop()

    def kubelet(self, cluster_id: str) -> Kubelet | None:
        """The cluster's kubelet, started with its first node (None for a stand-in hub or a stopped sandbox)."""
        with self._lock:
            found = self._kubelets.get(cluster_id)
        if found is not None or not self._use_kubelets:
            return found
        cluster = self._cluster(cluster_id)
        if cluster is None or not self._started:
            return None
        from ack_compute.sandbox.kubelet import ApiEndpoint, Kubelet

        try:
            server = cluster.server_url
        except RuntimeError:
            return None
        token = cluster.issue_token(role="admin", ttl_seconds=KUBELET_TOKEN_SECONDS, user="kubelet")
        # The kubelet names no cluster in its TLS handshake, so it is served (and trusts) the hub's certificate.
        kubelet = Kubelet(
            ApiEndpoint(server, token, ca_data=getattr(self._hub, "certificate_authority_data", None)),
            run_containers=self.run_containers,
            images=self.images,
            time_scale=self._time_scale,
        )
        with self._lock:
            if cluster_id in self._kubelets:  # another thread was first
                kubelet.stop()
                return self._kubelets[cluster_id]
            self._kubelets[cluster_id] = kubelet
        kubelet.start()
        return kubelet

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
        """A worker node joins or changes (Ready or not): its kubelet registers it through the API."""
        cluster = self._cluster(cluster_id)
        if cluster is None:
            return
        kubelet = self.kubelet(cluster_id)
        if kubelet is None:
            cluster.upsert_node(name, ready=ready, labels=dict(labels), taints=list(taints), capacity=dict(capacity))
            return
        self._tell(
            kubelet.register_node,
            name,
            ready=ready,
            labels=dict(labels),
            taints=[dict(t) for t in taints],
            capacity=dict(capacity),
            wait=self._waits(cluster_id),
        )

    def upsert_virtual_node(self, cluster_id: str, zone: str, region_id: str) -> None:
        """The ack-virtual-node add-on's node for one zone: `virtual-kubelet-<zone>`, Ready, tainted NoSchedule."""
        from ack_compute.sandbox.kubelet import virtual_node_labels
        from ack_compute.sandbox.kubelet.virtual import VIRTUAL_CAPACITY, VIRTUAL_TAINT

        cluster = self._cluster(cluster_id)
        if cluster is None:
            return
        name, labels = f"{VIRTUAL_NODE_PREFIX}{zone}", virtual_node_labels(zone, region_id)
        kubelet = self.kubelet(cluster_id)
        if kubelet is None:
            cluster.upsert_node(
                name, ready=True, labels=labels, taints=[dict(VIRTUAL_TAINT)], capacity=dict(VIRTUAL_CAPACITY)
            )
            return
        self._tell(kubelet.register_node, name, ready=True, labels=labels, virtual=True, wait=self._waits(cluster_id))

    def delete_node(self, cluster_id: str, name: str) -> None:
        cluster = self._cluster(cluster_id)
        if cluster is None:
            return
        with self._lock:
            kubelet = self._kubelets.get(cluster_id)
        if kubelet is None:
            cluster.delete_node(name)
            return
        self._tell(kubelet.remove_node, name, wait=self._waits(cluster_id))

    def set_unresponsive(self, cluster_id: str, unresponsive: bool) -> None:
        cluster = self._cluster(cluster_id)
        if cluster is not None:
            with self._lock:
                if unresponsive:
                    self._unresponsive.add(cluster_id)
                else:
                    self._unresponsive.discard(cluster_id)
            cluster.set_unresponsive(unresponsive)

    def _waits(self, cluster_id: str) -> bool:
        """Node changes are written before returning, except to a hanging API (the kubelet retries later)."""
        with self._lock:
            return cluster_id not in self._unresponsive

    @staticmethod
    def _tell(call: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        from ack_compute.sandbox.kubelet import ApiError

        try:
            call(*args, **kwargs)
        except ApiError as error:  # the kubelet keeps trying in the background
            log.warning("sandbox kubelet: %s(%s) not written yet: %s", call.__name__, args[0] if args else "", error)

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

    def tls_server_name(self, cluster_id: str) -> str | None:
        """The name a client must ask for (SNI) to get the cluster's own serving certificate."""
        value = getattr(self._cluster(cluster_id), "tls_server_name", None)
        return value if isinstance(value, str) and value else None

    def issue_client_certificate(
        self, cluster_id: str, user: str, groups: tuple[str, ...], ttl_seconds: float
    ) -> ClientCredential | None:
        """A client certificate from the cluster's CA, or None without a cluster API that checks them."""
        cluster = self._cluster(cluster_id)
        issue = getattr(cluster, "issue_client_certificate", None)
        if issue is None or not getattr(cluster, "tls", False):
            return None
        credential: ClientCredential = issue(user=user, groups=groups, ttl_seconds=ttl_seconds)
        return credential

    def revoke_client_certificates(self, cluster_id: str, user: str) -> None:
        revoke = getattr(self._cluster(cluster_id), "revoke_client_certificates", None)
        if revoke is not None:
            revoke(user)

    def revoke_tokens(self, cluster_id: str) -> None:
        cluster = self._cluster(cluster_id)
        if cluster is not None:
            cluster.revoke_tokens()
            with self._lock:
                kubelet = self._kubelets.get(cluster_id)
            if kubelet is not None:  # users' credentials go; the node's own stay valid, as on ACK
                kubelet.api.set_token(
                    cluster.issue_token(role="admin", ttl_seconds=KUBELET_TOKEN_SECONDS, user="kubelet")
                )

    def _cluster(self, cluster_id: str) -> _KubeCluster | None:
        if self._hub is None:
            return None
        try:
            return self._hub.get(cluster_id)
        except KeyError:
            return None
