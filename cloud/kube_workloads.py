"""Jobs, ConfigMaps, Deployments, Services and pods through the official client, as plain data.

Objects go out as dicts and come back as small pydantic views, so no client model type leaks above `cloud/`.
Waiting is by watch (list, then watch from the list's resourceVersion; relist on 410), never by sleeping,
and every request carries a timeout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.kube import KubeAccess

WATCH_CHUNK_SECONDS = 60
ObjectKind = Literal[
    "Job", "ConfigMap", "Deployment", "Service"
]  # one watch request lasts at most this long, then the stream reconnects


class ContainerView(BaseModel):
    name: str
    state: Literal["waiting", "running", "terminated", "unknown"] = "unknown"
    reason: str = ""
    message: str = ""
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    restart_count: int = 0


class PodView(BaseModel):
    name: str
    uid: str
    phase: str = ""
    node: str = ""
    reason: str = ""
    message: str = ""
    unschedulable: str = ""
    deleted: bool = False
    terminating: bool = False
    ip: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    containers: list[ContainerView] = []

    @property
    def finished(self) -> bool:
        return self.phase in ("Succeeded", "Failed")


class JobView(BaseModel):
    name: str
    uid: str
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    condition: Literal["Complete", "Failed", ""] = ""
    reason: str = ""
    message: str = ""
    start_time: datetime | None = None
    completion_time: datetime | None = None


class DeploymentView(BaseModel):
    name: str
    uid: str
    generation: int = 0
    observed_generation: int = 0
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    template_labels: dict[str, str] = {}
    template_annotations: dict[str, str] = {}
    labels: dict[str, str] = {}
    selector: dict[str, str] = {}
    progress_deadline_exceeded: str = ""
    raw_spec: dict[str, Any] = {}


class ServiceView(BaseModel):
    name: str
    uid: str = ""
    type: str = "ClusterIP"
    cluster_ip: str = ""
    ports: list[int] = []
    ingress: list[str] = []


class NodeView(BaseModel):
    name: str
    labels: dict[str, str] = {}
    taints: list[dict[str, str]] = []
    ready: bool = False


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _container(status: dict[str, Any]) -> ContainerView:
    state = status.get("state") or {}
    view = ContainerView(name=status.get("name", ""), restart_count=int(status.get("restartCount") or 0))
    if "terminated" in state and state["terminated"] is not None:
        t = state["terminated"]
        return view.model_copy(
            update={
                "state": "terminated",
                "reason": t.get("reason") or "",
                "message": t.get("message") or "",
                "exit_code": t.get("exitCode"),
                "started_at": _time(t.get("startedAt")),
                "finished_at": _time(t.get("finishedAt")),
            }
        )
    if "waiting" in state and state["waiting"] is not None:
        w = state["waiting"]
        return view.model_copy(
            update={"state": "waiting", "reason": w.get("reason") or "", "message": w.get("message") or ""}
        )
    if "running" in state and state["running"] is not None:
        return view.model_copy(update={"state": "running", "started_at": _time(state["running"].get("startedAt"))})
    return view


def pod_view(raw: dict[str, Any], *, deleted: bool = False) -> PodView:
    meta = raw.get("metadata") or {}
    spec = raw.get("spec") or {}
    status = raw.get("status") or {}
    unschedulable = ""
    for condition in status.get("conditions") or []:
        if (condition.get("type"), condition.get("status"), condition.get("reason")) == (
            "PodScheduled",
            "False",
            "Unschedulable",
        ):
            unschedulable = condition.get("message") or "the scheduler found no node for the pod"
    statuses = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    return PodView(
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        phase=status.get("phase") or "",
        node=spec.get("nodeName") or "",
        reason=status.get("reason") or "",
        message=status.get("message") or "",
        unschedulable=unschedulable,
        deleted=deleted,
        terminating=bool(meta.get("deletionTimestamp")),
        ip=status.get("podIP") or "",
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        containers=[_container(s) for s in statuses],
    )


def job_view(raw: dict[str, Any]) -> JobView:
    meta = raw.get("metadata") or {}
    status = raw.get("status") or {}
    condition = reason = message = ""
    for c in status.get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            condition, reason, message = c["type"], c.get("reason") or "", c.get("message") or ""
    return JobView(
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        active=int(status.get("active") or 0),
        succeeded=int(status.get("succeeded") or 0),
        failed=int(status.get("failed") or 0),
        condition=condition,  # type: ignore[arg-type]
        reason=reason,
        message=message,
        start_time=_time(status.get("startTime")),
        completion_time=_time(status.get("completionTime")),
    )


def deployment_view(raw: dict[str, Any]) -> DeploymentView:
    meta = raw.get("metadata") or {}
    spec = raw.get("spec") or {}
    status = raw.get("status") or {}
    template = (spec.get("template") or {}).get("metadata") or {}
    stalled = ""
    for c in status.get("conditions") or []:
        if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
            stalled = c.get("message") or "the rollout exceeded its progress deadline"
    return DeploymentView(
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        generation=int(meta.get("generation") or 0),
        observed_generation=int(status.get("observedGeneration") or 0),
        replicas=int(spec.get("replicas") if spec.get("replicas") is not None else 1),
        updated_replicas=int(status.get("updatedReplicas") or 0),
        ready_replicas=int(status.get("readyReplicas") or 0),
        available_replicas=int(status.get("availableReplicas") or 0),
        template_labels=dict(template.get("labels") or {}),
        template_annotations=dict(template.get("annotations") or {}),
        labels=dict(meta.get("labels") or {}),
        selector=dict((spec.get("selector") or {}).get("matchLabels") or {}),
        progress_deadline_exceeded=stalled,
        raw_spec=spec,
    )


def service_view(raw: dict[str, Any]) -> ServiceView:
    spec = raw.get("spec") or {}
    ingress = ((raw.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return ServiceView(
        name=(raw.get("metadata") or {}).get("name", ""),
        uid=(raw.get("metadata") or {}).get("uid", ""),
        type=spec.get("type") or "ClusterIP",
        cluster_ip=spec.get("clusterIP") or "",
        ports=[int(p.get("port")) for p in spec.get("ports") or [] if p.get("port")],
        ingress=[i.get("ip") or i.get("hostname") or "" for i in ingress],
    )


def node_view(raw: dict[str, Any]) -> NodeView:
    conditions = (raw.get("status") or {}).get("conditions") or []
    return NodeView(
        name=(raw.get("metadata") or {}).get("name", ""),
        labels=dict((raw.get("metadata") or {}).get("labels") or {}),
        taints=[
            {k: str(v) for k, v in t.items() if k in ("key", "value", "effect")}
            for t in (raw.get("spec") or {}).get("taints") or []
        ],
        ready=any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions),
    )


class _Gone(Exception):
    """The watch's resourceVersion is too old: list again."""


class KubeWorkloads:
    """Workload calls on one cluster. Build it around a KubeAccess; it adds no state of its own."""

    def __init__(self, access: KubeAccess) -> None:
        self.access = access

    def __repr__(self) -> str:
        return "KubeWorkloads(<kubeconfig hidden>)"

    @property
    def _timeout(self) -> float:
        return self.access.timeout_s

    def _core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.access.api_client())

    def _batch(self) -> Any:
        from kubernetes import client

        return client.BatchV1Api(self.access.api_client())

    def _apps(self) -> Any:
        from kubernetes import client

        return client.AppsV1Api(self.access.api_client())

    @staticmethod
    def _json(response: Any) -> dict[str, Any]:
        data = response.data
        return json.loads(data) if data else {}

    # --- namespaces and nodes -----------------------------------------------------------------------------

    def namespace_exists(self, namespace: str) -> bool:
        return self.namespace_labels(namespace) is not None

    def namespace_labels(self, namespace: str) -> dict[str, str] | None:
        """A namespace's labels (None when it does not exist): some make every pod in it billed."""
        with self.access.calling("ReadNamespace"):
            try:
                raw = self._json(
                    self._core().read_namespace(namespace, _request_timeout=self._timeout, _preload_content=False)
                )
            except Exception as exc:
                if getattr(exc, "status", None) == 404:
                    return None
                raise
        return dict((raw.get("metadata") or {}).get("labels") or {})

    def nodes(self, label_selector: str = "") -> list[NodeView]:
        with self.access.calling("ListNodes"):
            raw = self._json(
                self._core().list_node(
                    label_selector=label_selector, _request_timeout=self._timeout, _preload_content=False
                )
            )
        return [node_view(n) for n in raw.get("items") or []]

    # --- create / read / delete -----------------------------------------------------------------------------

    def create_config_map(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.access.calling("CreateConfigMap"):
            return self._json(
                self._core().create_namespaced_config_map(
                    namespace, body, _request_timeout=self._timeout, _preload_content=False
                )
            )

    def adopt_config_map(self, namespace: str, name: str, owner: dict[str, Any]) -> None:
        """Make the ConfigMap a dependent of `owner`, so the garbage collector removes it with the owner."""
        patch = {"metadata": {"ownerReferences": [owner]}}
        with self.access.calling("PatchConfigMap"):
            self._core().patch_namespaced_config_map(
                name, namespace, patch, _request_timeout=self._timeout, _preload_content=False
            )

    def create_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.access.calling("CreateJob"):
            return self._json(
                self._batch().create_namespaced_job(
                    namespace, body, _request_timeout=self._timeout, _preload_content=False
                )
            )

    def _call(self, verb: Literal["read", "delete"], kind: ObjectKind) -> Any:
        """The official client's method for `verb` on `kind` (namespaced)."""
        api, resource = {
            "Job": (self._batch, "job"),
            "ConfigMap": (self._core, "config_map"),
            "Deployment": (self._apps, "deployment"),
            "Service": (self._core, "service"),
        }[kind]
        return getattr(api(), f"{verb}_namespaced_{resource}")

    def read(self, kind: ObjectKind, namespace: str, name: str) -> dict[str, Any] | None:
        """The object as the server sent it, or None when it does not exist."""
        with self.access.calling(f"Read{kind}"):
            try:
                return self._json(
                    self._call("read", kind)(name, namespace, _request_timeout=self._timeout, _preload_content=False)
                )
            except Exception as exc:
                if getattr(exc, "status", None) == 404:
                    return None
                raise

    def read_job(self, namespace: str, name: str) -> JobView | None:
        raw = self.read("Job", namespace, name)
        return job_view(raw) if raw is not None else None

    def labels_of(self, kind: ObjectKind, namespace: str, name: str) -> dict[str, str] | None:
        """An object's labels (None when it does not exist): cleanup checks them before deleting."""
        raw = self.read(kind, namespace, name)
        return dict((raw.get("metadata") or {}).get("labels") or {}) if raw is not None else None

    def delete(self, kind: ObjectKind, namespace: str, name: str) -> bool:
        """Delete with background propagation (dependents go too); False when it was already gone."""
        with self.access.calling(f"Delete{kind}"):
            try:
                self._call("delete", kind)(
                    name,
                    namespace,
                    propagation_policy="Background",
                    _request_timeout=self._timeout,
                    _preload_content=False,
                )
                return True
            except Exception as exc:
                if getattr(exc, "status", None) == 404:
                    return False
                raise

    def pods(self, namespace: str, label_selector: str) -> list[PodView]:
        with self.access.calling("ListPods"):
            raw = self._json(
                self._core().list_namespaced_pod(
                    namespace, label_selector=label_selector, _request_timeout=self._timeout, _preload_content=False
                )
            )
        return [pod_view(p) for p in raw.get("items") or []]

    def pod_log(self, namespace: str, pod: str, container: str, *, tail_lines: int | None, limit_bytes: int) -> str:
        """The last `tail_lines` lines (None: from the start) of a container's log, at most `limit_bytes` read."""
        with self.access.calling("ReadPodLog"):
            response = self._core().read_namespaced_pod_log(
                pod,
                namespace,
                container=container,
                tail_lines=tail_lines,
                limit_bytes=limit_bytes,
                _request_timeout=self._timeout,
                _preload_content=False,
            )
            return bytes(response.data or b"").decode("utf-8", errors="replace")

    # --- deployments and services ---------------------------------------------------------------------------

    def create_deployment(self, namespace: str, body: dict[str, Any]) -> DeploymentView:
        with self.access.calling("CreateDeployment"):
            return deployment_view(
                self._json(
                    self._apps().create_namespaced_deployment(
                        namespace, body, _request_timeout=self._timeout, _preload_content=False
                    )
                )
            )

    def replace_deployment(self, namespace: str, name: str, body: dict[str, Any]) -> DeploymentView:
        with self.access.calling("ReplaceDeployment"):
            return deployment_view(
                self._json(
                    self._apps().replace_namespaced_deployment(
                        name, namespace, body, _request_timeout=self._timeout, _preload_content=False
                    )
                )
            )

    def apply_service(self, namespace: str, body: dict[str, Any]) -> ServiceView:
        """Create the Service, or update its ports and selector when it exists (the cluster IP is kept)."""
        name = body["metadata"]["name"]
        with self.access.calling("ApplyService"):
            try:
                raw = self._json(
                    self._core().create_namespaced_service(
                        namespace, body, _request_timeout=self._timeout, _preload_content=False
                    )
                )
            except Exception as exc:
                if getattr(exc, "status", None) != 409:
                    raise
                patch = {"spec": {"ports": body["spec"]["ports"], "selector": body["spec"]["selector"]}}
                raw = self._json(
                    self._core().patch_namespaced_service(
                        name, namespace, patch, _request_timeout=self._timeout, _preload_content=False
                    )
                )
        return service_view(raw)

    # --- watching -------------------------------------------------------------------------------------------

    def _stream(self, list_call: Any, args: tuple[Any, ...], version: str, seconds: float, **kw: Any) -> Iterator[dict]:
        from kubernetes.watch.watch import iter_resp_lines

        timeout = max(1, min(int(seconds) + 1, WATCH_CHUNK_SECONDS))
        response = list_call(
            *args,
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout,
            _request_timeout=(self._timeout, timeout + self._timeout),
            _preload_content=False,
            **kw,
        )
        try:
            for line in iter_resp_lines(response):
                if not line:
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    if status.get("code") == 410:
                        raise _Gone()
                    raise CloudError("Watch", status.get("reason") or "WatchError", status.get("message") or "")
                yield event
        finally:
            response.close()
            response.release_conn()

    def watch_objects(
        self, kind: Literal["Pod", "Job", "Deployment"], namespace: str, deadline: float, **selectors: str
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(event type, object) for every matching object: first the current ones as ADDED, then changes,
        until `deadline` (time.monotonic()); relists after 410 so no change is missed."""
        calls = {
            "Pod": lambda: self._core().list_namespaced_pod,
            "Job": lambda: self._batch().list_namespaced_job,
            "Deployment": lambda: self._apps().list_namespaced_deployment,
        }
        list_call = calls[kind]()
        with self.access.calling(f"Watch{kind}s"):
            while time.monotonic() < deadline:
                listing = self._json(
                    list_call(namespace, _request_timeout=self._timeout, _preload_content=False, **selectors)
                )
                version = (listing.get("metadata") or {}).get("resourceVersion") or ""
                for item in listing.get("items") or []:
                    yield "ADDED", item
                try:
                    while (remaining := deadline - time.monotonic()) > 0:
                        for event in self._stream(list_call, (namespace,), version, remaining, **selectors):
                            obj = event.get("object") or {}
                            version = (obj.get("metadata") or {}).get("resourceVersion") or version
                            if event["type"] != "BOOKMARK":
                                yield event["type"], obj
                            if time.monotonic() >= deadline:
                                return
                except _Gone:
                    continue
