"""The control loops a cluster runs besides the apiserver: the namespace controller, a scheduler and the
garbage collector. They run on the hub's event loop, woken by store events, and write through the same
write path as clients (under their own field-manager names)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ack_compute.sandbox.kube.auth import MASTERS_GROUP, UserInfo
from ack_compute.sandbox.kube.context import KubeVersion, WriteContext, now_rfc3339
from ack_compute.sandbox.kube.namespaces import FINALIZER, deletion_conditions
from ack_compute.sandbox.kube.objects import DeleteOptions, Objects
from ack_compute.sandbox.kube.quantity import parse_quantity
from ack_compute.sandbox.kube.registry import Kind, Registry
from ack_compute.sandbox.kube.status import StatusError
from ack_compute.sandbox.kube.store import Event, Obj

log = logging.getLogger("ack_compute.sandbox.kube")

CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
_SYSTEM = UserInfo("system:kube-controller-manager", (MASTERS_GROUP,))
# The namespace controller waits this long after a namespace starts terminating (namespaceDeletionGracePeriod),
# so caches catch up; clients see Terminating for about this long even for an empty namespace.
NAMESPACE_DELETION_DELAY_SECONDS = 5.0
UNSCHEDULABLE_RETRY_SECONDS = 60.0


class Controllers:
    """Coalesces store events into reconcile passes on the event loop; `delay` spaces them out."""

    def __init__(
        self,
        objects: Objects,
        registry: Registry,
        version: KubeVersion,
        *,
        delay: float = 0.005,
        time_scale: float = 1.0,
    ) -> None:
        self._objects = objects
        self._registry = registry
        self._version = version
        self._delay = delay
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending = False
        self._deleted_uids: set[str] = set()
        self._namespace_due: dict[str, float] = {}
        self._wake_at: float | None = None
        self._steps: list[Callable[[], None]] = [self._namespaces, self._garbage, self._scheduler]
        # The scheduler retries an unschedulable pod only when the pod (not its status) or the nodes changed,
        # or after a minute, like the scheduling queue's unschedulable pods.
        self._nodes_generation = 0
        self._attempts: dict[str, tuple[str, int, float]] = {}
        self.namespace_delay = NAMESPACE_DELETION_DELAY_SECONDS / time_scale
        self._retry_seconds = UNSCHEDULABLE_RETRY_SECONDS / time_scale
        self.enabled = True

    def register(self, step: Callable[[], None]) -> None:
        """Add a reconcile step (a Job or Deployment controller, a kubelet): it runs on the hub's event loop
        after every batch of store events, and must be idempotent and quick."""
        self._steps.append(step)

    def later(self, seconds: float) -> None:
        """Make the steps run again in `seconds` even if nothing changes (for time-based work)."""
        self._later(seconds)

    def attach(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._loop = loop
        if loop is not None:
            self.kick()

    def on_event(self, event: Event) -> None:
        """A store listener: runs under the store lock on any thread, so it only schedules work."""
        if event.type == "DELETED":
            uid = (event.obj.get("metadata") or {}).get("uid")
            if uid:
                self._deleted_uids.add(uid)
                self._attempts.pop(uid, None)
        if event.kind_key == "/nodes" and event.type != "DELETED":
            self._nodes_generation += 1  # a node going away gives no unschedulable pod a new chance
        self.kick()

    def kick(self) -> None:
        loop = self._loop
        if loop is None or self._pending or loop.is_closed():
            return
        self._pending = True
        try:
            loop.call_soon_threadsafe(self._schedule)
        except RuntimeError:
            self._pending = False

    def _schedule(self) -> None:
        assert self._loop is not None
        self._loop.call_later(self._delay, self._run)

    def _run(self) -> None:
        self._pending = False
        if not self.enabled:
            return
        for step in list(self._steps):
            try:
                step()
            except Exception:
                log.exception("kube controller step %s failed", step.__name__)

    def _ctx(self, manager: str) -> WriteContext:
        return WriteContext(self._objects.store, self._registry, self._version, _SYSTEM, manager, datetime.now(UTC))

    def _kind(self, group: str, version: str, resource: str) -> Kind:
        kind = self._registry.lookup(group, version, resource)
        assert kind is not None
        return kind

    # --- namespace controller ------------------------------------------------------------------------------

    def _namespaces(self) -> None:
        ns_kind = self._kind("", "v1", "namespaces")
        namespaces, _ = self._objects.store.list(ns_kind.key, None)
        now = time.monotonic()
        terminating = set()
        for namespace in namespaces:
            metadata = namespace["metadata"]
            if not metadata.get("deletionTimestamp") or FINALIZER not in (namespace.get("spec") or {}).get(
                "finalizers", []
            ):
                continue
            key = f"{metadata['name']}/{metadata.get('uid')}"
            terminating.add(key)
            due = self._namespace_due.setdefault(key, now + self.namespace_delay)
            if now < due:
                self._later(due - now)
                continue
            self._empty_namespace(ns_kind, namespace)
        for key in set(self._namespace_due) - terminating:
            del self._namespace_due[key]

    def _empty_namespace(self, ns_kind: Kind, namespace: Obj) -> None:
        name = namespace["metadata"]["name"]
        ctx = self._ctx(CONTROLLER_MANAGER)
        remaining: dict[str, int] = {}
        wait = 0.0
        for kind in self._registry.stored_namespaced():
            page = self._objects.list(kind, name)
            for item in page.items:
                try:
                    self._objects.delete(kind, name, item["metadata"]["name"], DeleteOptions(), ctx)
                except StatusError as error:
                    if error.code != 404:
                        raise
            left, _ = self._objects.store.list(kind.key, name)
            if left:
                # The controller prints resource "." group, so core resources read "pods." in the message.
                remaining[f"{kind.resource}.{kind.group}"] = len(left)
                grace = [i["metadata"].get("deletionGracePeriodSeconds") or 0 for i in left]
                wait = max(wait, float(max(grace)) if grace else 1.0)
        latest = self._objects.store.get(ns_kind.key, "", name)
        if latest is None:
            return
        conditions = deletion_conditions(remaining, ctx.timestamp)
        old_conditions = {c["type"]: c for c in (latest.get("status") or {}).get("conditions") or []}
        changed = any(
            {k: v for k, v in c.items() if k != "lastTransitionTime"}
            != {k: v for k, v in old_conditions.get(c["type"], {}).items() if k != "lastTransitionTime"}
            for c in conditions
        )
        if changed:
            for condition in conditions:
                old = old_conditions.get(condition["type"])
                if old is not None and old.get("status") == condition["status"]:
                    condition["lastTransitionTime"] = old.get("lastTransitionTime", condition["lastTransitionTime"])
            latest.setdefault("status", {})["conditions"] = conditions
            self._objects.try_update(ns_kind, latest, ctx, subresource="status")
        if remaining:
            self._later(max(wait, 1.0))
            return
        left = [f for f in (latest.get("spec") or {}).get("finalizers") or [] if f != FINALIZER]
        self._objects.finalize_namespace(name, left)

    def _later(self, seconds: float) -> None:
        """Wake up in `seconds`, unless an earlier wake-up is already due."""
        if self._loop is None:
            return
        due = time.monotonic() + seconds
        if self._wake_at is not None and time.monotonic() < self._wake_at <= due:
            return
        self._wake_at = due
        self._loop.call_later(seconds, self._wake)

    def _wake(self) -> None:
        self._wake_at = None
        self.kick()

    # --- garbage collector (background propagation) -----------------------------------------------------------

    def _garbage(self) -> None:
        if not self._deleted_uids:
            return
        with self._objects.store.lock:  # on_event adds to the set from writers' threads under this lock
            gone, self._deleted_uids = self._deleted_uids, set()
        ctx = self._ctx(CONTROLLER_MANAGER)
        for kind in self._registry.all():
            if not kind.stored:
                continue
            items, _ = self._objects.store.list(kind.key, None)
            for item in items:
                owners = item["metadata"].get("ownerReferences") or []
                if not owners or not any(owner.get("uid") in gone for owner in owners):
                    continue
                if all(owner.get("uid") in gone or not self._owner_exists(owner, item) for owner in owners):
                    try:
                        meta = item["metadata"]
                        self._objects.delete(kind, meta.get("namespace") or "", meta["name"], DeleteOptions(), ctx)
                    except StatusError as error:
                        if error.code != 404:
                            raise

    def _owner_exists(self, owner: dict[str, Any], dependent: Obj) -> bool:
        kind = self._registry.by_kind(owner.get("apiVersion") or "", owner.get("kind") or "")
        if kind is None:
            return False
        namespace = dependent["metadata"].get("namespace") or "" if kind.namespaced else ""
        found = self._objects.store.get(kind.key, namespace, owner.get("name") or "")
        return found is not None and found["metadata"].get("uid") == owner.get("uid")

    # --- scheduler ---------------------------------------------------------------------------------------------

    def _scheduler(self) -> None:
        pod_kind = self._kind("", "v1", "pods")
        node_kind = self._kind("", "v1", "nodes")
        pods, _ = self._objects.store.list(pod_kind.key, None)
        pending = [
            p
            for p in pods
            if not (p.get("spec") or {}).get("nodeName")
            and (p.get("spec") or {}).get("schedulerName", "default-scheduler") == "default-scheduler"
            and not p["metadata"].get("deletionTimestamp")
        ]
        if not pending:
            return
        nodes, _ = self._objects.store.list(node_kind.key, None)
        load = _node_load(pods)
        now = time.monotonic()
        retry = False
        for pod in pending:
            uid = pod["metadata"].get("uid", "")
            signature = _scheduling_signature(pod)
            previous = self._attempts.get(uid)
            if (
                previous is not None
                and previous[0] == signature
                and previous[1] == self._nodes_generation
                and now - previous[2] < self._retry_seconds
            ):
                continue
            self._attempts[uid] = (signature, self._nodes_generation, now)
            reasons: dict[str, int] = {}
            fits: list[Obj] = []
            for node in nodes:
                reason = _unfit_reason(pod, node, load)
                if reason is None:
                    fits.append(node)
                else:
                    reasons[reason] = reasons.get(reason, 0) + 1
            if fits:
                target = min(fits, key=lambda n: (load.get(n["metadata"]["name"], _Load()).pods, n["metadata"]["name"]))
                if self._bind(pod_kind, pod, target["metadata"]["name"]):
                    load.setdefault(target["metadata"]["name"], _Load()).add(pod)
            else:
                self._mark_unschedulable(pod_kind, pod, _fit_error(len(nodes), reasons))
                retry = True
        if retry:
            self._later(self._retry_seconds)

    def _bind(self, pod_kind: Kind, pod: Obj, node_name: str) -> bool:
        """The binding subresource: sets spec.nodeName and PodScheduled=True without the field manager."""
        store = self._objects.store
        with store.lock:
            current = store.get(pod_kind.key, pod["metadata"]["namespace"], pod["metadata"]["name"])
            if current is None or current["spec"].get("nodeName") or current["metadata"].get("deletionTimestamp"):
                return False
            bind_pod(current, node_name, now_rfc3339())
            store.update(pod_kind.key, current)
            return True

    def _mark_unschedulable(self, pod_kind: Kind, pod: Obj, message: str) -> None:
        conditions = (pod.get("status") or {}).get("conditions") or []
        existing = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
        if existing and existing.get("status") == "False" and existing.get("message") == message:
            return
        ctx = self._ctx(SCHEDULER)
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "lastProbeTime": None,
            "lastTransitionTime": existing.get("lastTransitionTime")
            if existing and existing.get("status") == "False"
            else ctx.timestamp,
            "reason": "Unschedulable",
            "message": message,
        }
        status = pod.setdefault("status", {})
        status["conditions"] = [c for c in conditions if c.get("type") != "PodScheduled"] + [condition]
        self._objects.try_update(pod_kind, pod, ctx, subresource="status")


def _scheduling_signature(pod: Obj) -> str:
    """What makes the scheduler look at a pod again: anything but its status and resourceVersion."""
    metadata = {k: v for k, v in pod["metadata"].items() if k not in ("resourceVersion", "managedFields", "generation")}
    return json.dumps([metadata, pod.get("spec")], sort_keys=True)


def bind_pod(pod: Obj, node_name: str, timestamp: str) -> None:
    pod["spec"]["nodeName"] = node_name
    status = pod.setdefault("status", {})
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    conditions.append(
        {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": timestamp}
    )
    status["conditions"] = conditions


class _Load:
    def __init__(self) -> None:
        self.pods = 0
        self.requested: dict[str, Decimal] = {}

    def add(self, pod: Obj) -> None:
        self.pods += 1
        for name, amount in _requests(pod).items():
            self.requested[name] = self.requested.get(name, Decimal(0)) + amount


def _requests(pod: Obj) -> dict[str, Decimal]:
    """Every resource the pod's containers request, extended ones (nvidia.com/gpu) included: the scheduler's
    NodeResourcesFit filter checks them all. A limit without a request counts as the request, as the API server's
    defaulting makes it."""
    total: dict[str, Decimal] = {}
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        wanted = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name, value in wanted.items():
            try:
                total[name] = total.get(name, Decimal(0)) + parse_quantity(value)
            except ValueError:
                continue
    return total


def _node_load(pods: list[Obj]) -> dict[str, _Load]:
    load: dict[str, _Load] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        phase = (pod.get("status") or {}).get("phase")
        if node and phase not in ("Succeeded", "Failed"):
            load.setdefault(node, _Load()).add(pod)
    return load


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
            continue
        operator = toleration.get("operator") or "Equal"
        key = toleration.get("key") or ""
        if operator == "Exists":
            if not key or key == taint.get("key"):
                return True
        elif key == taint.get("key") and (toleration.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _unfit_reason(pod: Obj, node: Obj, load: dict[str, _Load]) -> str | None:
    """The first failing filter, in the default profile's order (unschedulable, taints, node selector,
    resources), as its reason reads in the condition."""
    spec = pod.get("spec") or {}
    node_spec = node.get("spec") or {}
    if node_spec.get("unschedulable"):
        return "node(s) were unschedulable"
    tolerations = spec.get("tolerations") or []
    for taint in node_spec.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(tolerations, taint):
            return f"node(s) had taint {{{taint.get('key')}: {taint.get('value') or ''}}}, that the pod didn't tolerate"
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(key) != value for key, value in (spec.get("nodeSelector") or {}).items()):
        return "node(s) didn't match node selector"
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    used = load.get(node["metadata"]["name"], _Load())
    try:
        if "pods" in allocatable and used.pods + 1 > parse_quantity(allocatable["pods"]):
            return "Too many pods"
        wanted = _requests(pod)
        # cpu and memory first, as the filter reports them; a resource the node does not offer has 0 allocatable.
        for name in sorted(wanted, key=lambda n: (n not in ("cpu", "memory"), n != "cpu", n)):
            amount = wanted[name]
            if amount and used.requested.get(name, Decimal(0)) + amount > parse_quantity(allocatable.get(name, 0)):
                return f"Insufficient {name}"
    except ValueError:
        pass
    return None


def _fit_error(node_count: int, reasons: dict[str, int]) -> str:
    if node_count == 0:
        return "no nodes available to schedule pods"
    histogram = sorted(f"{count} {reason}" for reason, count in reasons.items())
    return f"0/{node_count} nodes are available: {', '.join(histogram)}."
