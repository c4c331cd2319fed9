"""What deploy_acs asks for and what it makes: the request, the plan it pays for, the Deployment and Service
manifests, and when an update costs more (and so needs a new quote)."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, field_validator

from ack_compute.tools import acs_placement
from ack_compute.tools.job_spec import DNS_LABEL, ENV_NAME, IMAGE_PATTERN
from ack_compute.tools.ownership import mark
from ack_compute.tools.plans import AcsPlan, EciPlan
from ack_compute.tools.targets import CLUSTER_REF_PATTERN

PLAN_ANNOTATION = "ack-compute-mcp/plan"
SPEC_ANNOTATION = "ack-compute-mcp/spec-sha256"
TEMPLATE_LABEL = "ack-compute-mcp/template"
APP_LABEL = "app.kubernetes.io/name"


def _plan_kind(value: Any) -> str:
    """A plan without `kind` is an acs plan, as before eci plans existed."""
    kind = value.get("kind", "acs") if isinstance(value, dict) else getattr(value, "kind", "acs")
    return kind if kind in ("acs", "eci") else "acs"


PodPlan = AcsPlan | EciPlan
DeployPlan = Annotated[Annotated[AcsPlan, Tag("acs")] | Annotated[EciPlan, Tag("eci")], Discriminator(_plan_kind)]
_DEPLOY_PLAN: TypeAdapter[PodPlan] = TypeAdapter(DeployPlan)


class DeployRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: str = Field(pattern=CLUSTER_REF_PATTERN)
    name: str = Field(pattern=DNS_LABEL, max_length=50, description="Deployment name (DNS label).")
    image: str = Field(pattern=IMAGE_PATTERN)
    plan: DeployPlan = Field(
        description="The quoted plan: kind=acs (replicas, vcpu, memory_gib, compute class, QoS, GPUs, hours) or, on "
        "ACK Serverless only, kind=eci (replicas, an ECI vcpu/memory spec, spot, use_specs, image_cache, hours)."
    )
    quote_token: str | None = None
    namespace: str = Field("default", pattern=DNS_LABEL)
    ports: list[int] = Field(default_factory=list, max_length=10)
    env: dict[str, str] = Field(default_factory=dict, max_length=64)
    command: list[str] = Field(default_factory=list, max_length=64)

    @field_validator("ports")
    @classmethod
    def _ports(cls, value: list[int]) -> list[int]:
        bad = [p for p in value if not 1 <= p <= 65535]
        if bad or len(set(value)) != len(value):
            raise ValueError(f"ports must be distinct numbers in 1..65535, got {value}")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k in value if not ENV_NAME.match(k)]
        if bad:
            raise ValueError(f"invalid environment variable names {bad}")
        return value


def costs_more(new: PodPlan, old: PodPlan) -> bool:
    """True when the new plan could cost more per hour: any dimension grows, or the rate class changes (a change of
    kind, ACS <-> ECI, always does: the two are priced by different sources)."""
    if not isinstance(new, AcsPlan) or not isinstance(old, AcsPlan):
        if not isinstance(new, EciPlan) or not isinstance(old, EciPlan):
            return True
        if new.spot_strategy != old.spot_strategy or (new.spot_price_limit or 0) > (old.spot_price_limit or 0):
            return True
        if not set(new.use_specs) <= set(old.use_specs):
            return True  # a new fallback spec may be dearer than any quoted one
        if new.image_cache and not old.image_cache:
            return True  # image caches' disks or snapshots are billed; only a quote with image_cache says so
        return new.replicas > old.replicas or new.vcpu > old.vcpu or new.memory_gib > old.memory_gib
    if (new.compute_class, new.qos, new.gpu_model) != (old.compute_class, old.qos, old.gpu_model):
        return True
    return (
        new.replicas > old.replicas
        or new.vcpu > old.vcpu
        or new.memory_gib > old.memory_gib
        or new.gpu_count > old.gpu_count
    )


def spec_digest(spec: dict[str, Any]) -> str:
    """The Deployment spec's fingerprint (SPEC_ANNOTATION): equal means nothing to change."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def rescaled_only(body: dict[str, Any], live: dict[str, Any]) -> dict[str, Any] | None:
    """`body` without the template label when the live Deployment predates that label and only its replica count
    changes: a scale then keeps the pods it has instead of rolling them all to a new ReplicaSet. None otherwise."""
    live_spec = live.get("spec") or {}
    if TEMPLATE_LABEL in ((live_spec.get("template") or {}).get("metadata") or {}).get("labels", {}):
        return None
    plain = copy.deepcopy(body)
    plain["spec"]["template"]["metadata"]["labels"].pop(TEMPLATE_LABEL, None)
    old = (live.get("metadata", {}).get("annotations") or {}).get(SPEC_ANNOTATION)
    same = spec_digest({**plain["spec"], "replicas": int(live_spec.get("replicas") or 0)}) == old
    return plain if same else None


def template_hash(template: dict[str, Any]) -> str:
    """A pod template's fingerprint, short enough for a label value."""
    return spec_digest(template)[:20]


def deployment_manifest(request: DeployRequest, plan: PodPlan, operation_id: str) -> dict[str, Any]:
    """ACS pods carry the ACS labels; ECI pods must not (on ACK Serverless a pod without them is ECI) and carry
    the eci-* annotations instead."""
    labels = {**mark(operation_id), APP_LABEL: request.name}
    pod_labels = {APP_LABEL: request.name, **mark()}
    if isinstance(plan, AcsPlan):
        pod_labels.update(acs_placement.acs_labels(plan))
    container: dict[str, Any] = {
        "name": request.name,
        "image": request.image,
        "resources": acs_placement.acs_resources(plan),
    }
    if request.command:
        container["command"] = list(request.command)
    if request.env:
        container["env"] = [{"name": k, "value": v} for k, v in sorted(request.env.items())]
    if request.ports:
        container["ports"] = [{"containerPort": p, "protocol": "TCP"} for p in request.ports]
    template_meta: dict[str, Any] = {"labels": pod_labels}
    if isinstance(plan, EciPlan):
        template_meta["annotations"] = acs_placement.eci_annotations(plan)
    spec: dict[str, Any] = {
        "replicas": plan.replicas,
        "selector": {"matchLabels": {APP_LABEL: request.name, **mark()}},
        "template": {
            "metadata": template_meta,
            "spec": {
                "containers": [container],
                "automountServiceAccountToken": False,
                **acs_placement.acs_placement(plan),
            },
        },
    }
    digest = spec_digest(spec)
    # Which pods are this version's: the check after an update watches those alone, not the old ReplicaSet's (a
    # fixed image read as failing with the broken one). After the digest, so Deployments made before it compare
    # unchanged and are not rolled only to gain it (a scale of one leaves it out: tools/deploy_acs.py).
    template_meta["labels"][TEMPLATE_LABEL] = template_hash(spec["template"])
    annotations = {PLAN_ANNOTATION: json.dumps(plan.model_dump(mode="json"), sort_keys=True), SPEC_ANNOTATION: digest}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": request.name,
            "namespace": request.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": spec,
    }


def service_manifest(request: DeployRequest, operation_id: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": request.name,
            "namespace": request.namespace,
            "labels": mark(operation_id),
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {APP_LABEL: request.name, **mark()},
            "ports": [{"name": f"p{p}", "port": p, "targetPort": p, "protocol": "TCP"} for p in request.ports],
        },
    }
