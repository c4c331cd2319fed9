"""Kubernetes access through the official client, from a temporary kubeconfig held only in memory.

Completion is detected by watching, never by sleeping; every request carries a timeout so a cluster
that never answers costs a bounded wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from ack_compute.cloud.errors import CloudError


class NodeInfo(BaseModel):
    name: str
    ready: bool
    labels: dict[str, str] = {}


def _node(raw: Any) -> NodeInfo:
    conditions = (raw.status.conditions if raw.status else None) or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    return NodeInfo(name=raw.metadata.name, ready=ready, labels=dict(raw.metadata.labels or {}))


class _FromCaller(Exception):
    """Carries an exception raised by the caller's callback through `_calling`, which would otherwise report it as
    the cluster being unreachable (and a cancel during a node wait as a retryable cloud failure)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(type(error).__name__)
        self.error = error


class KubeAccess:
    """One cluster's API. Build it per use; it keeps the kubeconfig, client key included, in memory and nowhere
    else (see cloud/kube_tls.py: the official loader would write keys to temp files)."""

    def __init__(self, kubeconfig: SecretStr, *, timeout_s: float = 10.0) -> None:
        self._kubeconfig = kubeconfig
        self.timeout_s = timeout_s
        self._client: Any = None

    def __repr__(self) -> str:
        return "KubeAccess(<kubeconfig hidden>)"

    def api_client(self) -> Any:
        """The official client's ApiClient for this cluster (built on first use)."""
        return self._api()

    def _api(self) -> Any:
        if self._client is None:
            import yaml

            from ack_compute.cloud.kube_tls import KubeconfigError, new_api_client

            try:
                self._client = new_api_client(yaml.safe_load(self._kubeconfig.get_secret_value()))
            except KubeconfigError as exc:  # names the field, never its content
                message = f"the kubeconfig cannot be used: {exc}"
                raise CloudError("LoadKubeconfig", "InvalidKubeconfig", message) from None
            except Exception as exc:  # a malformed kubeconfig must not echo its content
                raise CloudError("LoadKubeconfig", "InvalidKubeconfig", type(exc).__name__) from None
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def calling(self, action: str) -> Any:
        """A context that turns client failures into CloudError without the request (which holds the token)."""
        return self._calling(action)

    @contextmanager
    def _calling(self, action: str) -> Iterator[None]:
        """Translate client failures into CloudError without the request (which holds the token)."""
        from kubernetes.client.exceptions import ApiException

        try:
            yield
        except ApiException as exc:
            raise CloudError(action, exc.reason or "ApiError", _status_message(exc), status=exc.status) from None
        except CloudError:
            raise
        except _FromCaller as passed:  # the caller's own error (a cancel, a lost hold) is not the cluster's
            raise passed.error from None
        except Exception as exc:
            text = str(exc).lower()
            kind = "timed out" if "timed out" in text or "timeout" in text else "unreachable"
            raise CloudError(action, "KubernetesUnreachable", f"the cluster's API is {kind}", retryable=True) from None

    def can_i(self, verb: str, resource: str, *, group: str = "", namespace: str = "default") -> tuple[bool, str]:
        """SelfSubjectAccessReview: may these credentials do `verb` on `resource`? Returns (allowed, reason)."""
        from kubernetes import client

        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    verb=verb, resource=resource, group=group, namespace=namespace
                )
            )
        )
        with self._calling("SelfSubjectAccessReview"):
            answer = client.AuthorizationV1Api(self._api()).create_self_subject_access_review(
                review, _request_timeout=self.timeout_s
            )
        return bool(answer.status.allowed), answer.status.reason or ""

    def nodes(self) -> list[NodeInfo]:
        from kubernetes import client

        with self._calling("ListNodes"):
            items = client.CoreV1Api(self._api()).list_node(_request_timeout=self.timeout_s).items
        return [_node(n) for n in items]

    def wait_ready_nodes(
        self,
        minimum: int,
        timeout_s: float,
        on_change: Callable[[int, int], None] | None = None,
        *,
        label_selector: str | None = None,
    ) -> int:
        """Watch nodes until at least `minimum` are Ready or the time is up; returns the Ready count.
        `label_selector` (e.g. `type=virtual-kubelet`) counts only the matching nodes."""
        from kubernetes import client, watch
        from kubernetes.client.exceptions import ApiException

        core = client.CoreV1Api(self._api())
        deadline = time.monotonic() + timeout_s
        with self._calling("WatchNodes"):
            while True:
                listing = core.list_node(label_selector=label_selector, _request_timeout=self.timeout_s)
                nodes = {n.metadata.name: _node(n) for n in listing.items}
                version = listing.metadata.resource_version
                ready = self._report(nodes, on_change)
                try:
                    while ready < minimum and (remaining := deadline - time.monotonic()) > 0:
                        watcher = watch.Watch()
                        for event in watcher.stream(
                            core.list_node,
                            label_selector=label_selector,
                            resource_version=version,
                            timeout_seconds=max(1, int(remaining)),
                            _request_timeout=remaining + self.timeout_s,
                        ):
                            obj = event["object"]
                            version = obj.metadata.resource_version
                            if event["type"] == "DELETED":
                                nodes.pop(obj.metadata.name, None)
                            else:
                                nodes[obj.metadata.name] = _node(obj)
                            ready = self._report(nodes, on_change)
                            if ready >= minimum:
                                watcher.stop()
                    return ready
                except ApiException as exc:
                    if exc.status != 410:  # 410 Gone: our resourceVersion is too old; list again
                        raise

    @staticmethod
    def _report(nodes: dict[str, NodeInfo], on_change: Callable[[int, int], None] | None) -> int:
        ready = sum(n.ready for n in nodes.values())
        if on_change:
            try:
                on_change(ready, len(nodes))
            except Exception as exc:
                raise _FromCaller(exc) from exc
        return ready

    def registry_prefix(self) -> str | None:
        """The cluster's image registry prefix, read from a kube-system pod's image (e.g. .../acs)."""
        from kubernetes import client

        with self._calling("ListPods"):
            pods = client.CoreV1Api(self._api()).list_namespaced_pod("kube-system", _request_timeout=self.timeout_s)
        for pod in pods.items:
            for container in pod.spec.containers or []:
                image = container.image or ""
                if "aliyuncs.com/" in image:
                    return image.rsplit("/", 1)[0]
        return None


def _status_message(exc: Any) -> str:
    import json

    try:
        return str(json.loads(exc.body).get("message") or exc.reason)
    except (TypeError, ValueError):
        return str(exc.reason or "request failed")


def context_kubeconfig(path: Path, context: str, *, allow_exec: bool = False) -> SecretStr:
    """One context of a local kubeconfig file (an ACK One registered cluster, or any cluster), reduced to
    that context's cluster and user, held in memory only. Errors name neither the file, its content nor its
    other contexts (they reach callers). A user that authenticates through a program (`exec` credential plugin,
    or the legacy `auth-provider`, which can run `cmd-path`) is refused unless `allow_exec`: the kubernetes
    client would run it on this machine (kubernetes/config/kube_config.py, ExecProvider)."""
    import yaml

    try:
        document = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise CloudError(
            "LoadKubeconfig", "KubeconfigUnreadable", f"the kubeconfig cannot be read ({exc.strerror})"
        ) from None
    except Exception as exc:
        raise CloudError(
            "LoadKubeconfig", "InvalidKubeconfig", f"the kubeconfig is not YAML ({type(exc).__name__})"
        ) from None
    if not isinstance(document, dict):
        raise CloudError("LoadKubeconfig", "InvalidKubeconfig", "the kubeconfig is not a mapping")
    contexts = {c.get("name"): c.get("context") or {} for c in document.get("contexts") or [] if isinstance(c, dict)}
    if context not in contexts:
        raise CloudError("LoadKubeconfig", "ContextNotFound", f"context {context} is not in the server's kubeconfig")
    chosen = contexts[context]
    clusters = [
        c for c in document.get("clusters") or [] if isinstance(c, dict) and c.get("name") == chosen.get("cluster")
    ]
    users = [u for u in document.get("users") or [] if isinstance(u, dict) and u.get("name") == chosen.get("user")]
    if not clusters:
        raise CloudError("LoadKubeconfig", "InvalidKubeconfig", f"context {context} names no cluster in the kubeconfig")
    if not allow_exec and any(uses_credential_program(u) for u in users):
        raise CloudError(
            "LoadKubeconfig",
            "CredentialProgramRefused",
            f"context {context} authenticates with an exec credential plugin or auth-provider, which would run a "
            "program on the server",
        )
    reduced = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "users": users,
        "contexts": [{"name": context, "context": chosen}],
        "current-context": context,
    }
    return SecretStr(yaml.safe_dump(reduced))


def uses_credential_program(user: dict[str, Any]) -> bool:
    """Whether a kubeconfig `users[]` entry gets its credentials from a program (exec) or a legacy auth-provider."""
    body = user.get("user") or {}
    return isinstance(body, dict) and bool(body.get("exec") or body.get("auth-provider"))
