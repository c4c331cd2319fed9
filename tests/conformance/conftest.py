"""The product's main flows, run once through a recording proxy to a sandbox of their own.

Every OpenAPI request the product sends on the way (create a cluster, reuse it by name, create an ACK Serverless
cluster, run a Job by cluster name, clean up) is recorded as it went on the wire, with the sandbox's answer.
The conformance tests hold those requests and answers to the installed SDKs and Alibaba's documentation.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ack_compute.cloud.config import StaticCredentials
from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.server.settings import Settings
from ack_compute.tools.cleanup import CleanupReport, CleanupRequest
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.plans import ClusterPlan, ServerlessPlan
from ack_compute.tools.run_job import JobOutcome, JobRequest


def _load(name: str) -> object:
    """tests/ is not a package (pytest runs with --import-mode=importlib): load a sibling module by path."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


recording_proxy = _load("recording_proxy")
RecordingProxy = recording_proxy.RecordingProxy  # type: ignore[attr-defined]
Exchange = recording_proxy.Exchange  # type: ignore[attr-defined]

PLAN = ClusterPlan(edition="pro", instance_types=["ecs.g7.xlarge"], node_count=1, zone="cn-hangzhou-h", hours=1)
SERVERLESS = ServerlessPlan(edition="pro", hours=1)
NAME = "acf-conformance"


@dataclass
class Flows:
    """The recorded exchanges, and which flow sent each (flow name -> [start, end) into `exchanges`)."""

    exchanges: list = field(default_factory=list)
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    def of(self, flow: str) -> list:
        start, end = self.spans[flow]
        return self.exchanges[start:end]


def _finish(runtime: Runtime, operation_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    status = runtime.operations.get(operation_id)
    while not status.done and time.monotonic() < deadline:
        status = runtime.operations.wait(operation_id, 2)
    assert status.state == "succeeded", (status.stage, status.error)
    return status.result or {}


def _quote(runtime: Runtime, plan: ClusterPlan | ServerlessPlan) -> str:
    token = estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes).quote_token
    assert token
    return token


@pytest.fixture(scope="session")
def flow_cloud() -> Iterator[SandboxCloud]:
    with SandboxCloud(time_scale=600) as cloud:
        yield cloud


@pytest.fixture(scope="session")
def proxy(flow_cloud: SandboxCloud) -> Iterator[RecordingProxy]:
    running = RecordingProxy(flow_cloud.endpoint).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def flows(flow_cloud: SandboxCloud, proxy: RecordingProxy, tmp_path_factory: pytest.TempPathFactory) -> Flows:
    settings = Settings(
        region="cn-hangzhou", state_dir=tmp_path_factory.mktemp("state"), endpoint=proxy.endpoint, protocol="http"
    )
    keys = StaticCredentials(access_key_id=flow_cloud.access_key_id, access_key_secret=flow_cloud.access_key_secret)
    runtime = Runtime.build(settings, keys)
    recorded = Flows()

    def span(name: str, start: int) -> None:
        recorded.spans[name] = (start, len(proxy.exchanges))

    start = len(proxy.exchanges)
    outcome = runtime.clusters.ensure(NAME, plan=PLAN, quote_token=_quote(runtime, PLAN))
    created = _finish(runtime, outcome.operation_id or "")
    assert created["status"] == "created", created
    span("create a cluster", start)

    start = len(proxy.exchanges)
    again = runtime.clusters.ensure(NAME)
    assert again.status == "reused" and again.cluster_id == created["cluster_id"], again
    span("reuse by name", start)

    start = len(proxy.exchanges)
    outcome = runtime.clusters.ensure(f"{NAME}-sls", plan=SERVERLESS, quote_token=_quote(runtime, SERVERLESS))
    assert _finish(runtime, outcome.operation_id or "")["status"] == "created"
    span("create an ACK Serverless cluster", start)

    start = len(proxy.exchanges)
    started = runtime.jobs.start(JobRequest(cluster=NAME, script="echo conformance"))
    job = JobOutcome.model_validate(_finish(runtime, started.operation_id or ""))
    assert job.status == "succeeded" and "conformance" in job.log, job
    span("run_job by cluster name", start)

    start = len(proxy.exchanges)
    report = runtime.cleaner.start(CleanupRequest(dry_run=False))
    if report.operation_id:
        report = CleanupReport.model_validate(_finish(runtime, report.operation_id, timeout=300))
    assert {c.state for c in flow_cloud.clusters()} == {"deleted"}, report
    span("cleanup", start)

    recorded.exchanges = list(proxy.exchanges)
    return recorded
