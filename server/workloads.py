"""run_job (and the workload tools) on the MCP surface: consent by elicitation when compute is billed, a bounded
wait, progress, and the job's result as structured output."""

# No `from __future__ import annotations`: the SDK evaluates the tool signatures to build their schemas.
from typing import Annotated, Literal

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp.types import ToolAnnotations
from pydantic import Field

from ack_compute.cloud.errors import CloudError
from ack_compute.server.clusters import MAX_WAIT, _requested_by, await_operation
from ack_compute.server.consent import CostConsent, can_elicit, decision, quote_to_put
from ack_compute.server.errors import as_tool_errors
from ack_compute.server.runtime import Runtime
from ack_compute.tools import acs_placement
from ack_compute.tools.deploy_acs import DeployOutcome, DeployPlan, DeployRequest, PodPlan
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.plans import AcsPlan, EciPlan, normalise
from ack_compute.tools.run_job import CLUSTER_REF_PATTERN, DNS_LABEL, IMAGE_PATTERN, JobOutcome, JobRequest


def _pods(plan: PodPlan) -> str:
    """What the person pays for, in words: the pod kind, spec and (for ECI) spot terms and fallback specs."""
    if isinstance(plan, EciPlan):
        spot = ""
        if plan.spot_strategy == "SpotAsPriceGo":
            spot = " as spot instances at the market price (at most the pay-as-you-go price; they can be reclaimed)"
        elif plan.spot_strategy == "SpotWithPriceLimit":
            spot = f" as spot instances with a limit of {plan.spot_price_limit:g}/h each (they can be reclaimed)"
        fallback = f", or {', '.join(plan.use_specs)} when that is out of stock" if plan.use_specs else ""
        return (
            f"{plan.replicas} ECI pod(s) of {plan.vcpu:g} vCPU, {plan.memory_gib:g} GiB{fallback}{spot} on ACK "
            "Serverless"
        )
    gpu = f", {plan.gpu_count} x {plan.gpu_model}" if plan.gpu_count else ""
    return f"{plan.replicas} ACS {plan.compute_class} pod(s) of {plan.vcpu:g} vCPU, {plan.memory_gib:g} GiB{gpu}"


def register_workloads(server: MCPServer, runtime: Runtime) -> None:
    jobs = runtime.jobs
    policy = runtime.settings.confirmation

    def can_run_there(cluster: str, plan: PodPlan) -> bool:
        """The tool's own prerequisite checks (add-on, version, virtual nodes), run before the person is asked."""
        try:
            acs_placement.check_before_asking(
                runtime.targets, cluster, normalise(plan, runtime.settings.region), runtime.jobs.kube_timeout_s
            )
        except (AckComputeError, CloudError, ValueError):
            return False
        return True

    def ask_job_consent(
        ctx: Context,
        cluster: str,
        compute: str = "nodes",
        acs: AcsPlan | None = None,
        quote_token: str | None = None,
    ) -> Elicit[CostConsent] | CostConsent:
        """Only ACS compute is billed; then the person is asked to accept the quoted ceiling."""
        payload = quote_to_put(runtime, ctx, quote_token, acs) if compute == "acs" and acs is not None else None
        if payload is None or not can_run_there(cluster, acs):  # nobody is asked to pay for pods that cannot run
            return CostConsent(accept=True)
        gpu = f", {acs.gpu_count} x {acs.gpu_model}" if acs.gpu_count else ""
        return Elicit(
            f"Run a job on cluster '{cluster}' using ACS {acs.compute_class} compute ({acs.vcpu:g} vCPU, "
            f"{acs.memory_gib:g} GiB{gpu}) at {payload.hourly} {payload.currency}/h, at most {payload.total} "
            f"{payload.currency} for {payload.hours:g} h (quote {payload.quote_id})?",
            CostConsent,
        )

    @server.tool(
        name="run_job",
        title="Run a script as a Kubernetes Job",
        description=(
            "Runs a shell or python script once as a Kubernetes Job on a cluster (ACK id or name, or "
            "context:<name> from the local kubeconfig) and returns the exit code, duration, pod, node and the log "
            "tail (bounded by log_lines and log_bytes, with a truncated flag). Fails fast with the reason on image "
            "pull errors, config errors and unschedulable pods, deleting the Job. compute=nodes runs on the "
            "cluster's nodes (no new cost); compute=acs runs on ACS serverless compute, which is billed: get a "
            "quote from estimate_cost for the acs plan (replicas 1, hours covering timeout_seconds) first. Waits "
            "at most wait_seconds, then returns an operation_id for get_operation."
        ),
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
        ),
    )
    @as_tool_errors
    async def run_job(
        ctx: Context,
        cluster: Annotated[
            str, Field(pattern=CLUSTER_REF_PATTERN, description="Cluster id or name, or context:<kubeconfig context>.")
        ],
        script: Annotated[str, Field(min_length=1, description="The script text (at most 512 KiB).")],
        consent: Annotated[ElicitationResult[CostConsent], Resolve(ask_job_consent)],
        script_type: Literal["shell", "python"] = "shell",
        image: Annotated[
            str | None, Field(pattern=IMAGE_PATTERN, description="Default: from the cluster's registry.")
        ] = None,
        env: Annotated[dict[str, str] | None, Field(description="Environment variables.")] = None,
        namespace: Annotated[str, Field(pattern=DNS_LABEL)] = "default",
        timeout_seconds: Annotated[int, Field(ge=10, le=7 * 86400, description="The Job's deadline.")] = 600,
        retries: Annotated[int, Field(ge=0, le=5, description="Extra attempts after a failure.")] = 0,
        compute: Literal["nodes", "acs"] = "nodes",
        acs: Annotated[AcsPlan | None, Field(description="With compute=acs: the quoted plan.")] = None,
        quote_token: str | None = None,
        log_lines: Annotated[int, Field(ge=1, le=5000)] = 200,
        log_bytes: Annotated[int, Field(ge=1024, le=1024 * 1024)] = 65536,
        cleanup_after: Annotated[
            bool,
            Field(
                description="When the job ends, however it ends, delete the cluster and its network if this server "
                "created them (a reused cluster is kept)."
            ),
        ] = False,
        wait_seconds: Annotated[int, Field(ge=0, le=MAX_WAIT)] = 30,
    ) -> JobOutcome:
        request = JobRequest(
            cluster=cluster,
            script=script,
            script_type=script_type,
            image=image,
            env=env or {},
            namespace=namespace,
            timeout_seconds=timeout_seconds,
            retries=retries,
            compute=compute,
            acs=acs,
            quote_token=quote_token,
            log_lines=log_lines,
            log_bytes=log_bytes,
            cleanup_after=cleanup_after,
        )
        answer = decision(compute == "acs" and acs is not None and bool(quote_token) and can_elicit(ctx), consent)
        outcome = await anyio.to_thread.run_sync(
            lambda: jobs.start(request, consent=answer, confirmation_policy=policy, requested_by=_requested_by(ctx))
        )
        if outcome.operation_id and outcome.status == "running" and wait_seconds:
            status = await await_operation(runtime, ctx, outcome.operation_id, wait_seconds)
            if status.state == "succeeded" and status.result:
                return JobOutcome.model_validate(status.result)
            if status.state == "failed":
                raise ToolError(f"Operation {status.operation_id} failed: {status.error}")
            outcome = outcome.model_copy(update={"message": f"{outcome.message} Now: {status.stage}."})
        return outcome

    def ask_deploy_consent(
        ctx: Context, cluster: str, name: str, plan: DeployPlan, quote_token: str | None = None
    ) -> Elicit[CostConsent] | CostConsent:
        payload = quote_to_put(runtime, ctx, quote_token, plan)
        if payload is None or not can_run_there(cluster, plan):
            return CostConsent(accept=True)
        return Elicit(
            f"Deploy '{name}' on cluster '{cluster}': {_pods(plan)} at {payload.hourly} {payload.currency}/h, about "
            f"{payload.total} {payload.currency} for {payload.hours:g} h (quote {payload.quote_id}). It keeps "
            "running and billing until cleanup removes it. Accept?",
            CostConsent,
        )

    @server.tool(
        name="deploy_acs",
        title="Deploy a workload on ACS serverless compute",
        description=(
            "Creates or updates a Deployment whose pods run on ACS serverless compute through virtual nodes "
            "(ACK Pro with the ack-virtual-node add-on >= 2.13.0 on Kubernetes >= 1.26, ACK Serverless, or a "
            "registered cluster via context:<name>). Billed per pod: pass the plan quoted by estimate_cost "
            "(kind=acs: replicas, vcpu, memory_gib, compute_class, qos, GPUs, hours) and its quote_token. On ACK "
            "Serverless a kind=eci plan runs ECI pods instead (an ECI vcpu/memory spec, optional spot strategy and "
            "price limit, fallback use_specs, image_cache; priced by the ECI price API). "
            "Re-running with the same name updates it; a new quote is needed only when the plan costs more per "
            "hour. Returns the pods, their virtual nodes and ACS or ECI instance ids, and the service endpoint when "
            "ports are given. Deployments this server did not create are never touched."
        ),
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
    @as_tool_errors
    async def deploy_acs(
        ctx: Context,
        cluster: Annotated[
            str, Field(pattern=CLUSTER_REF_PATTERN, description="Cluster id or name, or context:<kubeconfig context>.")
        ],
        name: Annotated[str, Field(pattern=DNS_LABEL, max_length=50, description="Deployment name.")],
        image: Annotated[str, Field(pattern=IMAGE_PATTERN)],
        plan: Annotated[
            DeployPlan,
            Field(description="The quoted plan: kind=acs, or kind=eci on an ACK Serverless cluster."),
        ],
        consent: Annotated[ElicitationResult[CostConsent], Resolve(ask_deploy_consent)],
        quote_token: str | None = None,
        namespace: Annotated[str, Field(pattern=DNS_LABEL)] = "default",
        ports: Annotated[
            list[int] | None, Field(description="Container ports; a ClusterIP Service exposes them.")
        ] = None,
        env: dict[str, str] | None = None,
        command: Annotated[list[str] | None, Field(description="Overrides the image's entrypoint.")] = None,
    ) -> DeployOutcome:
        request = DeployRequest(
            cluster=cluster,
            name=name,
            image=image,
            plan=plan,
            quote_token=quote_token,
            namespace=namespace,
            ports=ports or [],
            env=env or {},
            command=command or [],
        )
        answer = decision(bool(quote_token) and can_elicit(ctx), consent)
        return await anyio.to_thread.run_sync(
            lambda: runtime.deployer.deploy(
                request, consent=answer, confirmation_policy=policy, requested_by=_requested_by(ctx)
            )
        )
