"""run_job (and the workload tools) on the MCP surface: consent by elicitation when compute is billed, a bounded
wait, progress, and the job's result as structured output."""

# No `from __future__ import annotations`: the SDK evaluates the tool signatures to build their schemas.
from typing import Annotated, Literal

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Resolve
from mcp.types import ToolAnnotations
from pydantic import Field

from ack_compute.server.clusters import MAX_WAIT, _requested_by, await_operation
from ack_compute.server.consent import ConsentRef, Offer, consent_resolver, pre_check
from ack_compute.server.errors import as_tool_errors
from ack_compute.server.runtime import Runtime
from ack_compute.tools.deploy_acs import DeployOutcome, DeployPlan, DeployRequest, PodPlan
from ack_compute.tools.plans import AcsPlan, EciPlan
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

    def job_precheck(
        cluster: str,
        compute: str = "nodes",
        acs: AcsPlan | None = None,
        quote_token: str | None = None,
        timeout_seconds: int = 600,
        namespace: str = "default",
    ) -> Offer:
        """Only ACS compute is billed: run_job's purchase path up to the question, then the quoted ceiling."""
        if compute != "acs" or acs is None or not quote_token:
            return Offer()
        request = JobRequest(
            cluster=cluster,
            script="-",
            compute="acs",
            acs=acs,
            quote_token=quote_token,
            timeout_seconds=timeout_seconds,
            namespace=namespace,
        )
        gpu = f", {acs.gpu_count} x {acs.gpu_model}" if acs.gpu_count else ""
        return pre_check(
            lambda: jobs.offer(request),
            lambda q: (
                f"Run a job on cluster '{cluster}' ({q.region}) using ACS {acs.compute_class} compute "
                f"({acs.vcpu:g} vCPU, {acs.memory_gib:g} GiB{gpu}) at {q.hourly} {q.currency}/h, at most {q.total} "
                f"{q.currency} for {q.hours:g} h (quote {q.quote_id})?"
            ),
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
        consent: Annotated[ConsentRef, Resolve(consent_resolver(runtime, job_precheck))],
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
        outcome = await anyio.to_thread.run_sync(
            lambda: jobs.start(
                request, consent_id=consent.consent_id, confirmation_policy=policy, requested_by=_requested_by(ctx)
            )
        )
        if outcome.operation_id and outcome.status == "running" and wait_seconds:
            status = await await_operation(runtime, ctx, outcome.operation_id, wait_seconds)
            if status.state == "succeeded" and status.result:
                return JobOutcome.model_validate(status.result)
            if status.state == "failed":
                raise ToolError(f"Operation {status.operation_id} failed: {status.error}")
            outcome = outcome.model_copy(update={"message": f"{outcome.message} Now: {status.stage}."})
        return outcome

    def deploy_precheck(
        cluster: str,
        name: str,
        image: str,
        plan: DeployPlan,
        quote_token: str | None = None,
        namespace: str = "default",
    ) -> Offer:
        """deploy_acs's purchase path up to the question (a cheaper update buys nothing and asks nothing)."""
        if not quote_token:
            return Offer()
        request = DeployRequest(
            cluster=cluster, name=name, image=image, plan=plan, quote_token=quote_token, namespace=namespace
        )
        return pre_check(
            lambda: runtime.deployer.offer(request),
            lambda q: (
                f"Deploy '{name}' on cluster '{cluster}' ({q.region}): {_pods(plan)} at {q.hourly} "
                f"{q.currency}/h, about {q.total} {q.currency} for {q.hours:g} h (quote {q.quote_id}). It keeps "
                "running and billing until cleanup removes it. Accept?"
            ),
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
        consent: Annotated[ConsentRef, Resolve(consent_resolver(runtime, deploy_precheck))],
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
        return await anyio.to_thread.run_sync(
            lambda: runtime.deployer.deploy(
                request, consent_id=consent.consent_id, confirmation_policy=policy, requested_by=_requested_by(ctx)
            )
        )
