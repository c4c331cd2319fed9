"""run_job: run a shell or python script as a Kubernetes Job and hand back its exit code and log tail.

The script travels in a ConfigMap mounted read-only into the pod, never on a command line (no ARG_MAX limit,
nothing in `ps`). Every run gets its own Job name, so concurrent runs never collide. Completion is noticed
from a pod watch; fatal pod states (image pulls, config errors, unschedulable pods) end the run at once and
the Job is deleted, so nothing keeps retrying or billing. Jobs on ACS compute are billed and need a quote.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel

from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.kube_workloads import KubeWorkloads, PodView, job_view, pod_view
from ack_compute.tools import acs_placement
from ack_compute.tools.errors import AckComputeError, CloudFailure, cloud_call
from ack_compute.tools.job_spec import (
    CONTAINER,
    DEADLINE_GRACE_SECONDS,
    ECI_NAMESPACE_LABEL,
    MAX_LOG_READ_BYTES,
    RUN_LABEL,
    TTL_AFTER_FINISHED,
    JobOutcome,
    JobRequest,
    config_map_manifest,
    job_manifest,
    refuse_system_namespace,
    resolve_image,
    tail,
)
from ack_compute.tools.operation_params import RunJobParams
from ack_compute.tools.operations import LostHold, OperationContext, Operations
from ack_compute.tools.ownership import JOB_PREFIX, Ownership
from ack_compute.tools.plans import AcsPlan
from ack_compute.tools.pod_verdict import advice, waiting_container, what_is_wrong
from ack_compute.tools.pricing import Pricer
from ack_compute.tools.purchase import Claim, Policy, bind_plan
from ack_compute.tools.quotes import QuoteBook, QuoteRecord
from ack_compute.tools.spending import Spending
from ack_compute.tools.targets import ClusterTarget, Targets

log = logging.getLogger("ack_compute.run_job")

OPERATION_KIND = "run_job"
# What the operation's params take from the request as it is (RunJobParams names them alike).
_FROM_REQUEST = {"namespace", "compute", "retries", "timeout_seconds", "log_lines", "log_bytes", "cleanup_after"}


class _Verdict(BaseModel):
    state: Literal["succeeded", "failed"]
    reason: str = ""
    detail: str = ""
    pod: PodView | None = None
    attempts: int = 0
    fail_fast: bool = False


class JobRunner(Spending):
    def __init__(
        self,
        *,
        targets: Targets,
        quotes: QuoteBook,
        pricer: Pricer,
        ownership: Ownership,
        operations: Operations,
        kube_timeout_s: float = 10.0,
        after_job: Callable[[str], tuple[str | None, str]] | None = None,
        pool_placement: Callable[[ClusterTarget, str], dict[str, Any]] | None = None,
    ) -> None:
        """`after_job(cluster_id)` starts the cleanup of a cluster this server created (cleanup_after) and
        returns (its operation id or None, a sentence for the result)."""
        self.after_job = after_job
        # node_pool: the pool's node selector and tolerations, refused when the cluster has no such pool.
        self.pool_placement = pool_placement
        super().__init__(quotes=quotes, pricer=pricer, ownership=ownership, operations=operations)
        self.targets = targets
        self.kube_timeout_s = kube_timeout_s

    # -- start: everything that can refuse happens here, before the Job exists ------------------------------

    def _target(self, request: JobRequest) -> tuple[ClusterTarget, AcsPlan | None]:
        """The cluster, and the acs plan bound to it (its region is the cluster's)."""
        target = self.targets.resolve(request.cluster, request.acs.region if request.acs else None)
        if request.compute == "nodes" and target.kind == "serverless":
            raise AckComputeError(
                f"Cluster {target.name} is ACK Serverless: it has no worker nodes and every pod there is billed "
                "(as ECI unless labelled for ACS).",
                "Run it with compute=acs and a quote (estimate_cost with an acs plan, replicas 1), or use an ACK "
                "cluster with nodes. Nothing was created.",
            )
        if request.compute != "acs":
            return target, None
        assert request.acs is not None
        return target, bind_plan(request.acs, target.region, f"cluster {target.name or target.key}")

    def offer(self, request: JobRequest) -> QuoteRecord | None:
        """What the person is asked to pay for: the purchase path up to the question (None: nothing to buy).
        Raises what `start` would raise, so nobody is asked to pay for a job that cannot run."""
        if request.compute != "acs" or not request.quote_token:
            return None
        target, plan = self._target(request)
        assert plan is not None
        access = self.targets.access(target, timeout_s=self.kube_timeout_s)
        try:
            workloads = KubeWorkloads(access)
            acs_placement.check_ready(self.targets, target, workloads, plan)
            self._namespace_exists(workloads, request, target)
        finally:
            access.close()
        return self.purchase.check(request.quote_token, plan)

    def _namespace_exists(self, workloads: KubeWorkloads, request: JobRequest, target: ClusterTarget) -> None:
        """The namespace exists and, for compute=nodes, does not turn its pods into billed ECI instances."""
        refuse_system_namespace(request.namespace)
        labels = self._kube(lambda: workloads.namespace_labels(request.namespace))
        where = f"Namespace {request.namespace} in cluster {target.name or target.key}"
        if labels is None:
            raise AckComputeError(
                f"Namespace {request.namespace} does not exist in cluster {target.name or target.key}.",
                "Use an existing namespace (default is `default`). Nothing was created.",
            )
        if request.compute == "nodes" and labels.get(ECI_NAMESPACE_LABEL) == "true":
            raise AckComputeError(
                f"{where} is labelled {ECI_NAMESPACE_LABEL}=true: the cluster runs every new pod there as a billed "
                "ECI instance, and compute=nodes runs only on the cluster's own nodes at no new cost.",
                "Use a namespace without that label, or run with compute=acs and a quote. Nothing was created.",
            )

    def start(
        self,
        request: JobRequest,
        *,
        consent_id: str | None = None,
        confirmation_policy: Policy = "token",
        requested_by: str = "",
    ) -> JobOutcome:
        """`consent_id`: the person's answer as the server recorded it (None: no client could be asked)."""
        target, plan = self._target(request)
        base = {"cluster": request.cluster, "cluster_id": target.cluster_id, "namespace": request.namespace}
        notes: list[str] = acs_placement.acs_notes(plan) if plan is not None else []
        access = self.targets.access(target, timeout_s=self.kube_timeout_s)
        try:
            workloads = KubeWorkloads(access)
            if plan is not None:
                acs_placement.check_ready(self.targets, target, workloads, plan)  # can ACS pods run here at all?
                if not request.quote_token:
                    return JobOutcome(
                        status="quote_required",
                        compute="acs",
                        plan_to_quote=plan,
                        notes=notes,
                        message="Jobs on ACS compute are billed per vCPU and GiB second; this run needs a quote.",
                        next_step="Call estimate_cost with plan_to_quote, show the quote to the person, and on their "
                        "yes call run_job again with compute=acs and the quote_id. Nothing was created.",
                        **base,
                    )
            elif target.kind == "context":  # compute=nodes where only the cluster's own nodes say what it is
                nodes = self._kube(workloads.nodes)
                acs_placement.check_worker_nodes(nodes, target.name or target.key)
            self._namespace_exists(workloads, request, target)
            placement = self._pool(request, target)
            image = request.image
            if image is None:
                image, note = resolve_image(request.script_type, self._kube(access.registry_prefix))
                if note:
                    notes.append(note)
            if (
                plan is not None
                and request.quote_token
                and self.purchase.approved(request.quote_token, plan, consent_id, confirmation_policy) is None
            ):
                return JobOutcome(
                    status="declined",
                    compute="acs",
                    message="The person declined the quoted cost; the quote is now void and nothing ran.",
                    next_step="Ask what to change, estimate again, and get a new yes.",
                    **base,
                )
            return self._launch(request, target, workloads, image, plan, notes, requested_by, placement)
        finally:
            access.close()

    def _pool(self, request: JobRequest, target: ClusterTarget) -> dict[str, Any] | None:
        if not request.node_pool:
            return None
        if self.pool_placement is None:
            raise AckComputeError("This server cannot place jobs on node pools.", "Leave node_pool out.")
        return self.pool_placement(target, request.node_pool)

    def _kube(self, fn: Any) -> Any:
        return cloud_call(fn, "Nothing was created; check the cluster's API and retry.")

    def _launch(
        self,
        request: JobRequest,
        target: ClusterTarget,
        workloads: KubeWorkloads,
        image: str,
        plan: AcsPlan | None,
        notes: list[str],
        requested_by: str,
        placement: dict[str, Any] | None = None,
    ) -> JobOutcome:
        operation_id = f"op-{uuid.uuid4().hex[:16]}"
        job_name = f"{JOB_PREFIX}{uuid.uuid4().hex[:10]}"
        config_map = f"{job_name}-script"
        claim = Claim(
            operation_id,
            "job",
            target.region,
            f"{target.key}/{request.namespace}/{job_name}",
            details={
                "cluster": target.key,
                "namespace": request.namespace,
                "job": job_name,
                "config_map": config_map,
                "compute": request.compute,
                "requested_by": requested_by,
            },
        )
        quote_id = None
        if plan is not None and request.quote_token:
            bought = self.purchase.buy(
                request.quote_token, plan, claim=claim, note=f"run_job {job_name} {operation_id}"
            )
            row, quote_id = bought.resource_id or 0, bought.redemption.quote_id
            notes.append(f"Paid by quote {quote_id}: at most {bought.redemption.total} {bought.redemption.currency}.")
        else:
            row = self.ownership.claim(claim)
        created: list[str] = []
        try:
            workloads.create_config_map(
                request.namespace,
                config_map_manifest(request, name=config_map, job_name=job_name, operation_id=operation_id),
            )
            created.append(f"ConfigMap {request.namespace}/{config_map}")
            job = workloads.create_job(
                request.namespace,
                job_manifest(
                    request,
                    job_name=job_name,
                    config_map=config_map,
                    image=image,
                    operation_id=operation_id,
                    placement=placement,
                ),
            )
            created.append(f"Job {request.namespace}/{job_name}")
            uid = (job.get("metadata") or {}).get("uid", "")
            workloads.adopt_config_map(
                request.namespace,
                config_map,
                {"apiVersion": "batch/v1", "kind": "Job", "name": job_name, "uid": uid, "blockOwnerDeletion": True},
            )
        except CloudError as exc:
            cleaned = self._remove(workloads, request.namespace, job_name, config_map, created)
            self.ownership.update(row, state="deleted" if cleaned is not None else "failed")
            undone = f" Removed what it had created: {', '.join(cleaned)}." if cleaned else ""
            raise CloudFailure(
                f"Creating the Job failed: {exc}.{undone}",
                "Fix the cause (the message says which call failed) and run again.",
            ) from None
        self.ownership.update(row, state="ready", cloud_id=uid)
        params = RunJobParams(
            resource_id=row,
            target=target,
            job=job_name,
            config_map=config_map,
            image=image,
            notes=notes,
            started_at=time.time(),
            **request.model_dump(include=_FROM_REQUEST),
        )
        self.operations.start(
            OPERATION_KIND,
            params,
            self.run_operation,
            operation_id=operation_id,
            quote_id=quote_id,
            requested_by=requested_by,
        )
        return _outcome(
            params,
            request.cluster,
            operation_id,
            status="running",
            message=f"Job {job_name} is running on {target.name or target.key}.",
            next_step=f"Call get_operation with {operation_id} for its result.",
        )

    @staticmethod
    def _remove(
        workloads: KubeWorkloads, namespace: str, job: str, config_map: str, created: list[str]
    ) -> list[str] | None:
        """Delete this run's objects; the names of those removed, or None when a delete failed."""
        removed: list[str] = []
        try:
            if any(c.startswith("Job ") for c in created) and workloads.delete("Job", namespace, job):
                removed.append(f"Job {namespace}/{job} (and its pods)")
            if workloads.delete("ConfigMap", namespace, config_map):
                removed.append(f"ConfigMap {namespace}/{config_map}")
        except CloudError:
            log.warning("could not remove job %s/%s after a failure; the ledger keeps it for cleanup", namespace, job)
            return None
        return removed

    # -- the operation: watch to the end, read the log --------------------------------------------------------

    def run_operation(self, ctx: OperationContext) -> dict[str, Any]:
        """The job to its end; with cleanup_after, the cluster's cleanup starts however the job ended."""
        p = RunJobParams.model_validate(ctx.params)
        target = p.target
        wanted = p.cleanup_after and target.cluster_id is not None and self.after_job
        try:
            result = self._run_to_end(ctx, p)
        except LostHold:  # another replica runs the job now: its cleanup is that replica's to start
            raise
        except BaseException:
            if wanted:
                self._clean_after(target)
            raise
        if wanted:
            operation_id, note = self._clean_after(target)
            result["cleanup_operation_id"] = operation_id
            result["notes"] = [*result.get("notes", []), note]
            if operation_id:
                result["next_step"] = (
                    f"{result['next_step']} Follow the cluster's cleanup with get_operation {operation_id}."
                )
        return result

    def _clean_after(self, target: ClusterTarget) -> tuple[str | None, str]:
        assert self.after_job is not None and target.cluster_id is not None
        try:
            return self.after_job(target.cluster_id)
        except (AckComputeError, CloudError) as exc:
            text = exc.text if isinstance(exc, AckComputeError) else str(exc)
            return None, f"cleanup_after could not start ({text}); run cleanup for cluster {target.cluster_id}."

    def _run_to_end(self, ctx: OperationContext, p: RunJobParams) -> dict[str, Any]:
        target, namespace, job = p.target, p.namespace, p.job
        deadline = p.started_at + p.timeout_seconds + DEADLINE_GRACE_SECONDS
        ctx.progress(0.05, "running", f"Job {job} created")
        while True:
            access = self.targets.access(target, timeout_s=self.kube_timeout_s)
            fetched = time.monotonic()
            try:
                workloads = KubeWorkloads(access)
                verdict = self._watch(ctx, workloads, namespace, job, p.retries, deadline)
                return self._finish(ctx, p, workloads, verdict)
            except CloudError as exc:
                # A temporary kubeconfig can expire while a job runs: fetch a new one and watch on. A fresh one
                # that is refused at once is a real permission problem, not an expiry.
                if exc.status == 401 and target.cluster_id and time.monotonic() - fetched > 1.0:
                    self.targets.kubeconfigs.forget(target.cluster_id)
                    continue
                raise
            finally:
                access.close()

    def _watch(
        self, ctx: OperationContext, workloads: KubeWorkloads, namespace: str, job: str, retries: int, deadline: float
    ) -> _Verdict:
        settled = self._already_finished(workloads, namespace, job)
        if settled is not None:  # resumed (restart, fresh kubeconfig) after the Job ended
            return settled
        failed: set[str] = set()
        seen: dict[str, PodView] = {}
        last_stage = ""
        for kind, raw in workloads.watch_objects("Pod", namespace, deadline, label_selector=f"{RUN_LABEL}={job}"):
            ctx.check_cancelled()  # cancel_operation deleted the Job: stop now, not at the deadline
            pod = pod_view(raw, deleted=kind == "DELETED")
            seen[pod.uid] = pod
            stage = pod.phase or "Pending"
            waiting = waiting_container(pod)
            if waiting is not None:
                stage = waiting.reason
            if stage != last_stage:
                ctx.progress(0.1 if stage == "Pending" else 0.5, stage, f"pod {pod.name} on {pod.node or '-'}")
                last_stage = stage
            if pod.phase == "Succeeded":
                return _Verdict(state="succeeded", pod=pod, attempts=len(failed) + 1)
            if pod.phase == "Failed":
                failed.add(pod.uid)
                if pod.terminating:  # killed because the Job was stopped (deadline), not by its own exit
                    until = min(deadline, time.monotonic() + 10)
                    stopped = self._job_condition(workloads, namespace, job, until)
                    if stopped is not None and stopped.state == "failed":
                        return stopped.model_copy(update={"pod": pod, "attempts": len(failed)})
                if len(failed) > retries:
                    return _Verdict(
                        state="failed", reason=pod.reason or "Error", detail=pod.message, pod=pod, attempts=len(failed)
                    )
                continue
            finding = what_is_wrong(pod)
            if finding is not None and finding.fail_fast:  # a restart alone is the Job's to retry
                return _Verdict(
                    state="failed",
                    reason=finding.reason,
                    detail=finding.detail,
                    pod=pod,
                    attempts=len(failed) + 1,
                    fail_fast=True,
                )
            if pod.deleted:
                finished = self._job_condition(workloads, namespace, job, min(deadline, time.monotonic() + 30))
                if finished is not None:
                    return finished.model_copy(update={"pod": pod, "attempts": max(len(failed), 1)})
        finished = self._job_condition(workloads, namespace, job, time.monotonic() + 1)
        if finished is not None:
            return finished
        last = max(seen.values(), key=lambda v: v.name, default=None)
        return _Verdict(
            state="failed",
            reason="Timeout",
            detail="the job did not finish within timeout_seconds",
            pod=last,
            attempts=len(failed) + 1,
            fail_fast=True,
        )

    @staticmethod
    def _already_finished(workloads: KubeWorkloads, namespace: str, job: str) -> _Verdict | None:
        view = workloads.read_job(namespace, job)
        if view is None:
            return _Verdict(
                state="failed",
                reason="JobDeleted",
                detail="the Job no longer exists (deleted by someone else, or by its TTL after it finished)",
            )
        if not view.condition:
            return None
        pods = sorted(workloads.pods(namespace, f"{RUN_LABEL}={job}"), key=lambda v: v.name)
        ended = [p for p in pods if p.finished] or pods
        return _Verdict(
            state="succeeded" if view.condition == "Complete" else "failed",
            reason=view.reason,
            detail=view.message,
            pod=ended[-1] if ended else None,
            attempts=max(view.failed + view.succeeded, 1),
        )

    @staticmethod
    def _job_condition(workloads: KubeWorkloads, namespace: str, job: str, until: float) -> _Verdict | None:
        """Wait (by watch) until the Job reports Complete or Failed, or `until` passes."""
        for _kind, raw in workloads.watch_objects("Job", namespace, until, field_selector=f"metadata.name={job}"):
            view = job_view(raw)
            if view.condition == "Complete":
                return _Verdict(state="succeeded")
            if view.condition == "Failed":
                return _Verdict(state="failed", reason=view.reason, detail=view.message)
        return None

    def _finish(
        self, ctx: OperationContext, p: RunJobParams, workloads: KubeWorkloads, verdict: _Verdict
    ) -> dict[str, Any]:
        namespace, job, target = p.namespace, p.job, p.target
        pod = verdict.pod
        text, truncated = "", False
        if pod is not None and any(c.state == "terminated" for c in pod.containers):
            text, truncated = self._log(workloads, namespace, pod.name, p.log_lines, p.log_bytes)
        container = next((c for c in pod.containers if c.name == CONTAINER), None) if pod else None
        duration = None
        if container and container.started_at and container.finished_at:
            duration = round((container.finished_at - container.started_at).total_seconds(), 3)
        cleaned: list[str] = []
        if verdict.fail_fast:
            removed = self._remove(workloads, namespace, job, p.config_map, [f"Job {job}"])
            cleaned = removed or []
            self.ownership.update(p.resource_id, state="deleted" if removed is not None else "ready")
        else:
            self.ownership.update(p.resource_id, state="finished", details={"finished_at": time.time()})
        exit_code = container.exit_code if container else None
        instance = None
        if pod is not None:
            instance = pod.annotations.get(acs_placement.ACS_INSTANCE_ANNOTATION) or pod.annotations.get(
                acs_placement.ECI_INSTANCE_ANNOTATION
            )
        if verdict.state == "succeeded":
            message = f"Job {job} succeeded (exit code {exit_code if exit_code is not None else 0})."
            step = (
                f"Done. The Job is deleted automatically {TTL_AFTER_FINISHED} s after it finished; cleanup removes it "
                "sooner."
            )
        else:
            why = f"{verdict.reason}: {verdict.detail}".strip(": ")
            code = f" with exit code {exit_code}" if exit_code is not None else ""
            message = f"Job {job} failed{code} ({why})."
            step = advice(verdict.reason)
        outcome = _outcome(
            p,
            target.ref,
            ctx.operation_id,
            status=verdict.state,
            exit_code=exit_code,
            reason=verdict.reason or ("Completed" if verdict.state == "succeeded" else ""),
            duration_seconds=duration,
            pod=pod.name if pod else None,
            node=pod.node or None if pod else None,
            instance_id=instance,
            attempts=verdict.attempts,
            log=text,
            log_truncated=truncated,
            cleaned_up=cleaned,
            message=message,
            next_step=step,
        )
        return outcome.model_dump(mode="json")

    @staticmethod
    def _log(workloads: KubeWorkloads, namespace: str, pod: str, lines: int, limit: int) -> tuple[str, bool]:
        try:
            text = workloads.pod_log(namespace, pod, CONTAINER, tail_lines=lines + 1, limit_bytes=MAX_LOG_READ_BYTES)
        except CloudError as exc:
            if exc.status == 401:
                raise  # an expired kubeconfig: the caller fetches a fresh one and reads again
            return f"(the log could not be read: {exc.message})", False
        return tail(text, lines, limit)

    def resume_unfinished(self) -> list[str]:
        return self.operations.resume_all(OPERATION_KIND, self.run_operation)


def _outcome(p: RunJobParams, cluster: str, operation_id: str, **rest: Any) -> JobOutcome:
    """run_job's answer, running or ended: the run it names comes from its params, `rest` says how it stands."""
    return JobOutcome(
        cluster=cluster,
        cluster_id=p.target.cluster_id,
        namespace=p.namespace,
        job_name=p.job,
        operation_id=operation_id,
        compute=p.compute,
        image=p.image,
        notes=list(p.notes),
        **rest,
    )
