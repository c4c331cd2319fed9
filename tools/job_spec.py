"""The Job a script runs as: the request, the outcome, and the manifests (Job and script ConfigMap), apart from
how run_job starts, watches and judges it. The script travels in a ConfigMap mounted read-only, never on a command
line (no ARG_MAX limit, nothing in `ps`).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ack_compute.tools import acs_placement
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.node_pool_spec import POOL_NAME
from ack_compute.tools.ownership import mark
from ack_compute.tools.plans import AcsPlan
from ack_compute.tools.targets import CLUSTER_REF_PATTERN

RUN_LABEL = "ack-compute-mcp/run"
SCRIPT_MOUNT = "/acf/script"
CONTAINER = "script"
TTL_AFTER_FINISHED = 300
# ack-virtual-node's ECI Scheduler runs every new pod of a namespace with this label on ECI, billed per pod: "Add the
# tag alibabacloud.com/eci=true to a Kubernetes cluster namespace. Then, new pods are scheduled to virtual nodes"
# (www.alibabacloud.com/help/en/edas/use-cases/configure-virtual-nodes-for-a-kubernetes-application; the ECI
# Scheduler "routes pods to ECI based on pod or namespace labels", .../ack-managed-and-ack-dedicated/user-guide/
# configure-an-eci-profile). compute=nodes promises no new cost, so it refuses such a namespace.
ECI_NAMESPACE_LABEL = "alibabacloud.com/eci"
# Kubernetes' initial namespaces for the cluster's own components ("kube-system: The namespace for objects created by
# the Kubernetes system", kube-public, kube-node-lease; kubernetes.io/docs/concepts/overview/working-with-objects/
# namespaces/#initial-namespaces). Nothing an agent runs belongs there: a Service named for an add-on not yet
# installed would receive its traffic later.
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})


def refuse_system_namespace(namespace: str) -> None:
    if namespace in SYSTEM_NAMESPACES:
        raise AckComputeError(
            f"Namespace {namespace} belongs to the cluster's own components; this server never creates anything there.",
            "Use another namespace (default is `default`). Nothing was created.",
        )


MAX_SCRIPT_BYTES = 512 * 1024  # a ConfigMap holds at most 1 MiB
DEADLINE_GRACE_SECONDS = 30.0  # after activeDeadlineSeconds, the Job controller needs a moment to say so
MAX_LOG_READ_BYTES = 32 * 1024 * 1024
IMAGE_PATTERN = r"^[a-z0-9][a-z0-9._\-/:@]{0,254}$"
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
FALLBACK_IMAGES = {"shell": "busybox:1.36", "python": "python:3.12-slim"}
REGISTRY_IMAGES = {"shell": "busybox", "python": "python:3.10-slim"}
INTERPRETERS = {"shell": ["sh"], "python": ["python3", "-u"]}
SCRIPT_FILES = {"shell": "run.sh", "python": "run.py"}


class JobRequest(BaseModel):
    """What the agent asks for; validated completely before any cloud call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: str = Field(
        pattern=CLUSTER_REF_PATTERN,
        description="ACK cluster id or name, or context:<name> for a cluster in the local kubeconfig "
        "(ACK One registered clusters, any other cluster).",
    )
    script: str = Field(min_length=1, description="The script's text (at most 512 KiB).")
    script_type: Literal["shell", "python"] = "shell"
    image: str | None = Field(
        None,
        pattern=IMAGE_PATTERN,
        description="Container image; default: busybox (shell) or python (python) from the cluster's own registry.",
    )
    env: dict[str, str] = Field(
        default_factory=dict, max_length=64, description="Environment variables (visible in the Job spec)."
    )
    namespace: str = Field("default", pattern=DNS_LABEL)
    timeout_seconds: int = Field(600, ge=10, le=7 * 86400, description="The Job's activeDeadlineSeconds.")
    retries: int = Field(0, ge=0, le=5, description="Extra attempts after a failure (backoffLimit).")
    compute: Literal["nodes", "acs"] = Field(
        "nodes", description="nodes = the cluster's worker nodes; acs = ACS serverless compute (billed, quote needed)."
    )
    acs: AcsPlan | None = Field(None, description="With compute=acs: the plan quoted by estimate_cost (replicas 1).")
    node_pool: str | None = Field(
        None, pattern=POOL_NAME, description="With compute=nodes: run on this node pool's nodes only."
    )
    quote_token: str | None = None
    log_lines: int = Field(200, ge=1, le=5000, description="Most log lines returned (the tail).")
    log_bytes: int = Field(65536, ge=1024, le=1024 * 1024, description="Most log bytes returned (the tail).")
    cleanup_after: bool = Field(
        False,
        description="When the job ends (however it ends), delete the cluster and the network created with it, "
        "if this server created them; a reused cluster is kept.",
    )

    @field_validator("script")
    @classmethod
    def _script_size(cls, value: str) -> str:
        size = len(value.encode())
        if size > MAX_SCRIPT_BYTES:
            raise ValueError(f"the script is {size} bytes; at most {MAX_SCRIPT_BYTES} fit (put data in an image)")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k in value if not ENV_NAME.match(k) or len(k) > 253]
        if bad:
            raise ValueError(f"invalid environment variable names {bad}: use letters, digits, '_', '-', '.'")
        return value

    @model_validator(mode="after")
    def _compute_consistent(self) -> JobRequest:
        if self.compute == "nodes":
            if self.acs is not None or self.quote_token:
                raise ValueError("an acs plan or a quote applies only with compute=acs")
            return self
        if self.node_pool:
            raise ValueError("node_pool applies only with compute=nodes (ACS pods run on no node pool)")
        if self.acs is None:
            raise ValueError(
                "compute=acs needs quote_id (or, to find out what to quote, `acs`: the plan with vcpu, memory_gib)"
            )
        if self.acs.replicas != 1:
            raise ValueError("a job runs one pod: set acs.replicas to 1")
        if self.timeout_seconds > self.acs.hours * 3600:
            raise ValueError(
                f"timeout_seconds {self.timeout_seconds} exceeds the quoted {self.acs.hours:g} h; the quote must "
                "cover the longest the job can run: raise acs.hours (and re-estimate) or lower timeout_seconds"
            )
        return self


class JobOutcome(BaseModel):
    status: Literal["succeeded", "failed", "running", "quote_required", "declined"]
    cluster: str
    cluster_id: str | None = None
    namespace: str
    job_name: str | None = None
    operation_id: str | None = None
    compute: Literal["nodes", "acs"] = "nodes"
    image: str | None = None
    exit_code: int | None = None
    reason: str = ""
    duration_seconds: float | None = None
    pod: str | None = None
    node: str | None = None
    instance_id: str | None = Field(None, description="The ACS/ECI instance id when the pod ran serverless.")
    attempts: int = 0
    log: str = ""
    log_truncated: bool = False
    cleaned_up: list[str] = []
    cleanup_operation_id: str | None = Field(None, description="With cleanup_after: the cleanup to follow.")
    notes: list[str] = []
    plan_to_quote: AcsPlan | None = None
    lease_ends_at: str | None = None
    message: str
    next_step: str


def resolve_image(script_type: str, registry_prefix: str | None) -> tuple[str, str | None]:
    """The image for a script: from the cluster's own registry (pullable without internet), else a public
    one, with a note saying why."""
    if registry_prefix:
        return f"{registry_prefix}/{REGISTRY_IMAGES[script_type]}", None
    image = FALLBACK_IMAGES[script_type]
    return image, (
        f"No ACK registry found among the kube-system pods, so the public image {image} is used; the nodes need "
        "internet access (SNAT) to pull it. Pass `image` to choose one."
    )


def job_manifest(
    request: JobRequest,
    *,
    job_name: str,
    config_map: str,
    image: str,
    operation_id: str,
    placement: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`placement`: the node selector and tolerations of the node pool the job runs on (node_pool)."""
    labels = {**mark(operation_id), RUN_LABEL: job_name}
    pod_labels = dict(labels)
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image,
        "command": [*INTERPRETERS[request.script_type], f"{SCRIPT_MOUNT}/{SCRIPT_FILES[request.script_type]}"],
        "env": [{"name": k, "value": v} for k, v in sorted(request.env.items())],
        "volumeMounts": [{"name": "script", "mountPath": SCRIPT_MOUNT, "readOnly": True}],
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": [container],
        "volumes": [{"name": "script", "configMap": {"name": config_map}}],
    }
    if request.compute == "acs" and request.acs is not None:
        pod_labels.update(acs_placement.acs_labels(request.acs))
        container["resources"] = acs_placement.acs_resources(request.acs)
        pod_spec.update(acs_placement.acs_placement(request.acs))
    elif placement:
        pod_spec.update(placement)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name, "namespace": request.namespace, "labels": labels},
        "spec": {
            "backoffLimit": request.retries,
            "activeDeadlineSeconds": request.timeout_seconds,
            "ttlSecondsAfterFinished": TTL_AFTER_FINISHED,
            "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec},
        },
    }


def config_map_manifest(request: JobRequest, *, name: str, job_name: str, operation_id: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": request.namespace,
            "labels": {**mark(operation_id), RUN_LABEL: job_name},
        },
        "data": {SCRIPT_FILES[request.script_type]: request.script},
    }


def tail(text: str, lines: int, limit: int) -> tuple[str, bool]:
    """The last `lines` lines and at most `limit` bytes of `text`, and whether anything was cut."""
    parts = text.splitlines(keepends=True)
    truncated = len(parts) > lines
    kept = "".join(parts[-lines:])
    encoded = kept.encode()
    if len(encoded) > limit:
        kept = encoded[-limit:].decode("utf-8", errors="ignore")
        newline = kept.find("\n")
        if 0 <= newline < len(kept) - 1:
            kept = kept[newline + 1 :]  # start at a whole line
        truncated = True
    return kept, truncated
