"""run_job on the MCP surface: a Job on nodes (no new cost) or on ACS compute (paid by quote id, consent by
elicitation), a bounded wait, progress, and a lean result."""

# No `from __future__ import annotations`: the SDK evaluates the tool signature to build its schema.
from typing import Annotated, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Resolve
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field, TypeAdapter

from ack_compute.server.consent import ConsentRef, Offer, consent_resolver, cost_words, quoted_offer
from ack_compute.server.errors import as_tool_errors
from ack_compute.server.params import ClusterRef, Env, Image, Namespace, QuotedPlan, QuoteId, QuoteToken, WaitSeconds
from ack_compute.server.quoting import quoted_plan
from ack_compute.server.runtime import Runtime
from ack_compute.server.waiting import requested_by, start_then_answer
from ack_compute.tools.job_spec import JobOutcome, JobRequest
from ack_compute.tools.node_pool_spec import POOL_NAME
from ack_compute.tools.plans import AcsPlan

ACS: TypeAdapter[AcsPlan] = TypeAdapter(AcsPlan)
DESCRIPTION = (
    "Runs a shell or python script once as a Kubernetes Job and returns exit code, duration, pod, node and the log "
    "tail. Fails fast with the reason (image pull, config, unschedulable), deleting the Job. compute=nodes uses the "
    "cluster's nodes (no new cost); compute=acs runs on billed ACS compute: pass the quote_id of an estimate_cost "
    "kind=acs plan (replicas 1, hours covering timeout_seconds). Waits up to wait_seconds, then returns an "
    "operation_id for get_operation. cleanup_after deletes the cluster this server created once the job ends."
)


def register_run_job(server: MCPServer, runtime: Runtime) -> None:
    jobs = runtime.jobs
    policy = runtime.settings.confirmation

    def job_precheck(
        cluster: str,
        compute: str = "nodes",
        quote_id: str = "",
        quote_token: str = "",
        acs: dict | None = None,
        timeout_seconds: int = 600,
        namespace: str = "default",
    ) -> Offer:
        """Only ACS compute is billed: run_job's purchase path up to the question, then the quoted ceiling."""
        ref = quote_id or quote_token

        def buy():  # type: ignore[no-untyped-def]
            plan = quoted_plan(runtime, ACS, ("acs",), "run_job", ref, acs)
            request = JobRequest(
                cluster=cluster,
                script="-",
                compute="acs",
                acs=plan,
                quote_token=ref,
                timeout_seconds=timeout_seconds,
                namespace=namespace,
            )
            return plan, jobs.offer(request)

        def question(plan, q):  # type: ignore[no-untyped-def]
            gpu = f", {plan.gpu_count} x {plan.gpu_model}" if plan.gpu_count else ""
            return (
                f"Run a job on cluster '{cluster}' ({q.region}) using ACS {plan.compute_class} compute "
                f"({plan.vcpu:g} vCPU, {plan.memory_gib:g} GiB{gpu}) at "
                f"{cost_words(q, 'at most')}?"
            )

        return quoted_offer(ref if compute == "acs" else "", buy, question)

    @server.tool(
        name="run_job",
        title="Run a script as a Kubernetes Job",
        description=DESCRIPTION,
        # cleanup_after may delete a cluster: a host must not take this tool for harmless.
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
        ),
    )
    @as_tool_errors
    async def run_job(
        ctx: Context,
        cluster: ClusterRef,
        script: Annotated[str, Field(min_length=1, description="The script text (at most 512 KiB).")],
        consent: Annotated[ConsentRef, Resolve(consent_resolver(runtime, job_precheck))],
        script_type: Annotated[Literal["shell", "python"], Field(description="How to run the script.")] = "shell",
        image: Annotated[Image, Field(description="Container image; default: from the cluster's registry.")] = "",
        env: Env | None = None,
        namespace: Namespace = "default",
        timeout_seconds: Annotated[int, Field(ge=10, le=7 * 86400, description="The Job's deadline.")] = 600,
        retries: Annotated[int, Field(ge=0, le=5, description="Extra attempts after a failure.")] = 0,
        compute: Annotated[
            Literal["nodes", "acs"], Field(description="nodes: the cluster's nodes; acs: billed ACS pods.")
        ] = "nodes",
        node_pool: Annotated[
            str, Field(pattern=f"^({POOL_NAME[1:-1]})?$", description="Run only on this node pool (compute=nodes).")
        ] = "",
        quote_id: QuoteId = "",
        acs: QuotedPlan = None,
        quote_token: QuoteToken = "",
        log_lines: Annotated[int, Field(ge=1, le=5000, description="Most log lines returned (the tail).")] = 50,
        log_bytes: Annotated[int, Field(ge=1024, le=1024 * 1024, description="Most log bytes returned.")] = 8192,
        cleanup_after: Annotated[
            bool,
            Field(description="When the job ends, delete the cluster and network if this server created them."),
        ] = False,
        wait_seconds: WaitSeconds = 30,
    ) -> Annotated[CallToolResult, JobOutcome]:
        ref = quote_id or quote_token
        plan = quoted_plan(runtime, ACS, ("acs",), "run_job", ref, acs) if compute == "acs" else None
        request = JobRequest(
            cluster=cluster,
            script=script,
            script_type=script_type,
            image=image or None,
            env=env or {},
            namespace=namespace,
            timeout_seconds=timeout_seconds,
            retries=retries,
            compute=compute,
            node_pool=node_pool or None,
            acs=plan if plan is not None else (ACS.validate_python(acs) if acs else None),
            quote_token=ref or None,
            log_lines=log_lines,
            log_bytes=log_bytes,
            cleanup_after=cleanup_after,
        )
        return await start_then_answer(
            runtime,
            ctx,
            lambda: jobs.start(
                request, consent_id=consent.consent_id, confirmation_policy=policy, requested_by=requested_by(ctx)
            ),
            wait_seconds,
            running=lambda o: o.status == "running",
            finished=JobOutcome.model_validate,
            still=lambda o, s: o.model_copy(update={"message": f"{o.message} Now: {s.stage}."}),
        )
