"""deploy_acs: a long-running workload on ACS serverless compute (or, on ACK Serverless, ECI), through virtual nodes.

Every pod is billed, so a Deployment is created only with a quote for exactly its plan (replicas x vCPU x memory
[x GPUs] for the quoted hours). An acs plan makes ACS pods (the alibabacloud.com/acs labels); an eci plan makes ECI
pods, which on ACK Serverless are simply pods without those labels, shaped by the k8s.aliyun.com/eci-* annotations.
Re-running with the same name updates the Deployment this server created: a new image, env, command or ports needs
no new quote, and neither does shrinking; a plan that costs more per hour does.
A Deployment that someone else created is never touched.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.kube_workloads import KubeWorkloads, NodeView, PodView, pod_view
from ack_compute.tools import acs_placement
from ack_compute.tools.deploy_spec import (
    _DEPLOY_PLAN,
    APP_LABEL,
    PLAN_ANNOTATION,
    SPEC_ANNOTATION,
    TEMPLATE_LABEL,
    DeployPlan,
    DeployRequest,
    PodPlan,
    costs_more,
    deployment_manifest,
    rescaled_only,
    service_manifest,
)
from ack_compute.tools.errors import AckComputeError, CloudFailure, cloud_call
from ack_compute.tools.identity import current_caller
from ack_compute.tools.job_spec import refuse_system_namespace
from ack_compute.tools.operation_params import DeployParams
from ack_compute.tools.operations import OperationContext, Operations
from ack_compute.tools.ownership import OPERATION_TAG, NameBusy, OwnedResource, Ownership, is_ours, mark_selector
from ack_compute.tools.plans import EciPlan
from ack_compute.tools.pod_verdict import PodFinding, what_is_wrong
from ack_compute.tools.purchase import Claim, Policy, Purchase, bind_plan
from ack_compute.tools.quotes import QuoteBook, QuoteRecord
from ack_compute.tools.targets import ClusterTarget, Targets
from ack_compute.tools.virtual_node_addon import VirtualNodeAddon, installs_here

# Re-exported: the server and tests import the request, plans and rules from here, the tool's module.
__all__ = [
    "APP_LABEL",
    "PLAN_ANNOTATION",
    "SPEC_ANNOTATION",
    "AcsDeployer",
    "DeployOutcome",
    "DeployPlan",
    "DeployRequest",
    "PodPlan",
    "costs_more",
    "deployment_manifest",
    "service_manifest",
]
OPERATION_KIND = "deploy_acs"
ADDON_FIRST = "installing the free ack-virtual-node add-on first"


def addon_first(action: str) -> str:
    """What deploy_acs does before the Deployment, in words for the question, the notes and the message."""
    if action == "upgrade":
        return "upgrading the free ack-virtual-node add-on first"
    if action == "wait":
        return "waiting for the free ack-virtual-node add-on being installed first"
    return ADDON_FIRST


ROLLOUT_WAIT_SECONDS = 40.0
STABLE_SECONDS = 3.0  # how long Running pods are watched for restarts before the deployment counts as healthy


class PodPlacement(BaseModel):
    pod: str
    phase: str
    node: str
    instance_id: str | None = None
    ready: bool = False


class DeployOutcome(BaseModel):
    status: Literal[
        "deployed", "updated", "unchanged", "rolling_out", "failed", "quote_required", "declined", "preparing"
    ]
    operation_id: str | None = None
    cluster: str
    cluster_id: str | None = None
    namespace: str
    name: str
    replicas: int = 0
    ready_replicas: int = 0
    pods: list[PodPlacement] = []
    endpoint: str | None = Field(None, description="ClusterIP:port of the Service, when ports were given.")
    plan_to_quote: DeployPlan | None = None
    lease_ends_at: str | None = None
    notes: list[str] = []
    message: str
    next_step: str


class AcsDeployer:
    def __init__(
        self,
        *,
        targets: Targets,
        quotes: QuoteBook,
        ownership: Ownership,
        operations: Operations | None = None,
        addon: VirtualNodeAddon | None = None,
        kube_timeout_s: float = 10.0,
        rollout_wait_s: float = ROLLOUT_WAIT_SECONDS,
        stable_s: float = STABLE_SECONDS,
    ) -> None:
        self.stable_s = stable_s
        self.operations = operations
        self.addon = addon or VirtualNodeAddon(targets.cs)
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
    ) -> tuple[dict[str, Any] | None, OwnedResource | None, bool, acs_placement.AddonWork | None]:
        """The checks before anyone is asked: the pods can run, the namespace exists, a Deployment of that name is
        this caller's to change. Returns the existing Deployment, its ledger row, whether a quote is needed, and
        the add-on work to do first (only on a cluster this server created, and only where operations run)."""
        refuse_system_namespace(request.namespace)
        may_install = self.operations is not None and installs_here(self.ownership, target)
        addon = acs_placement.check_ready(self.targets, target, workloads, plan, may_install=may_install)
        if not self._kube(lambda: workloads.namespace_exists(request.namespace)):
            raise AckComputeError(
                f"Namespace {request.namespace} does not exist.", "Use an existing namespace. Nothing was created."
            )
        existing = self._kube(lambda: workloads.read("Deployment", request.namespace, request.name))
        row = self._owned(existing, request, target)
        if request.ports:
            self._service_ours(request, target, workloads)
        paid = self._paid_plan(row)
        return existing, row, paid is None or costs_more(plan, paid), addon

    def offer(self, request: DeployRequest) -> QuoteRecord | None:
        return self.offer_with_addon(request)[0]

    def offer_with_addon(self, request: DeployRequest) -> tuple[QuoteRecord | None, str]:
        """What the person is asked to pay for: the purchase path up to the question (None: nothing to buy), and
        whether the free add-on is installed first. Raises what `deploy` would raise, so nobody is asked to pay for
        pods that cannot run or aren't theirs."""
        if not request.quote_token:
            return None, ""
        target, plan = self._target(request)
        if self._preparing(request, target):
            return None, ""  # asking again while it prepares: the same operation, nothing new to buy
        access = self.targets.access(target, timeout_s=self.kube_timeout_s)
        try:
            _, row, needs_quote, addon = self._before_buying(request, target, KubeWorkloads(access), plan)
        finally:
            access.close()
        return (self.purchase.check(request.quote_token, plan, row) if needs_quote else None), (
            addon_first(addon.action) if addon else ""
        )

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
        if running := self._preparing(request, target):
            return DeployOutcome(
                status="preparing",
                operation_id=running,
                name=request.name,
                replicas=plan.replicas,
                message=f"Deployment {request.name} is already being prepared by {running} (the add-on first); "
                "nothing new was started or bought.",
                next_step=f"Call get_operation with {running} for the pods.",
                **base,
            )
        serverless = target.kind == "serverless"
        notes = acs_placement.acs_notes(plan)
        access = self.targets.access(target, timeout_s=self.kube_timeout_s)
        try:
            workloads = KubeWorkloads(access)
            existing, row, needs_quote, addon = self._before_buying(request, target, workloads, plan)
            if addon is not None:
                notes.append(f"On cluster {target.name or target.key}, {addon_first(addon.action)} (no charge).")
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
                    notes=[_serverless_note(plan), *notes] if serverless else notes,
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
            if addon is not None:
                return self._start_preparing(request, target, plan, addon.action, notes, requested_by)
            return self._apply(
                request, target, workloads, plan, existing, row, needs_quote, serverless, notes, requested_by
            )
        finally:
            access.close()

    # -- with the add-on first: an operation (install, virtual nodes, then the Deployment) ------------------------

    def _start_preparing(
        self, request: DeployRequest, target: ClusterTarget, plan: PodPlan, action: str, notes: list[str], by: str
    ) -> DeployOutcome:
        """The person said yes: the add-on stage runs in the background, and the quote is spent only when the
        Deployment is created (a failed install spends nothing)."""
        assert self.operations is not None
        params = DeployParams(request=request, target=target, plan=plan, notes=notes, requested_by=by)
        quote_id = self.quotes.quote_id_of(request.quote_token) if request.quote_token else None
        operation_id = self.operations.start(
            OPERATION_KIND, params, self.run_operation, quote_id=quote_id, requested_by=by
        )
        label = target.name or target.key
        return DeployOutcome(
            status="preparing",
            operation_id=operation_id,
            cluster=request.cluster,
            cluster_id=target.cluster_id,
            namespace=request.namespace,
            name=request.name,
            replicas=plan.replicas,
            notes=notes,
            message=f"Deploying {request.name} on {label}, {addon_first(action)} (a few minutes); the quote is spent "
            "only when the Deployment is created, once its virtual nodes are Ready.",
            next_step=f"Call get_operation with {operation_id} for the pods.",
        )

    def _preparing(self, request: DeployRequest, target: ClusterTarget) -> str | None:
        """This caller's deploy_acs operation still preparing this Deployment, if any: asking again returns it."""
        caller = current_caller()
        for operation_id, owner, params in self.operations.running(OPERATION_KIND) if self.operations else []:
            if not caller.sees(owner):
                continue
            p = DeployParams.model_validate(params)
            asked = p.request
            if p.target.key == target.key and (asked.namespace, asked.name) == (request.namespace, request.name):
                return operation_id
        return None

    def run_operation(self, ctx: OperationContext) -> dict[str, Any]:
        """Add-on, virtual nodes, then the same checks and purchase as a plain deploy. Resumable: the add-on stage
        reads the cloud first, and a Deployment this operation already bought is found and only watched."""
        p = DeployParams.model_validate(ctx.params)
        request, target, plan = p.request, p.target, p.plan
        notes = list(p.notes)

        def nodes() -> list[NodeView]:
            access = self.targets.access(target, timeout_s=self.kube_timeout_s)
            try:
                return KubeWorkloads(access).nodes()
            finally:
                access.close()

        notes.append(self.addon.ensure(target, nodes, lambda f, m: ctx.progress(f, "add-on", m)))
        ctx.progress(0.6, "deploy", f"creating Deployment {request.name}")
        access = self.targets.access(target, timeout_s=self.kube_timeout_s)  # fresh: the add-on took minutes
        try:
            workloads = KubeWorkloads(access)
            existing, row, needs_quote, addon = self._before_buying(request, target, workloads, plan)
            if addon is not None:
                raise AckComputeError(f"The ack-virtual-node add-on is still not ready ({addon.action}).", "Retry.")
            outcome = self._apply(
                request,
                target,
                workloads,
                plan,
                existing,
                row,
                needs_quote,
                False,
                notes,
                p.requested_by,
                operation_id=ctx.operation_id,
            )
        finally:
            access.close()
        return outcome.model_dump(mode="json", exclude_none=True)

    def resume_unfinished(self) -> list[str]:
        return self.operations.resume_all(OPERATION_KIND, self.run_operation) if self.operations else []

    def _kube(self, fn: Any) -> Any:
        return cloud_call(fn, "Nothing was changed; check the cluster's API and retry.")

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
        *,
        operation_id: str | None = None,
    ) -> DeployOutcome:
        operation_id = operation_id or f"op-{uuid.uuid4().hex[:16]}"
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
                row = self.ownership.claim(claim)
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
                    body = rescaled_only(body, existing) or body
                    self._replace(workloads, request, existing, body)
                    status = "updated"
            endpoint = None
            if request.ports:
                service_row = None
                if self.ownership.live_creation("service", target.region, ledger_name) is None:
                    service_row = self.ownership.claim(
                        Claim(
                            operation_id,
                            "service",
                            target.region,
                            ledger_name,
                            details={"cluster": target.key, "namespace": request.namespace, "name": request.name},
                        )
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
        if serverless and status != "unchanged":  # said once, when it is deployed or changed: not on every look
            notes.insert(0, _serverless_note(plan))
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
        applied = existing if status == "unchanged" else body
        version = (((applied or {}).get("spec") or {}).get("template", {}).get("metadata") or {}).get("labels") or {}
        outcome = self._verify(request, target, workloads, plan, status, endpoint, notes, version.get(TEMPLATE_LABEL))
        # The operation that created what runs: extend_lease names the Deployment's lease by it.
        created_by = owned.operation_id if owned is not None else operation_id if row is not None else None
        return outcome.model_copy(update={"operation_id": outcome.operation_id or created_by})

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
        version: str | None,
    ) -> DeployOutcome:
        """Watch the pods of the running version (`version`: its template label; a Deployment made before there
        was one has all its pods watched) until all replicas run on virtual nodes with instance ids, or one fails
        for good."""
        selector = f"{APP_LABEL}={request.name},{mark_selector()}" + (f",{TEMPLATE_LABEL}={version}" if version else "")
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
                next_step="Fix the image or command and call deploy_acs again with the same name and quote_id (an "
                "update that costs no more needs no new quote), or cleanup to remove it and stop paying.",
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
            next_step="It runs (and bills) until cleanup removes it or its lease ends (lease_ends_at; extend_lease "
            "adds hours).",
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
            finding = what_is_wrong(pod)
            if finding is not None:  # a restart too: a long-running pod that restarts is crash-looping
                return _worded(pod, finding)
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


def _serverless_note(plan: PodPlan) -> str:
    """How ACK Serverless bills these pods: as ECI instances, or as ACS pods for the labels they carry."""
    if isinstance(plan, EciPlan):
        return (
            "On ACK Serverless, pods without the alibabacloud.com/acs label run as ECI instances; this Deployment's "
            "pods carry none and run (and are billed) as ECI instances of the quoted spec."
        )
    return (
        "On ACK Serverless, pods without the alibabacloud.com/acs label run as ECI instances; this Deployment's pods "
        "carry it, so they run (and are billed) as ACS pods."
    )


def _worded(pod: PodView, finding: PodFinding) -> str:
    """deploy_acs's words for what is wrong with a pod."""
    if finding.kind == "unschedulable":
        return f"pod {pod.name} is unschedulable: {finding.detail}"
    if finding.kind == "restarted":
        return (
            f"pod {pod.name}: container {finding.container} is crash-looping (CrashLoopBackOff: it exited and "
            f"was restarted {finding.restarts} time(s); kubectl logs --previous shows why)"
        )
    return f"pod {pod.name}: {finding.reason}: {finding.detail}".strip(": ")


def _ready(pod: PodView) -> bool:
    return pod.phase == "Running" and all(c.state == "running" for c in pod.containers) and bool(pod.containers)
