"""run_job against the sandbox: real SDKs, the real kubernetes client, the simulated kubelet running the script."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.tools.errors import AckComputeError, QuoteRefused
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.job_spec import JobOutcome, JobRequest
from ack_compute.tools.plans import AcsPlan, normalise
from tests.helpers.waiting import settle


@pytest.fixture
def runtime(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> Runtime:
    return runtime_on(world)


@pytest.fixture
def cluster(world: SandboxCloud) -> str:
    return world.plant_cluster("acf-jobs", nodes=2)


def run(runtime: Runtime, timeout: float = 60, **fields: Any) -> JobOutcome:
    started = runtime.jobs.start(JobRequest.model_validate(fields))
    assert started.status == "running" and started.operation_id, started
    status = settle(runtime, started.operation_id, timeout)
    assert status.state == "succeeded", (status.stage, status.error)
    return JobOutcome.model_validate(status.result)


def api(runtime: Runtime, cluster_id: str) -> client.ApiClient:
    return runtime.targets.access(runtime.targets.resolve(cluster_id)).api_client()


def test_a_shell_script_runs_and_returns_its_output(runtime: Runtime, cluster: str, world: SandboxCloud) -> None:
    out = run(
        runtime, cluster=cluster, script='echo "hello from $GREETING"\necho second line >&2\n', env={"GREETING": "ack"}
    )
    assert out.status == "succeeded" and out.exit_code == 0, out
    assert "hello from ack" in out.log and "second line" in out.log
    assert out.job_name and out.job_name.startswith("acf-job-")
    assert out.pod and out.pod.startswith(out.job_name) and out.node
    assert out.duration_seconds is not None and out.duration_seconds >= 0
    assert out.image and out.image.endswith("/acs/busybox") and "aliyuncs.com" in out.image
    assert not out.log_truncated and out.cleaned_up == []
    # The Job carries our labels, and its script ConfigMap is owned by it (so the GC removes both together).
    batch = client.BatchV1Api(api(runtime, cluster))
    job = batch.read_namespaced_job(out.job_name, "default")
    assert job.metadata.labels["ack-compute-mcp/managed-by"] == "ack-compute-mcp"
    assert job.metadata.labels["ack-compute-mcp/operation"] == out.operation_id
    assert job.spec.ttl_seconds_after_finished == 300 and job.spec.backoff_limit == 0
    cm = client.CoreV1Api(api(runtime, cluster)).read_namespaced_config_map(f"{out.job_name}-script", "default")
    assert [(o.kind, o.name, o.uid) for o in cm.metadata.owner_references] == [("Job", out.job_name, job.metadata.uid)]
    (row,) = [r for r in runtime.ownership.all() if r.kind == "job"]
    assert row.state == "finished" and row.cloud_id == job.metadata.uid and row.name.endswith(out.job_name)


def test_a_python_script_that_fails_returns_its_exit_code_and_log(runtime: Runtime, cluster: str) -> None:
    script = "import sys\nprint('computing', 6 * 7)\nsys.exit(3)\n"
    out = run(runtime, cluster=cluster, script=script, script_type="python")
    assert out.status == "failed" and out.exit_code == 3, out
    assert "computing 42" in out.log
    assert out.image and "python" in out.image
    assert "fix the script" in out.next_step.lower()


def test_the_log_tail_is_bounded_and_flagged(runtime: Runtime, cluster: str) -> None:
    script = "i=0; while [ $i -lt 500 ]; do echo line-$i; i=$((i+1)); done"
    out = run(runtime, cluster=cluster, script=script, log_lines=50)
    assert out.log_truncated and out.log.splitlines() == [f"line-{i}" for i in range(450, 500)]


def test_an_image_that_cannot_be_pulled_fails_fast_and_is_cleaned_up(runtime: Runtime, cluster: str) -> None:
    started = time.monotonic()
    out = run(runtime, cluster=cluster, script="echo never", image="registry.example.com/nope/missing:1.0")
    assert out.status == "failed" and out.reason in ("ErrImagePull", "ImagePullBackOff"), out
    assert time.monotonic() - started < 30  # not the 600 s timeout
    assert any(c.startswith("Job default/") for c in out.cleaned_up), out.cleaned_up
    assert "image" in out.next_step.lower()
    batch = client.BatchV1Api(api(runtime, cluster))
    assert [j.metadata.name for j in batch.list_namespaced_job("default").items] == []
    (row,) = [r for r in runtime.ownership.all() if r.kind == "job"]
    assert row.state == "deleted"


def test_a_script_that_outlives_its_timeout_is_stopped(runtime: Runtime, cluster: str) -> None:
    out = run(runtime, cluster=cluster, script="echo started; sleep 60", timeout_seconds=10, timeout=60)
    assert out.status == "failed" and out.reason in ("DeadlineExceeded", "Timeout"), out
    assert "timeout_seconds" in out.next_step


def test_bad_namespace_is_refused_before_anything_is_created(runtime: Runtime, cluster: str) -> None:
    with pytest.raises(AckComputeError, match="Namespace nowhere does not exist"):
        runtime.jobs.start(JobRequest(cluster=cluster, script="echo", namespace="nowhere"))
    assert runtime.ownership.all() == []


def test_unknown_cluster_says_how_to_get_one(runtime: Runtime) -> None:
    with pytest.raises(AckComputeError, match="ensure_cluster"):
        runtime.jobs.start(JobRequest(cluster="acf-nothing-here", script="echo"))


def test_cluster_by_name_and_by_kubeconfig_context(
    runtime: Runtime, cluster: str, world: SandboxCloud, runtime_on: Callable[..., Runtime], tmp_path: Path
) -> None:
    assert run(runtime, cluster="acf-jobs", script="echo by-name").log.strip() == "by-name"
    kubeconfig = yaml.safe_load(runtime.clusters.kubeconfigs.get(cluster).config.get_secret_value())
    kubeconfig["contexts"][0]["name"] = "registered-one"
    kubeconfig["current-context"] = "registered-one"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    other = runtime_on(world, kubeconfig=path, allowed_contexts=["registered-one", "missing"])
    out = run(other, cluster="context:registered-one", script="echo via-context")
    assert out.log.strip() == "via-context" and out.cluster_id is None
    with pytest.raises(AckComputeError) as refused:
        other.jobs.start(JobRequest(cluster="context:missing", script="echo"))
    assert refused.value.message == "Cannot use context missing: context missing is not in the server's kubeconfig."
    assert str(path) not in refused.value.text


def test_twenty_concurrent_runs_on_one_cluster_all_succeed(runtime: Runtime, cluster: str) -> None:
    results: list[JobOutcome] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            results.append(run(runtime, cluster=cluster, script=f"echo run-{i}", timeout=120))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors, errors[:3]
    assert sorted(r.log.strip() for r in results) == sorted(f"run-{i}" for i in range(20))
    assert len({r.job_name for r in results}) == 20 and all(r.exit_code == 0 for r in results)


def test_acs_compute_needs_a_quote_and_runs_on_a_virtual_node(runtime: Runtime, world: SandboxCloud) -> None:
    cluster = world.plant_cluster("acf-pro", cluster_spec="ack.pro.small", addons={"ack-virtual-node": None})
    plan = AcsPlan(vcpu=1, memory_gib=2, hours=1)
    asked = runtime.jobs.start(JobRequest(cluster=cluster, script="echo on-acs", compute="acs", acs=plan))
    assert asked.status == "quote_required" and asked.plan_to_quote is not None
    assert [r for r in runtime.ownership.all() if r.kind == "job"] == []
    token = estimate_cost(
        asked.plan_to_quote, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes
    )
    assert token.quote_token
    out = run(
        runtime,
        cluster=cluster,
        script="echo on-acs",
        compute="acs",
        acs=plan.model_dump(),
        quote_token=token.quote_token,
    )
    assert out.status == "succeeded" and out.log.strip() == "on-acs", out
    assert out.node and out.node.startswith("virtual-kubelet-")
    assert out.instance_id and out.instance_id.startswith("acs-")
    with pytest.raises(QuoteRefused, match="already_used"):
        runtime.jobs.start(
            JobRequest(cluster=cluster, script="echo again", compute="acs", acs=plan, quote_token=token.quote_token)
        )


def test_acs_without_the_virtual_node_addon_is_refused_with_the_fix(runtime: Runtime, world: SandboxCloud) -> None:
    cluster = world.plant_cluster("acf-plain", cluster_spec="ack.pro.small")
    plan = AcsPlan(vcpu=1, memory_gib=2, hours=1)
    token = estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes).quote_token
    with pytest.raises(AckComputeError, match="Install ack-virtual-node"):
        runtime.jobs.start(JobRequest(cluster=cluster, script="echo", compute="acs", acs=plan, quote_token=token))
    assert runtime.ownership.all() == []
    assert runtime.quotes.verify(token or "", normalise(plan, "cn-hangzhou")).quote_id  # the quote is still unused
