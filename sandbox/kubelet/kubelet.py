"""Kubelet: registers a cluster's nodes and runs the pods bound to them, through the Kubernetes API only.

One Kubelet serves all of one cluster's nodes (worker nodes and virtual nodes alike). It talks to the apiserver
over plain HTTP like any client, so the same kubelet runs against the sandbox's emulator and a real
kube-apiserver; the contract tests hold the emulator to the real server with it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ack_compute.sandbox.kube.nodes import NOT_READY_TAINT, kubelet_node
from ack_compute.sandbox.kubelet.api import ApiEndpoint, ApiError, KubeApi
from ack_compute.sandbox.kubelet.images import ImageRegistry
from ack_compute.sandbox.kubelet.logs import MAX_LOG_BYTES, ContainerLog, LogServer
from ack_compute.sandbox.kubelet.podconfig import Sources
from ack_compute.sandbox.kubelet.process import unprivileged_user
from ack_compute.sandbox.kubelet.status import TERMINAL_PHASES, now_rfc3339
from ack_compute.sandbox.kubelet.virtual import (
    VIRTUAL_CAPACITY,
    VIRTUAL_TAINT,
    region_of,
    virtual_node_labels,
    zone_of,
)
from ack_compute.sandbox.kubelet.worker import PodWorker

log = logging.getLogger("ack_compute.sandbox.kubelet")

HOST_IP = "127.0.0.1"
DEFAULT_VERSION = "v1.20.2"
HEARTBEAT_SECONDS = 60.0
WATCH_SECONDS = 300
MIN_WAIT_SECONDS = 0.1
_NODE_RETRY_SECONDS = 1.0
_WATCH_RETRY_SECONDS = 0.5
_JOIN_SECONDS = 15.0
# Pod addresses: each node gets a /24, worker nodes from 172.20.0.0/14, virtual nodes from 10.128.0.0/14.
_WORKER_PODS = ipaddress.IPv4Network("172.20.0.0/14")
_VIRTUAL_PODS = ipaddress.IPv4Network("10.128.0.0/14")


@dataclass
class _Node:
    name: str
    ready: bool
    labels: dict[str, str]
    taints: list[dict[str, Any]]
    capacity: dict[str, str]
    virtual: bool
    network: ipaddress.IPv4Network
    applied_taints: list[dict[str, Any]] = field(default_factory=list)
    dirty: bool = True
    used_ips: set[str] = field(default_factory=set)
    cursor: int = 0

    def allocate(self) -> str:
        """The next free address from .2 on, round robin (.1 is the node's gateway)."""
        hosts = list(self.network.hosts())[1:]
        for step in range(len(hosts)):
            candidate = str(hosts[(self.cursor + step) % len(hosts)])
            if candidate not in self.used_ips:
                self.used_ips.add(candidate)
                self.cursor = (self.cursor + step + 1) % len(hosts)
                return candidate
        return str(hosts[0])  # a full node shares addresses rather than fail


class Kubelet:
    """A simulated kubelet for one cluster: `register_node` its nodes, `start()` it, `stop()` it.

    `api` is an ApiEndpoint, a kubeconfig dict, or a `kubernetes.client.ApiClient` (only read for its address,
    token and CA). `run_containers=False` runs nothing: containers report Running, then exit 0 (or, with
    restartPolicy Always, keep running) and their log says so. `time_scale` divides the kubelet's own waits
    (restart and image-pull back-off, at least a quarter second each); processes and pod deadlines run in real
    time. Without a `log_server`
    the kubelet starts its own on a free loopback port (plain HTTP).
    """

    def __init__(
        self,
        api: Any,
        *,
        run_containers: bool = True,
        images: ImageRegistry | None = None,
        time_scale: float | Callable[[], float] = 1.0,
        log_server: LogServer | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        max_log_bytes: int = MAX_LOG_BYTES,
        request_timeout: float = 10.0,
    ) -> None:
        self.api = KubeApi(ApiEndpoint.coerce(api), timeout=request_timeout)
        self.run_containers = run_containers
        self.images = images if images is not None else ImageRegistry()
        self._time_scale = time_scale
        self._own_log_server = log_server is None
        self.log_server = log_server if log_server is not None else LogServer()
        self.heartbeat_seconds = heartbeat_seconds
        self.max_log_bytes = max_log_bytes
        self.host_ip = HOST_IP
        self.sources = Sources(config_map=self._config_map, secret=self._secret)
        self._lock = threading.RLock()
        self._nodes: dict[str, _Node] = {}
        self._workers: dict[str, PodWorker] = {}
        self._started_workers: list[PodWorker] = []  # including those of pods already deleted, until they end
        self._parked: dict[str, dict[str, Any]] = {}  # pods bound to a node that is not Ready (yet)
        self._stopping = threading.Event()
        self._node_wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._watch: Any = None
        self._version: str | None = None
        self._root = Path(tempfile.mkdtemp(prefix="ack-kubelet-"))
        # As root, pods' commands run as nobody: they may pass through the root and pods dirs (0711, not list
        # them) to their own pod dir, handed to nobody; the logs dir stays root's (0700).
        self.run_as = unprivileged_user() if run_containers else None
        if self.run_as is not None:
            (self._root / "pods").mkdir(mode=0o711)
            os.chmod(self._root / "pods", 0o711)
            (self._root / "logs").mkdir(mode=0o700)  # every pod's output: the kubelet's alone
            os.chmod(self._root / "logs", 0o700)
            os.chmod(self._root, 0o711)
        self._started = False

    # --- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Watch pods and keep the nodes' heartbeats; returns at once."""
        if self._started:
            return
        self._started = True
        self._stopping.clear()
        if not self.log_server.running:
            self.log_server.start()
        self.log_server.attach(self)
        self._spawn(self._watch_pods)
        self._spawn(self._keep_nodes)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=f"kubelet {target.__name__}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def stop(self) -> None:
        """Kill every process this kubelet started and end its threads; the API objects stay as they are."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._node_wake.set()
        watch = self._watch
        if watch is not None:
            watch.abort()
        with self._lock:
            workers = [w for w in self._started_workers if w.alive] + list(self._workers.values())
        for worker in workers:
            worker.halt()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(_JOIN_SECONDS)
        for worker in workers:
            worker.join(_JOIN_SECONDS)
        self._threads.clear()
        self.log_server.detach(self)
        if self._own_log_server:
            self.log_server.stop()
        self.api.close()
        shutil.rmtree(self._root, ignore_errors=True)
        self._started = False

    def __enter__(self) -> Kubelet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- nodes --------------------------------------------------------------------------------------------

    def register_node(
        self,
        name: str,
        *,
        ready: bool = True,
        labels: Mapping[str, str] | None = None,
        taints: Sequence[Mapping[str, Any]] | None = None,
        capacity: Mapping[str, str] | None = None,
        virtual: bool = False,
        wait: bool = True,
    ) -> None:
        """Register (or refresh) a node as its kubelet would. A virtual node (`virtual-kubelet-<zone>`) gets the
        add-on's labels, taint and capacity on top of what is given. With `wait` the write happens now (and
        raises ApiError when the API refuses it); otherwise, and after a failure, it is retried in the
        background."""
        node_labels = dict(labels or {})
        node_taints = [dict(t) for t in taints or []]
        node_capacity = dict(capacity or {})
        if virtual:
            zone = node_labels.get("topology.kubernetes.io/zone") or zone_of(name)
            region = node_labels.get("topology.kubernetes.io/region") or region_of(zone)
            node_labels = {**virtual_node_labels(zone, region), **node_labels}
            if not any(t.get("key") == VIRTUAL_TAINT["key"] for t in node_taints):
                node_taints.append(dict(VIRTUAL_TAINT))
            node_capacity = {**VIRTUAL_CAPACITY, **node_capacity}
        with self._lock:
            node = self._nodes.get(name)
            if node is None:
                node = _Node(name, ready, node_labels, node_taints, node_capacity, virtual, self._network(virtual))
                self._nodes[name] = node
            else:
                node.ready, node.labels, node.taints, node.capacity = ready, node_labels, node_taints, node_capacity
                node.virtual = virtual
            node.dirty = True
        self._write_node(name, wait)
        if ready:
            self._unpark(name)

    def set_ready(self, name: str, ready: bool, *, wait: bool = True) -> None:
        with self._lock:
            node = self._nodes[name]
            node.ready = ready
            node.dirty = True
        self._write_node(name, wait)
        if ready:
            self._unpark(name)

    def remove_node(self, name: str, *, wait: bool = True) -> None:
        """Delete the node; its pods' processes are killed and the pods removed, as the pod GC would."""
        with self._lock:
            node = self._nodes.pop(name, None)
            workers = [w for w in self._workers.values() if w.node == name]
            parked = [p for p in self._parked.values() if p["spec"].get("nodeName") == name]
        if node is None:
            return
        for worker in workers:
            worker.halt()
        if wait:
            self._delete_node(name, workers, parked)
        else:
            self._spawn(self._delete_node, name, workers, parked)

    @property
    def nodes(self) -> list[str]:
        with self._lock:
            return sorted(self._nodes)

    def is_virtual(self, name: str) -> bool:
        with self._lock:
            node = self._nodes.get(name)
            return node is not None and node.virtual

    def region(self, name: str) -> str:
        with self._lock:
            node = self._nodes.get(name)
            labels = node.labels if node is not None else {}
        return labels.get("topology.kubernetes.io/region") or region_of(zone_of(name))

    def allocatable(self, name: str) -> dict[str, str]:
        with self._lock:
            node = self._nodes.get(name)
            return dict(node.capacity) if node is not None else {}

    def allocate_ip(self, name: str) -> str:
        with self._lock:
            node = self._nodes.get(name)
            return node.allocate() if node is not None else HOST_IP

    def release_ip(self, name: str, ip: str) -> None:
        with self._lock:
            node = self._nodes.get(name)
            if node is not None:
                node.used_ips.discard(ip)

    @property
    def stream_port(self) -> int:
        return self.log_server.port

    def _network(self, virtual: bool) -> ipaddress.IPv4Network:
        pool = _VIRTUAL_PODS if virtual else _WORKER_PODS
        with self._lock:
            used = {n.network for n in self._nodes.values()}
        for subnet in pool.subnets(new_prefix=24):
            if subnet not in used:
                return subnet
        return next(pool.subnets(new_prefix=24))

    def _write_node(self, name: str, wait: bool) -> None:
        if not wait:
            self._node_wake.set()
            return
        try:
            self._sync_node(name)
        except ApiError:
            self._node_wake.set()  # the background loop tries again
            raise

    def _kubelet_version(self) -> str:
        if self._version is None:
            try:
                self._version = str(self.api.get("/version").get("gitVersion") or DEFAULT_VERSION)
            except ApiError:
                return DEFAULT_VERSION
        return self._version

    def _sync_node(self, name: str) -> None:
        """Create the node if needed, then bring its labels, taints and status to what this kubelet says."""
        with self._lock:
            node = self._nodes.get(name)
            if node is None:
                return
            node.dirty = False
            ready, labels, taints, capacity = node.ready, dict(node.labels), list(node.taints), dict(node.capacity)
            applied = list(node.applied_taints)
        path = f"/api/v1/nodes/{name}"
        try:
            try:
                current: dict[str, Any] | None = self.api.get(path)
            except ApiError as error:
                if not error.not_found:
                    raise
                current = None
            body = kubelet_node(
                name,
                ready=ready,
                labels=labels,
                taints=taints,
                capacity=capacity,
                kubelet_version=self._kubelet_version(),
                timestamp=now_rfc3339(),
                previous=current,
            )
            body["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] = self.log_server.port
            if current is None:
                try:
                    current = self.api.create(
                        "/api/v1/nodes",
                        {"apiVersion": "v1", "kind": "Node", "metadata": body["metadata"], "spec": {}},
                    )
                except ApiError as error:
                    if error.status != 409:
                        raise
                    current = self.api.get(path)
            current = self._update_node_spec(path, current, body, applied)
            self.api.replace(f"{path}/status", {**current, "status": body["status"]})
            with self._lock:
                if name in self._nodes:
                    self._nodes[name].applied_taints = [dict(t) for t in taints]
        except ApiError:
            with self._lock:
                if name in self._nodes:
                    self._nodes[name].dirty = True
            raise

    def _update_node_spec(
        self, path: str, current: dict[str, Any], body: dict[str, Any], applied: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Labels are added (others' labels stay); taints this kubelet manages (its own and not-ready) are set
        as the node lifecycle controller and the registration would, others' taints stay."""
        for _ in range(5):
            spec = dict(current.get("spec") or {})
            labels = {**(current["metadata"].get("labels") or {}), **body["metadata"]["labels"]}
            ours = {(t.get("key"), t.get("effect")) for t in applied} | {(NOT_READY_TAINT["key"], "NoSchedule")}
            old_taints = spec.get("taints") or []
            kept = [t for t in old_taints if (t.get("key"), t.get("effect")) not in ours]
            wanted = []
            for taint in (body.get("spec") or {}).get("taints") or []:
                same = [
                    t for t in old_taints if (t.get("key"), t.get("effect")) == (taint.get("key"), taint.get("effect"))
                ]
                keep = same and same[0].get("value") == taint.get("value")
                wanted.append(same[0] if keep else taint)  # an unchanged taint keeps its timeAdded
            taints = kept + [t for t in wanted if t not in kept]
            if labels == current["metadata"].get("labels") and taints == old_taints:
                return current
            if taints:
                spec["taints"] = taints
            else:
                spec.pop("taints", None)
            updated = {**current, "metadata": {**current["metadata"], "labels": labels}, "spec": spec}
            try:
                return self.api.replace(path, updated)
            except ApiError as error:
                if not error.conflict:
                    raise
                current = self.api.get(path)
        return current

    def _delete_node(self, name: str, workers: list[PodWorker], parked: list[dict[str, Any]]) -> None:
        try:
            self.api.delete(f"/api/v1/nodes/{name}")
        except ApiError as error:
            if not error.not_found:
                log.warning("kubelet: could not delete node %s: %s", name, error)
        pods = [(w.namespace, w.name, w.uid) for w in workers]
        pods += [(p["metadata"]["namespace"], p["metadata"]["name"], p["metadata"]["uid"]) for p in parked]
        for namespace, pod, uid in pods:
            self._force_delete(namespace, pod, uid)

    def _force_delete(self, namespace: str, name: str, uid: str) -> None:
        try:
            self.api.delete(
                f"/api/v1/namespaces/{namespace}/pods/{name}",
                {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}},
            )
        except ApiError as error:
            if error.status not in (404, 409):
                log.warning("kubelet: could not delete pod %s/%s: %s", namespace, name, error)

    def _keep_nodes(self) -> None:
        """Retry failed node writes every second; refresh every node's heartbeat on a slow timer."""
        next_beat = time.monotonic() + self.heartbeat_seconds
        while not self._stopping.is_set():
            with self._lock:
                dirty = any(n.dirty for n in self._nodes.values())
            self._node_wake.wait(_NODE_RETRY_SECONDS if dirty else max(next_beat - time.monotonic(), 0.0))
            self._node_wake.clear()
            if self._stopping.is_set():
                return
            beat = time.monotonic() >= next_beat
            if beat:
                next_beat = time.monotonic() + self.heartbeat_seconds
            with self._lock:
                due = [n.name for n in self._nodes.values() if n.dirty or beat]
            for name in due:
                if self._stopping.is_set():
                    return
                try:
                    self._sync_node(name)
                except ApiError as error:
                    log.debug("kubelet: node %s not written: %s", name, error)

    # --- pods -------------------------------------------------------------------------------------------------

    def _watch_pods(self) -> None:
        """List, then watch from the list's resourceVersion; resume from the last event, relist after a 410."""
        version: str | None = None
        while not self._stopping.is_set():
            try:
                if version is None:
                    listing = self.api.get("/api/v1/pods")
                    version = str(listing["metadata"]["resourceVersion"])
                    self._resync(listing.get("items") or [])
                params = {
                    "watch": "true",
                    "resourceVersion": version,
                    "timeoutSeconds": str(WATCH_SECONDS),
                    "allowWatchBookmarks": "true",
                }
                self._watch = self.api.watch("/api/v1/pods", params, read_timeout=WATCH_SECONDS + 30)
                if self._stopping.is_set():
                    return
                for event in self._watch.events():
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        if obj.get("code") == 410:
                            version = None
                            break
                        raise ApiError(int(obj.get("code") or 500), str(obj.get("message") or ""))
                    version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                    if event.get("type") != "BOOKMARK":
                        self._on_pod(str(event.get("type")), obj)
            except ApiError as error:
                if self._stopping.is_set():
                    return
                if error.status == 410:
                    version = None
                log.debug("kubelet: pod watch interrupted: %s", error)
                self._stopping.wait(_WATCH_RETRY_SECONDS)
            except Exception:
                if self._stopping.is_set():
                    return
                log.exception("kubelet: pod watch failed")
                self._stopping.wait(_WATCH_RETRY_SECONDS)

    def _resync(self, pods: list[dict[str, Any]]) -> None:
        seen = set()
        for pod in pods:
            seen.add(pod["metadata"]["uid"])
            self._on_pod("MODIFIED", pod)
        with self._lock:
            vanished = [w for uid, w in self._workers.items() if uid not in seen]
            for uid in [uid for uid in self._parked if uid not in seen]:
                del self._parked[uid]
        for worker in vanished:
            self._on_pod("DELETED", {"metadata": {"uid": worker.uid}, "spec": {}})

    def _on_pod(self, kind: str, pod: dict[str, Any]) -> None:
        metadata = pod.get("metadata") or {}
        uid = str(metadata.get("uid") or "")
        node_name = (pod.get("spec") or {}).get("nodeName") or ""
        with self._lock:
            worker = self._workers.get(uid)
            if kind == "DELETED":
                self._parked.pop(uid, None)
                if worker is not None:
                    del self._workers[uid]
            node = self._nodes.get(node_name)
        if kind == "DELETED":
            if worker is not None:
                worker.gone()
            return
        if worker is not None:
            if worker.alive:
                worker.update(pod)
            elif metadata.get("deletionTimestamp"):
                self._force_delete(worker.namespace, worker.name, uid)
            return
        if node is None:
            return
        if metadata.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") in TERMINAL_PHASES:
            if metadata.get("deletionTimestamp"):  # never started here: nothing to stop
                self._force_delete(metadata["namespace"], metadata["name"], uid)
            return
        with self._lock:
            if self._stopping.is_set():
                return
            if not node.ready:
                self._parked[uid] = pod
                return
            self._parked.pop(uid, None)
            worker = PodWorker(self, pod, node_name)
            self._workers[uid] = worker
            self._started_workers = [w for w in self._started_workers if w.alive] + [worker]
        worker.start()

    def _unpark(self, node_name: str) -> None:
        with self._lock:
            pods = [p for p in self._parked.values() if p["spec"].get("nodeName") == node_name]
        for pod in pods:
            self._on_pod("MODIFIED", pod)

    # --- what pod workers and the log server ask ----------------------------------------------------------

    def scaled(self, seconds: float, floor: float = MIN_WAIT_SECONDS) -> float:
        """A kubelet wait at the current time scale, never below `floor` (a fast clock must not spin)."""
        scale = self._time_scale() if callable(self._time_scale) else self._time_scale
        return max(seconds / scale if scale > 0 else seconds, floor)

    def pod_dir(self, uid: str) -> Path:
        return self._root / "pods" / uid

    def log_dir(self, namespace: str, name: str, uid: str) -> Path:
        return self._root / "logs" / f"{namespace}_{name}_{uid}"

    def _config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_optional(f"/api/v1/namespaces/{namespace}/configmaps/{name}")

    def _secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_optional(f"/api/v1/namespaces/{namespace}/secrets/{name}")

    def _get_optional(self, path: str) -> dict[str, Any] | None:
        try:
            return self.api.get(path)
        except ApiError as error:
            if error.not_found:
                return None
            raise

    def container_log(self, namespace: str, pod: str, container: str, previous: bool) -> ContainerLog | None:
        with self._lock:
            worker = next((w for w in self._workers.values() if w.namespace == namespace and w.name == pod), None)
        if worker is None:
            return None
        return worker.container_log(container, previous)

    def __repr__(self) -> str:
        return f"Kubelet({self.api.endpoint.server!r}, nodes={self.nodes})"
