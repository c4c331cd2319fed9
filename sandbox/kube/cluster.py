"""KubeCluster: one emulated cluster's API, its objects, tokens and knobs for tests and the sandbox."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request

from ack_compute.sandbox.kube.access_reviews import SELF_SUBJECT_ACCESS_REVIEW
from ack_compute.sandbox.kube.api import ClusterApi
from ack_compute.sandbox.kube.auth import MASTERS_GROUP, TokenBook, UserInfo
from ack_compute.sandbox.kube.context import KubeVersion, WriteContext, now_rfc3339
from ack_compute.sandbox.kube.controllers import Controllers, bind_pod
from ack_compute.sandbox.kube.namespaces import NAMESPACE, SYSTEM_NAMESPACES
from ack_compute.sandbox.kube.nodes import NODE, kubelet_node
from ack_compute.sandbox.kube.objects import DeleteOptions, Objects
from ack_compute.sandbox.kube.pki import ClientCredential, ClusterAuthority
from ack_compute.sandbox.kube.pods import POD
from ack_compute.sandbox.kube.registry import Kind, Registry
from ack_compute.sandbox.kube.status import StatusError, not_found
from ack_compute.sandbox.kube.store import EVENT_FRESH_SECONDS, Store
from ack_compute.sandbox.kube.workloads import install_controllers, workload_kinds

if TYPE_CHECKING:
    from ack_compute.sandbox.kube.hub import KubeHub

BUILTIN_KINDS: tuple[Kind, ...] = (NAMESPACE, NODE, POD, SELF_SUBJECT_ACCESS_REVIEW)
_SANDBOX_ADMIN = UserInfo("system:sandbox", (MASTERS_GROUP,))
_UNRESPONSIVE_POLL_SECONDS = 0.05


def default_registry() -> Registry:
    registry = Registry()
    registry.register_all(BUILTIN_KINDS)
    registry.register_all(workload_kinds())
    return registry


class KubeCluster:
    """A cluster's API under `{hub.url}/clusters/{cluster_id}`; create it with `KubeHub.add_cluster`."""

    def __init__(
        self,
        hub: KubeHub,
        cluster_id: str,
        *,
        kubernetes_version: str = "1.31.1",
        time_scale: float = 1.0,
    ) -> None:
        self._hub = hub
        self.cluster_id = cluster_id
        self.version = KubeVersion.parse(kubernetes_version)
        self.git_version = kubernetes_version if kubernetes_version.startswith("v") else f"v{kubernetes_version}"
        self.time_scale = time_scale
        self.store = Store(fresh_seconds=EVENT_FRESH_SECONDS / time_scale)
        self.registry = default_registry()
        self.objects = Objects(self.store, self.registry, self.version)
        self.tokens = TokenBook()
        self.authority = ClusterAuthority(cluster_id)
        self.controllers = Controllers(self.objects, self.registry, self.version, time_scale=time_scale)
        self.store.add_listener(self.controllers.on_event)
        self.objects.on_namespace_terminating = lambda name: self.controllers.kick()
        install_controllers(self)
        self.api = ClusterApi(self)
        self._unresponsive = threading.Event()
        self._removed = False
        for name in SYSTEM_NAMESPACES:
            self.objects.create(NAMESPACE, "", {"metadata": {"name": name}}, self.system_context("kube-apiserver"))

    # --- addressing ----------------------------------------------------------------------------------------

    @property
    def server_url(self) -> str:
        """What goes into a kubeconfig's `server`."""
        return f"{self._hub.url}/clusters/{self.cluster_id}"

    @property
    def server_address(self) -> str:
        return self._hub.url.split("://", 1)[1]

    @property
    def tls(self) -> bool:
        return self._hub.tls is not None

    @property
    def certificate_authority_data(self) -> str | None:
        """Base64 PEM of the cluster's CA (signs its serving and client certificates) when the API speaks TLS."""
        return self.authority.data if self.tls else None

    @property
    def tls_server_name(self) -> str | None:
        """The name the cluster's serving certificate is for (the hub picks the certificate by SNI)."""
        return self.authority.server_name if self.tls else None

    # --- tokens ------------------------------------------------------------------------------------------------

    def issue_token(
        self, *, role: Literal["admin", "limited"], ttl_seconds: int, user: str = "kubernetes-admin"
    ) -> str:
        """A bearer token: `admin` is in system:masters; `limited` may only get/list/watch namespaces, nodes
        and pods. Unknown, expired or revoked tokens get 401."""
        return self.tokens.issue(role=role, ttl_seconds=ttl_seconds, user=user)

    def revoke_tokens(self) -> None:
        self.tokens.revoke_all()

    def issue_client_certificate(self, *, user: str, groups: tuple[str, ...], ttl_seconds: float) -> ClientCredential:
        """A client certificate signed by this cluster's CA: CN=user, O=groups (401 once expired or revoked)."""
        return self.authority.issue_client(user, groups, ttl_seconds)

    def revoke_client_certificates(self, user: str) -> int:
        return self.authority.revoke(user)

    # --- state for tests and the simulated kubelet ------------------------------------------------------

    def system_context(self, manager: str) -> WriteContext:
        """Who a controller writes as: an unrestricted user, with `manager` as its managedFields name."""
        return WriteContext(self.store, self.registry, self.version, _SANDBOX_ADMIN, manager, datetime.now(UTC))

    def upsert_node(
        self,
        name: str,
        *,
        ready: bool,
        labels: dict[str, str] | None = None,
        taints: list[dict[str, Any]] | None = None,
        capacity: dict[str, str] | None = None,
    ) -> None:
        """Register or refresh a node as its kubelet and the node lifecycle controller would; watches see it."""
        with self.store.lock:
            previous = self.store.get(NODE.key, "", name)
            node = kubelet_node(
                name,
                ready=ready,
                labels=labels,
                taints=taints,
                capacity=capacity,
                kubelet_version=self.git_version,
                timestamp=now_rfc3339(),
                previous=previous,
            )
            if previous is None:
                previous = self.objects.create(NODE, "", {**node, "spec": {}}, self.system_context("kubelet"))
            merged = {**previous, "metadata": {**previous["metadata"], "labels": node["metadata"]["labels"]}}
            merged["spec"] = {**(previous.get("spec") or {}), **node["spec"]}
            if "taints" not in node["spec"]:
                merged["spec"].pop("taints", None)
            updated = self.objects.update(NODE, "", name, merged, self.system_context("kube-controller-manager"))
            updated["status"] = node["status"]
            self.objects.update(NODE, "", name, updated, self.system_context("kubelet"), subresource="status")

    def delete_node(self, name: str) -> None:
        try:
            self.objects.delete(NODE, "", name, DeleteOptions(), self.system_context("kubelet"))
        except StatusError as error:
            if error.code != 404:
                raise

    def seed(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create any supported object directly (no auth, admission still applies); a given `status` is
        kept, so a seeded kube-system pod can already be Running."""
        kind = self.registry.by_kind(obj.get("apiVersion") or "", obj.get("kind") or "")
        if kind is None or not kind.stored:
            raise ValueError(f"unsupported kind {obj.get('apiVersion')}/{obj.get('kind')}")
        namespace = (obj.get("metadata") or {}).get("namespace") or ("default" if kind.namespaced else "")
        created = self.objects.create(kind, namespace, obj, self.system_context("sandbox"))
        name = created["metadata"]["name"]
        for _ in range(20) if kind.status_subresource and obj.get("status") else ():
            # The scheduler or a kubelet may write the new object first: merge onto the latest version.
            current = self.objects.get(kind, namespace, name)
            current["status"] = {**(current.get("status") or {}), **obj["status"]}
            try:
                return self.objects.update(
                    kind, namespace, name, current, self.system_context("sandbox"), subresource="status"
                )
            except StatusError as error:
                if error.code != 409:
                    raise
        return created

    def bind_pod(self, namespace: str, name: str, node_name: str) -> None:
        """The pods/binding subresource: assign a pod to a node."""
        with self.store.lock:
            pod = self.store.get(POD.key, namespace, name)
            if pod is None:
                raise not_found(POD.group_resource, name)
            if (pod.get("spec") or {}).get("nodeName"):
                raise StatusError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is already assigned to node '
                    f'"{pod["spec"]["nodeName"]}"',
                    {"name": name, "kind": "pods/binding"},
                )
            bind_pod(pod, node_name, now_rfc3339())
            self.store.update(POD.key, pod)

    # --- faults ------------------------------------------------------------------------------------------------

    def set_unresponsive(self, on: bool) -> None:
        """While on, every request to this cluster hangs unanswered and watches stall; other clusters answer."""
        if on:
            self._unresponsive.set()
        else:
            self._unresponsive.clear()

    async def wait_responsive(self, request: Request | None = None) -> bool:
        """Hold a request while the cluster is unresponsive; False when its client gave up meanwhile."""
        while self._unresponsive.is_set():
            if request is not None and await request.is_disconnected():
                return False
            await asyncio.sleep(_UNRESPONSIVE_POLL_SECONDS)
        return True

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Run this cluster's controllers on the hub's event loop (None detaches them)."""
        self.controllers.attach(loop)

    def detach(self) -> None:
        self._removed = True
        self.controllers.enabled = False
        self.controllers.attach(None)
        self._unresponsive.clear()

    def __repr__(self) -> str:
        return f"KubeCluster({self.cluster_id!r}, {self.git_version})"
