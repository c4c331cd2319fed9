"""deploy_acs: a long-running workload on ACS serverless compute (or, on ACK Serverless, ECI), through virtual nodes.

Every pod is billed, so a Deployment is created only with a quote for exactly its plan (replicas x vCPU x memory
[x GPUs] for the quoted hours). An acs plan makes ACS pods (the alibabacloud.com/acs labels); an eci plan makes ECI
pods, which on ACK Serverless are simply pods without those labels, shaped by the k8s.aliyun.com/eci-* annotations.
Re-running with the same name updates the Deployment this server created: a new image, env, command or ports needs
no new quote, and neither does shrinking; a plan that costs more per hour does.
A Deployment that someone else created is never touched.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, field_validator

from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.kube_workloads import KubeWorkloads, PodView, pod_view
from ack_compute.tools import acs_placement
from ack_compute.tools.errors import AckComputeError, CloudFailure
from ack_compute.tools.identity import current_caller
from ack_compute.tools.job_spec import (
    DNS_LABEL,
    ENV_NAME,
    FAIL_FAST_REASONS,
    IMAGE_PATTERN,
    refuse_system_namespace,
)
from ack_compute.tools.ownership import OPERATION_TAG, NameBusy, OwnedResource, Ownership, is_ours, mark, mark_selector
from ack_compute.tools.plans import AcsPlan, EciPlan
from ack_compute.tools.purchase import Claim, Policy, Purchase, bind_plan
from ack_compute.tools.quotes import QuoteBook, QuoteRecord
from ack_compute.tools.targets import CLUSTER_REF_PATTERN, ClusterTarget, Targets

PLAN_ANNOTATION = "ack-compute-mcp/plan"
SPEC_ANNOTATION = "ack-compute-mcp/spec-sha256"
APP_LABEL = "app.kubernetes.io/name"
ROLLOUT_WAIT_SECONDS = 40.0
STABLE_SECONDS = 3.0  # how long Running pods are watched for restarts before the deployment counts as healthy


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


class PodPlacement(BaseModel):
    pod: str
    phase: str
    node: str
    instance_id: str | None = None
    ready: bool = False


class DeployOutcome(BaseModel):
    status: Literal["deployed", "updated", "unchanged", "rolling_out", "failed", "quote_required", "declined"]
    cluster: str
    cluster_id: str | None = None
    namespace: str
    name: str
    replicas: int = 0
    ready_replicas: int = 0
    pods: list[PodPlacement] = []
    endpoint: str | None = Field(None, description="ClusterIP:port of the Service, when ports were given.")
    plan_to_quote: DeployPlan | None = None
    notes: list[str] = []
    message: str
    next_step: str


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
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
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


class AcsDeployer:
    def __init__(
        self,
        *,
        targets: Targets,
        quotes: QuoteBook,
        ownership: Ownership,
        kube_timeout_s: float = 10.0,
        rollout_wait_s: float = ROLLOUT_WAIT_SECONDS,
        stable_s: float = STABLE_SECONDS,
    ) -> None:
        self.stable_s = stable_s
        self.targets = targets
        self.quotes = quotes
        self.purchase = Purchase(quotes, ownership)
        self.ownership = ownership
        self.kube_timeout_s = kube_timeout_s
        self.rollout_wait_s = rollout_wait_s

    def _target(self, request: DeployRequest) -> tuple[ClusterTarget, PodPlan]:
        """The cluster, and the plan bound to it (its region is the cluster's)."""
        target = self.targets.resolve(request.cluster, request.plan.region)
        return target, bind_plan(request.plan, target.region, f"cluster {target.name or target.key}")

    def _before_buying(
        self, request: DeployRequest, target: ClusterTarget, workloads: KubeWorkloads, plan: PodPlan
    ) -> tuple[dict[str, Any] | None, OwnedResource | None, bool]:
        """The checks before anyone is asked: the pods can run, the namespace exists, a Deployment of that name is
        this caller's to change. Returns the existing Deployment, its ledger row, and whether a quote is needed."""
        refuse_system_namespace(request.namespace)
        acs_placement.check_ready(self.targets, target, workloads, plan)
        if not self._kube(lambda: workloads.namespace_exists(request.namespace)):
            raise AckComputeError(
                f"Namespace {request.namespace} does not exist.", "Use an existing namespace. Nothing was created."
            )
        existing = self._kube(lambda: workloads.read("Deployment", request.namespace, request.name))
        row = self._owned(existing, request, target)
        if request.ports:
            self._service_ours(request, target, workloads)
        paid = self._paid_plan(row)
        return existing, row, paid is None or costs_more(plan, paid)

    def offer(self, request: DeployRequest) -> QuoteRecord | None:
        """What the person is asked to pay for: the purchase path up to the question (None: nothing to buy).
        Raises what `deploy` would raise, so nobody is asked to pay for pods that cannot run or aren't theirs."""
        if not request.quote_token:
            return None
        target, plan = self._target(request)
        access = self.targets.access(target, timeout_s=self.kube_timeout_s)
        try:
            _, row, needs_quote = self._before_buying(request, target, KubeWorkloads(access), plan)
        finally:
            access.close()
        return self.purchase.check(request.quote_token, plan, row) if needs_quote else None

    def deploy(
        self,
        request: DeployRequest,
        *,
        consent_id: str | None = None,
        confirmation_policy: Policy = "token",
        requested_by: str = "",
    ) -> DeployOutcome:
        """`consent_id`: the person's answer as the server recorded it (None: no client could be asked)."""
        target, plan = self._target(request)
        base = {"cluster": request.cluster, "cluster_id": target.cluster_id, "namespace": request.namespace}
        serverless = target.kind == "serverless"
        notes = acs_placement.acs_notes(plan)
        if serverless and isinstance(plan, EciPlan):
            notes.append(
                "On ACK Serverless, pods without the alibabacloud.com/acs label run as ECI instances; this "
                "Deployment's pods carry none and run (and are billed) as ECI instances of the quoted spec."
            )
        elif serverless:
            notes.append(
                "On ACK Serverless, pods without the alibabacloud.com/acs label run as ECI instances; this "
                "Deployment's pods carry it, so they run (and are billed) as ACS pods."
            )
        access = self.targets.access(target, timeout_s=self.kube_timeout_s)
        try:
            workloads = KubeWorkloads(access)
            existing, row, needs_quote = self._before_buying(request, target, workloads, plan)
            if needs_quote and not request.quote_token:
                why = (
                    f"creates billed {plan.kind.upper()} pods"
                    if existing is None
                    else "costs more per hour than the quoted one"
                )
                return DeployOutcome(
                    status="quote_required",
                    name=request.name,
                    plan_to_quote=plan,
                    notes=notes,
                    message=f"This deployment {why}; it needs a quote for exactly this plan.",
                    next_step="Call estimate_cost with plan_to_quote, show the quote to the person, and on their yes "
                    "call deploy_acs again with the quote_id. Nothing was changed.",
                    **base,
                )
            if (
                needs_quote
                and request.quote_token
                and self.purchase.approved(request.quote_token, plan, consent_id, confirmation_policy, row) is None
            ):
                return DeployOutcome(
                    status="declined",
                    name=request.name,
                    message="The person declined the quoted cost; the quote is now void and nothing changed.",
                    next_step="Ask what to change, estimate again, and get a new yes.",
                    **base,
                )
            return self._apply(
                request, target, workloads, plan, existing, row, needs_quote, serverless, notes, requested_by
            )
        finally:
            access.close()

    def _kube(self, fn: Any) -> Any:
        try:
            return fn()
        except CloudError as exc:
            raise CloudFailure(str(exc), "Nothing was changed; check the cluster's API and retry.") from None

    def _owned(
        self, existing: dict[str, Any] | None, request: DeployRequest, target: ClusterTarget
    ) -> OwnedResource | None:
        """The ledger row of an existing Deployment, when this caller may change it; refuses otherwise, without a
        word about what runs in it (its image, command or env are its owner's business)."""
        if existing is None:
            return None
        meta = existing.get("metadata") or {}
        name = f"{request.namespace}/{request.name}"
        if not is_ours(meta.get("labels")):
            raise AckComputeError(
                f"Deployment {name} exists and was not created by this server; it is never touched.",
                "Choose another name. Nothing was changed.",
            )
        row = self.ownership.live_creation("deployment", target.region, f"{target.key}/{name}")
        if row is None:
            raise AckComputeError(
                f"Deployment {name} exists but this server's ledger has no live record of creating it; it is never "
                "touched.",
                "Choose another name. Nothing was changed.",
            )
        if not current_caller().sees(row.owner):
            raise AckComputeError(
                f"Deployment {name} on this cluster belongs to another caller; only its owner or an admin can change "
                "it.",
                "Choose another name. Nothing was changed.",
            )
        if (recorded := row.details.get("uid")) and meta.get("uid") != recorded:
            # Labels are anyone's to copy; the uid the API server gave the object this server created is not.
            raise AckComputeError(
                f"Deployment {name} exists but is not the one this server created (it was replaced since); it is "
                "never touched.",
                "Choose another name. Nothing was changed.",
            )
        return row

    def _service_ours(self, request: DeployRequest, target: ClusterTarget, workloads: KubeWorkloads) -> None:
        """A Service of this name that this server did not create is never re-pointed at these pods (its clients
        would reach them). Checked before anyone is asked, like the Deployment itself."""
        service = self._kube(lambda: workloads.read("Service", request.namespace, request.name))
        if service is None:
            return
        meta = service.get("metadata") or {}
        row = self.ownership.live_creation("service", target.region, f"{target.key}/{request.namespace}/{request.name}")
        if (
            not is_ours(meta.get("labels"))
            or row is None
            or not current_caller().sees(row.owner)
            or ((recorded := row.details.get("uid")) and meta.get("uid") != recorded)
        ):
            raise AckComputeError(
                f"Service {request.namespace}/{request.name} exists and was not created by this server; it is never "
                "touched.",
                "Choose another name. Nothing was changed.",
            )

    def _paid_plan(self, row: OwnedResource | None) -> PodPlan | None:
        """The plan the Deployment's ledger row was last paid for (its quote's row). Never the Deployment's own
        plan annotation: anyone who may edit the Deployment writes that, and an inflated one bought more pods for
        free (issue 13, red-team R1). None (no readable paid plan) means a quote is required."""
        quote_id = self.ownership.paid_by(row.resource_id) if row is not None else None
        record = self.quotes.record(quote_id) if quote_id else None
        if record is None:
            return None
        try:
            return _DEPLOY_PLAN.validate_python(record.plan)
        except ValueError:
            return None

    def _apply(
        self,
        request: DeployRequest,
        target: ClusterTarget,
        workloads: KubeWorkloads,
        plan: PodPlan,
        existing: dict[str, Any] | None,
        owned: OwnedResource | None,
        needs_quote: bool,
        serverless: bool,
        notes: list[str],
        requested_by: str,
    ) -> DeployOutcome:
        operation_id = f"op-{uuid.uuid4().hex[:16]}"
        body = deployment_manifest(request, plan, operation_id)
        ledger_name = f"{target.key}/{request.namespace}/{request.name}"
        row: int | None = None
        claim = (
            Claim(
                operation_id,
                "deployment",
                target.region,
                ledger_name,
                details={"cluster": target.key, "namespace": request.namespace, "name": request.name},
            )
            if existing is None
            else None
        )
        paid_by: str | None = None
        uid = ""  # the created Deployment's, kept in the ledger: what proves it is ours later, not its labels
        try:
            if needs_quote and request.quote_token:
                bought = self.purchase.buy(
                    request.quote_token,
                    plan,
                    claim=claim,
                    repoint=owned,
                    note=f"deploy_acs {request.name} {operation_id}",
                )
                row = bought.resource_id
                notes.append(
                    f"Paid by quote {bought.redemption.quote_id}: {bought.redemption.hourly} "
                    f"{bought.redemption.currency}/h."
                )
                paid_by = bought.redemption.quote_id
            elif claim is not None:  # not reached: a new Deployment always needs a quote
                row = self.ownership.claim(
                    claim.operation_id, claim.kind, claim.region, claim.name, details=claim.details
                )
        except NameBusy as busy:
            raise AckComputeError(
                f"Deployment {request.name} is being created by {busy.existing.operation_id}.",
                "Wait for it, then call deploy_acs again to update it.",
            ) from None
        try:
            if existing is None:
                uid = workloads.create_deployment(request.namespace, body).uid
                status: Literal["deployed", "updated", "unchanged"] = "deployed"
            else:
                # Keep the original operation label: it names the operation that created the Deployment.
                body["metadata"]["labels"][OPERATION_TAG] = (existing["metadata"].get("labels") or {}).get(
                    OPERATION_TAG, operation_id
                )
                old_hash = (existing["metadata"].get("annotations") or {}).get(SPEC_ANNOTATION)
                if old_hash == body["metadata"]["annotations"][SPEC_ANNOTATION]:
                    status = "unchanged"
                else:
                    self._replace(workloads, request, existing, body)
                    status = "updated"
            endpoint = None
            if request.ports:
                service_row = None
                if self.ownership.live_creation("service", target.region, ledger_name) is None:
                    service_row = self.ownership.claim(
                        operation_id,
                        "service",
                        target.region,
                        ledger_name,
                        details={"cluster": target.key, "namespace": request.namespace, "name": request.name},
                    )
                service = workloads.apply_service(request.namespace, service_manifest(request, operation_id))
                endpoint = f"{service.cluster_ip}:{request.ports[0]}" if service.cluster_ip else None
                if service_row is not None:
                    self.ownership.update(service_row, state="ready", details={"uid": service.uid})
        except CloudError as exc:
            cleaned = ""
            if existing is None:
                try:
                    workloads.delete("Deployment", request.namespace, request.name)
                    cleaned = f" Removed the Deployment {request.name} it had created."
                except CloudError:
                    cleaned = " The Deployment may exist; it is in the ledger for cleanup."
                if row is not None:
                    self.ownership.update(row, state="deleted" if "Removed" in cleaned else "failed")
            raise CloudFailure(
                f"Deploying {request.name} failed: {exc}.{cleaned}", "Fix the cause and retry."
            ) from None
        # What runs now is the Deployment's own replica count (not an annotation anyone may edit).
        before = int(((existing or {}).get("spec") or {}).get("replicas") or 0)
        if status == "updated" and plan.replicas < before:
            notes.append(
                f"Scaled down from {before} to {plan.replicas} pod(s): {before - plan.replicas} "
                "running pod(s) are stopped now (free; whatever they held is lost)."
            )
        # The quote that pays for the running pods: cleanup shows its hourly price as the cost that stops.
        priced = {"quote_id": paid_by} if paid_by else {}
        if uid:
            priced["uid"] = uid
        if row is not None:
            self.ownership.update(row, state="ready", details={"plan": plan.model_dump(mode="json"), **priced})
        elif paid_by and owned is not None:
            self.ownership.update(
                owned.resource_id, state=owned.state, details={"plan": plan.model_dump(mode="json"), **priced}
            )
        return self._verify(request, target, workloads, plan, status, endpoint, notes)

    @staticmethod
    def _replace(
        workloads: KubeWorkloads, request: DeployRequest, current: dict[str, Any], body: dict[str, Any]
    ) -> None:
        """Replace our spec and metadata onto the latest version; the controller writes status meanwhile, so a
        409 means: read again and retry."""
        for attempt in range(5):
            merged = {**current, "metadata": {**current["metadata"], **body["metadata"]}, "spec": body["spec"]}
            merged["metadata"].pop("managedFields", None)
            try:
                workloads.replace_deployment(request.namespace, request.name, merged)
                return
            except CloudError as exc:
                if exc.status != 409 or attempt == 4:
                    raise
                latest = workloads.read("Deployment", request.namespace, request.name)
                if latest is None:
                    raise
                current = latest

    def _verify(
        self,
        request: DeployRequest,
        target: ClusterTarget,
        workloads: KubeWorkloads,
        plan: PodPlan,
        status: str,
        endpoint: str | None,
        notes: list[str],
    ) -> DeployOutcome:
        """Watch the pods until all replicas run on virtual nodes with instance ids, or a pod fails for good."""
        selector = f"{APP_LABEL}={request.name},{mark_selector()}"
        pods: dict[str, PodView] = {}
        failure = ""
        deadline = time.monotonic() + self.rollout_wait_s
        try:
            failure = self._watch_pods(workloads, request.namespace, selector, plan, pods, deadline)
            if not failure and self._settled(pods.values(), plan):
                # Running once is not healthy: a crash-looping container also shows Running for a moment. Watch
                # a little longer; a restart or a container that stops running in that window is a failure.
                stable_until = min(deadline, time.monotonic() + self.stable_s)
                failure = self._watch_pods(
                    workloads, request.namespace, selector, plan, pods, stable_until, until_settled=False
                )
        except CloudError as exc:
            failure = f"watching the pods failed: {exc}"
        placements = [
            PodPlacement(
                pod=p.name,
                phase=p.phase,
                node=p.node,
                instance_id=p.annotations.get(acs_placement.ACS_INSTANCE_ANNOTATION)
                or p.annotations.get(acs_placement.ECI_INSTANCE_ANNOTATION),
                ready=_ready(p),
            )
            for p in sorted(pods.values(), key=lambda v: v.name)
        ]
        ready = sum(1 for p in placements if p.ready)
        base = {
            "cluster": request.cluster,
            "cluster_id": target.cluster_id,
            "namespace": request.namespace,
            "name": request.name,
            "replicas": plan.replicas,
            "ready_replicas": ready,
            "pods": placements,
            "endpoint": endpoint,
            "notes": notes,
        }
        if failure:
            return DeployOutcome(
                status="failed",
                message=f"Deployment {request.name} is not healthy: {failure}.",
                next_step="Fix the image or plan and call deploy_acs again (same name updates it), or cleanup to "
                "remove it and stop paying.",
                **base,
            )
        if ready < plan.replicas:
            return DeployOutcome(
                status="rolling_out",
                message=f"Deployment {request.name}: {ready}/{plan.replicas} pods ready so far.",
                next_step="Call deploy_acs again with the same arguments to see the pods (no new quote needed).",
                **base,
            )
        where = ", ".join(sorted({p.node for p in placements}))
        return DeployOutcome(
            status=status,  # type: ignore[arg-type]
            message=f"Deployment {request.name}: {ready}/{plan.replicas} pods Running on {where}"
            + (f"; service at {endpoint}" if endpoint else "")
            + ".",
            next_step="It keeps running (and billing) until cleanup removes it.",
            **base,
        )

    def _watch_pods(
        self,
        workloads: KubeWorkloads,
        namespace: str,
        selector: str,
        plan: PodPlan,
        pods: dict[str, PodView],
        deadline: float,
        *,
        until_settled: bool = True,
    ) -> str:
        """Follow the pods until they settle (or, with until_settled=False, until the deadline); returns why they
        failed, or '' when they did not."""
        for kind, raw in workloads.watch_objects("Pod", namespace, deadline, label_selector=selector):
            pod = pod_view(raw, deleted=kind == "DELETED")
            if pod.deleted or pod.terminating:
                pods.pop(pod.uid, None)
                continue
            pods[pod.uid] = pod
            waiting = next((c for c in pod.containers if c.state == "waiting" and c.reason), None)
            if waiting is not None and waiting.reason in FAIL_FAST_REASONS:
                return f"pod {pod.name}: {waiting.reason}: {waiting.message}".strip(": ")
            if pod.unschedulable and not pod.node:
                return f"pod {pod.name} is unschedulable: {pod.unschedulable}"
            restarted = next((c for c in pod.containers if c.restart_count > 0), None)
            if restarted is not None:
                return (
                    f"pod {pod.name}: container {restarted.name} is crash-looping (CrashLoopBackOff: it exited and "
                    f"was restarted {restarted.restart_count} time(s); kubectl logs --previous shows why)"
                )
            if not until_settled and pod.phase in ("Failed", "Succeeded"):
                return f"pod {pod.name} stopped ({pod.phase}{': ' + pod.reason if pod.reason else ''})"
            if until_settled and self._settled(pods.values(), plan):
                return ""
        return ""

    @staticmethod
    def _settled(pods: Any, plan: PodPlan) -> bool:
        """All replicas Ready on a node with the instance id of their kind (ACS, or ECI for an eci plan)."""
        current = list(pods)
        annotation = (
            acs_placement.ECI_INSTANCE_ANNOTATION
            if isinstance(plan, EciPlan)
            else acs_placement.ACS_INSTANCE_ANNOTATION
        )
        return len(current) == plan.replicas and all(
            _ready(p) and p.node and p.annotations.get(annotation) for p in current
        )


def _ready(pod: PodView) -> bool:
    return pod.phase == "Running" and all(c.state == "running" for c in pod.containers) and bool(pod.containers)
