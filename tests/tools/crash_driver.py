"""A throwaway server process for the crash tests (tests/tools/test_crash_recovery.py).

It wires a `Runtime` to the sandbox the test runs, starts one long operation, prints one JSON line per
step on stdout, and then idles until the test kills it with SIGKILL. Credentials come from the environment
(ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET), never from the command line.

    python crash_driver.py create --state-dir DIR --endpoint HOST:PORT --name NAME --plan JSON
    python crash_driver.py job    --state-dir DIR --endpoint HOST:PORT --name NAME --plan JSON --script TEXT
    python crash_driver.py job    --state-dir DIR --endpoint HOST:PORT --cluster ID --script TEXT
    python crash_driver.py pool   --state-dir DIR --endpoint HOST:PORT --cluster ID --name NAME (1 x ecs.g7.xlarge)
    python crash_driver.py deploy --state-dir DIR --endpoint HOST:PORT --cluster ID   (deploy_acs, 1 ACS pod)

`--die-at POINT` makes the process SIGKILL itself at a point too narrow to aim at from outside:
`before-operation-row` (ensure_cluster, after the intent row and the quote redemption, before the operation
row) or `before-create-job` (run_job, after the script's ConfigMap, before the Job).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ack_compute.cloud.config import StaticCredentials
from ack_compute.cloud.kube_workloads import KubeWorkloads
from ack_compute.server.runtime import Runtime
from ack_compute.server.settings import Settings
from ack_compute.tools.deploy_acs import DeployRequest
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.job_spec import JobRequest
from ack_compute.tools.plans import AcsPlan, ClusterPlan, NodePoolPlan


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, "pid": os.getpid(), **fields}), flush=True)


def die_here(point: str) -> Any:
    def die(*_args: Any, **_kwargs: Any) -> Any:
        emit("dying", point=point)
        os.kill(os.getpid(), signal.SIGKILL)

    return die


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["create", "job", "pool", "deploy"])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--name", default="")
    parser.add_argument("--plan", default="", help="a ClusterPlan as JSON")
    parser.add_argument("--cluster", default="", help="job mode: run on this cluster instead of creating one")
    parser.add_argument("--script", default="sleep 5")
    parser.add_argument("--die-at", choices=["before-operation-row", "before-create-job"])
    args = parser.parse_args(argv)

    settings = Settings(region="cn-hangzhou", state_dir=args.state_dir, endpoint=args.endpoint, protocol="http")
    credentials = StaticCredentials(
        access_key_id=os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"],
        access_key_secret=os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
    )
    runtime = Runtime.build(settings, credentials)
    if args.die_at == "before-operation-row":
        runtime.operations.start = die_here(args.die_at)  # type: ignore[method-assign]
    elif args.die_at == "before-create-job":
        KubeWorkloads.create_job = die_here(args.die_at)  # type: ignore[method-assign]
    cluster_id, operation_id = args.cluster, ""
    if args.mode == "pool":
        pool = NodePoolPlan(cluster=cluster_id, instance_types=["ecs.g7.xlarge"], node_count=1)
        quote = estimate_cost(pool, default_region=settings.region, pricer=runtime.pricer, quotes=runtime.quotes)
        added = runtime.node_pools.ensure(cluster_id, args.name, plan=quote.plan, quote_token=quote.quote_id)  # type: ignore[arg-type]
        emit("pool", operation_id=added.operation_id, status=added.status)
        while True:
            time.sleep(3600)
    if not cluster_id:
        plan = ClusterPlan.model_validate_json(args.plan)
        quote = estimate_cost(plan, default_region=settings.region, pricer=runtime.pricer, quotes=runtime.quotes)
        outcome = runtime.clusters.ensure(args.name, plan=plan, quote_token=quote.quote_token)
        operation_id = outcome.operation_id or ""
        emit("cluster", operation_id=operation_id, status=outcome.status)
    if args.mode == "deploy":
        pods = AcsPlan(replicas=1, vcpu=1, memory_gib=2, hours=1)
        quote = estimate_cost(pods, default_region=settings.region, pricer=runtime.pricer, quotes=runtime.quotes)
        request = DeployRequest(
            cluster=cluster_id, name="web", image="nginx:1.27", plan=pods, quote_token=quote.quote_token
        )
        deployed = runtime.deployer.deploy(request)
        emit("deploy", operation_id=deployed.operation_id, status=deployed.status)
    if args.mode == "job":
        if not cluster_id:
            status = runtime.operations.get(operation_id)
            while not status.done:
                status = runtime.operations.wait(operation_id, 5)
            result = status.result or {}
            emit("cluster_done", state=status.state, error=status.error, cluster_id=result.get("cluster_id"))
            if status.state != "succeeded":
                return 1
            cluster_id = result["cluster_id"]
        started = runtime.jobs.start(JobRequest(cluster=cluster_id, script=args.script))
        emit("job", operation_id=started.operation_id, job_name=started.job_name, status=started.status)
    while True:  # the operations run in daemon threads; this process only waits for its SIGKILL
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
