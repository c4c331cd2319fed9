"""The fault matrix of issue 5: every fault the cloud or a cluster can throw at the tools, each run end to end
against its own sandbox, then cleaned up, with what was left and what was touched counted.

Run: python bench/fault_matrix.py [scenario ...]
Each scenario plants resources that someone else made (an `acf-` cluster hosting a foreign Job and ConfigMap, an
`acf-` cluster whose tags even claim to be ours, a VPC with a vSwitch), runs one faulted flow through the tools
layer, runs cleanup (twice when the first pass is partial because of the fault, clearing it in between), then
compares. Prints the table: fault | what the tool reported | cleanup passes | ours left | foreign touched; asserts
nothing. tests/tools/test_fault_matrix.py runs the same scenarios and asserts on them.
"""

from __future__ import annotations

import os

os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)

import argparse  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from kubernetes import client  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from ack_compute.cloud.config import StaticCredentials  # noqa: E402
from ack_compute.cloud.kube import KubeAccess  # noqa: E402
from ack_compute.sandbox import SandboxCloud  # noqa: E402
from ack_compute.sandbox.faults import Fault  # noqa: E402
from ack_compute.server.runtime import Runtime  # noqa: E402
from ack_compute.server.settings import Settings  # noqa: E402
from ack_compute.tools.cleanup import CleanupReport, CleanupRequest  # noqa: E402
from ack_compute.tools.deploy_acs import DeployRequest  # noqa: E402
from ack_compute.tools.errors import AckComputeError  # noqa: E402
from ack_compute.tools.estimate_cost import estimate_cost  # noqa: E402
from ack_compute.tools.job_spec import RUN_LABEL, JobOutcome, JobRequest  # noqa: E402
from ack_compute.tools.operations import OperationStatus  # noqa: E402
from ack_compute.tools.ownership import MANAGED_BY, OPERATION_TAG, OwnedResource  # noqa: E402
from ack_compute.tools.plans import AcsPlan, ClusterPlan  # noqa: E402

REGION = "cn-hangzhou"
NAMESPACE = "default"
PLAN = ClusterPlan(instance_types=["ecs.g7.xlarge"], node_count=1, zone="cn-hangzhou-h", hours=1)
ACS = AcsPlan(replicas=1, vcpu=1, memory_gib=2, hours=1)
OURS = "acf-ours"
HOST = "acf-someone-else"  # a foreign acf- cluster: our jobs and deployments run on it, its own objects stay
LOOKALIKE = "acf-lookalike"  # a foreign cluster whose tags claim this server made it; the ledger knows better
FOREIGN_JOB = "acf-job-theirs0001"  # named like one of ours, made by someone else
DONE_ROWS = ("deleted", "abandoned")
# Long enough that the Job controller's deadline (scaled by the sandbox clock) never ends a run early.
LONG_JOB_SECONDS = 86400
SETTLE_SECONDS = 20.0  # garbage collection and pod termination after cleanup are asynchronous


# -- what a scenario hands back ---------------------------------------------------------------------------------


@dataclass
class Answer:
    """What the tool told its caller, flattened: an operation's end, a tool's outcome, or a raised error."""

    via: str  # "operation", "outcome", "raised", "cleanup"
    status: str
    message: str
    next_step: str = ""
    reason: str = ""
    cleaned_up: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return f"{self.message} {self.next_step}".strip()

    def line(self, width: int = 110) -> str:
        head = f"{self.status}: {self.message}"
        if self.cleaned_up:
            head += f" [cleaned up: {', '.join(self.cleaned_up)}]"
        head = " ".join(head.split())
        return head if len(head) <= width else head[: width - 1] + "…"


@dataclass
class Outcome:
    key: str
    fault: str
    answer: Answer
    cleanups: list[CleanupReport]
    ours_left: list[str]
    foreign: list[str]  # what someone else had made, as found before the fault
    foreign_touched: list[str]
    ledger_problems: list[str]
    facts: dict[str, Any]
    seconds: float

    @property
    def cleanup_statuses(self) -> str:
        return " -> ".join(c.status for c in self.cleanups)


# -- the stage: a sandbox, the server's runtime, an observer, and the foreign resources ---------------------------


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stage:
    """One sandbox and one state dir. `runtime` is the server under test; `observer` only reads, with a long-lived
    kubeconfig for the host cluster fetched before any fault is armed, so checking never consumes a fault."""

    def __init__(self, world: SandboxCloud, state_dir: Path, **settings: Any) -> None:
        self.world = world
        self.state_dir = state_dir
        self.runtime = self.build(**settings)
        self.observer = self.build(state_dir=state_dir / "observer", kubeconfig_minutes=4320)
        self.first_cleanup: Runtime | None = None  # a scenario may run the first cleanup pass through another one
        self.host = ""
        self.host_kubeconfig = SecretStr("")
        self.facts: dict[str, Any] = {}

    def build(self, **overrides: Any) -> Runtime:
        fields: dict[str, Any] = {
            "region": REGION,
            "state_dir": self.state_dir,
            "endpoint": self.world.endpoint,
            "protocol": "http",
        }
        credentials = StaticCredentials(
            access_key_id=self.world.access_key_id, access_key_secret=self.world.access_key_secret
        )
        return Runtime.build(Settings(**{**fields, **overrides}), credentials)

    def kube(self) -> KubeAccess:
        return KubeAccess(self.host_kubeconfig, timeout_s=10.0)

    def plant_foreign(self) -> None:
        world = self.world
        self.host = world.plant_cluster(HOST, nodes=1, cluster_spec="ack.pro.small", addons={"ack-virtual-node": None})
        world.plant_cluster(
            LOOKALIKE, nodes=1, tags={MANAGED_BY[0]: MANAGED_BY[1], OPERATION_TAG: "op-0123456789abcdef"}
        )
        vpc = world.plant_vpc("acf-vpc-theirs", cidr_block="10.0.0.0/16")
        world.plant_vswitch(vpc, name="acf-vsw-theirs")
        self.host_kubeconfig = self.observer.clusters.kubeconfigs.get(self.host).config
        access = self.kube()
        try:
            api = access.api_client()
            client.BatchV1Api(api).create_namespaced_job(
                NAMESPACE,
                {
                    "metadata": {"name": FOREIGN_JOB, "labels": {"team": "theirs"}},
                    "spec": {
                        "backoffLimit": 0,
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
                            }
                        },
                    },
                },
            )
            client.CoreV1Api(api).create_namespaced_config_map(
                NAMESPACE, {"metadata": {"name": f"{FOREIGN_JOB}-script"}, "data": {"run.sh": "echo theirs"}}
            )
        finally:
            access.close()

    # -- reading the world -------------------------------------------------------------------------------------

    def kube_objects(self) -> dict[str, dict[str, Any]]:
        """Every Job, ConfigMap, Deployment, ReplicaSet, Service and Pod in the host's namespace, by kind/name."""
        access = self.kube()
        try:
            api = access.api_client()
            core, batch, apps = client.CoreV1Api(api), client.BatchV1Api(api), client.AppsV1Api(api)
            listings = {
                "Job": batch.list_namespaced_job,
                "ConfigMap": core.list_namespaced_config_map,
                "Deployment": apps.list_namespaced_deployment,
                "ReplicaSet": apps.list_namespaced_replica_set,
                "Service": core.list_namespaced_service,
                "Pod": core.list_namespaced_pod,
            }
            found: dict[str, dict[str, Any]] = {}
            for kind, listing in listings.items():
                raw = json.loads(listing(NAMESPACE, _preload_content=False, _request_timeout=10).data)
                for item in raw.get("items") or []:
                    found[f"{kind} {item['metadata']['name']}"] = item
            return found
        finally:
            access.close()

    def snapshot(self) -> dict[str, str]:
        """Every cloud resource and host-cluster object with what matters about its state."""
        world = self.world
        shot: dict[str, str] = {}
        for c in world.clusters():
            tags = sorted((t.key, t.value) for t in c.tags)
            shot[f"cluster {c.cluster_id} ({c.name})"] = (
                f"{c.state} deleted={c.deleted is not None} nodes={len(c.live_nodes())} tags={tags}"
            )
        for v in world.vpcs():
            shot[f"vpc {v.vpc_id} ({v.name})"] = f"{v.status} deleted={v.deleted is not None}"
        for s in world.vswitches():
            shot[f"vswitch {s.vswitch_id} ({s.name})"] = f"{s.status} deleted={s.deleted is not None}"
        for g in world.security_groups():
            shot[f"security group {g.security_group_id}"] = f"deleted={g.deleted is not None}"
        for key, item in self.kube_objects().items():
            meta = item["metadata"]
            shot[f"{key} in {HOST}"] = f"uid={meta.get('uid')} deleting={bool(meta.get('deletionTimestamp'))}"
        return shot

    def our_operations(self) -> set[str]:
        rows = self.runtime.ledger.query("SELECT operation_id FROM operations")
        return {r["operation_id"] for r in rows} | {r.operation_id for r in self.runtime.ownership.all()}

    def ours_left(self) -> list[str]:
        """Everything this server created that is still there: by the ledger's ids, by our operation tags, by the
        security groups ACK made for our clusters, and by our label on objects in the host cluster."""
        ops = self.our_operations()
        rows = [r for r in self.runtime.ownership.all() if r.origin == "created"]
        ids = {r.cloud_id for r in rows if r.cloud_id}
        world = self.world
        left: list[str] = []
        for c in world.clusters():
            tag = {t.key: t.value for t in c.tags}.get(OPERATION_TAG)
            if c.state != "deleted" and (c.cluster_id in ids or tag in ops):
                left.append(f"cluster {c.cluster_id} ({c.name}, {c.state})")
        for v in world.vpcs():
            tag = {t.key: t.value for t in v.tags}.get(OPERATION_TAG)
            if v.deleted is None and (v.vpc_id in ids or tag in ops):
                left.append(f"vpc {v.vpc_id} ({v.name})")
        for s in world.vswitches():
            tag = {t.key: t.value for t in s.tags}.get(OPERATION_TAG)
            if s.deleted is None and (s.vswitch_id in ids or tag in ops):
                left.append(f"vswitch {s.vswitch_id} ({s.name})")
        clusters = {r.cloud_id for r in rows if r.kind == "cluster"} | {
            c.cluster_id for c in world.clusters() if {t.key: t.value for t in c.tags}.get(OPERATION_TAG) in ops
        }
        for g in world.security_groups():
            if g.deleted is None and g.created_by_cluster in clusters:
                left.append(f"security group {g.security_group_id} (of {g.created_by_cluster})")
        for key, item in self.kube_objects().items():
            if (item["metadata"].get("labels") or {}).get(MANAGED_BY[0]) == MANAGED_BY[1]:
                left.append(f"{key} in {HOST}")
        return left

    def settled_ours_left(self, seconds: float = SETTLE_SECONDS) -> list[str]:
        deadline = time.monotonic() + seconds
        left = self.ours_left()
        while left and time.monotonic() < deadline:
            time.sleep(0.25)
            left = self.ours_left()
        return left

    def _live(self, row: OwnedResource) -> bool:
        world = self.world
        if row.kind in ("job", "deployment", "service"):
            kind = {"job": "Job", "deployment": "Deployment", "service": "Service"}[row.kind]
            name = str(row.details.get("job") or row.details.get("name") or row.name.rsplit("/", 1)[-1])
            item = self.kube_objects().get(f"{kind} {name}")
            return item is not None and not item["metadata"].get("deletionTimestamp")
        if not row.cloud_id:
            return False
        if row.kind == "cluster":
            found = [c for c in world.clusters() if c.cluster_id == row.cloud_id]
            return bool(found) and found[0].state != "deleted"
        if row.kind == "vpc":
            return any(v.vpc_id == row.cloud_id and v.deleted is None for v in world.vpcs())
        if row.kind == "vswitch":
            return any(s.vswitch_id == row.cloud_id and s.deleted is None for s in world.vswitches())
        return False

    def operation_tags(self) -> dict[str, str]:
        """cloud id -> the operation tag it carries, for every cluster, VPC and vSwitch ever made (deleted ones too)."""
        world = self.world
        found: list[tuple[str, list[Any]]] = [(c.cluster_id, c.tags) for c in world.clusters()]
        found += [(v.vpc_id, v.tags) for v in world.vpcs()]
        found += [(s.vswitch_id, s.tags) for s in world.vswitches()]
        return {cloud_id: t.value for cloud_id, tags in found for t in tags if t.key == OPERATION_TAG}

    def ledger_problems(self) -> list[str]:
        """Each created row is done and its resource gone, or live and its resource there (a finished Job may
        have been removed by its TTL; an intent row without an id is reconciled by tag); nothing tagged with our
        operations is missing from the ledger; no operation is left running."""
        problems: list[str] = []
        for op in self.runtime.ledger.query("SELECT operation_id, kind, state FROM operations"):
            if op["state"] == "running":
                problems.append(f"operation {op['operation_id']} ({op['kind']}) still running")
        rows = self.runtime.ownership.all()
        for r in rows:
            if r.origin != "created":
                continue
            live = self._live(r)
            what = f"{r.kind} {r.name} ({r.cloud_id or 'no id'})"
            if r.state in DONE_ROWS:
                if live:
                    problems.append(f"{what} is {r.state} in the ledger but still exists")
            elif r.kind in ("cluster", "vpc", "vswitch") and not r.cloud_id:
                if r.state not in ("intent", "failed"):  # failed without an id: the create never landed
                    problems.append(f"{what} is {r.state} without a cloud id")
            elif not live and not (r.kind == "job" and r.details.get("finished_at")):
                problems.append(f"{what} is {r.state} in the ledger but does not exist")
        ops = self.our_operations()
        tags = self.operation_tags()
        for r in rows:
            if r.origin == "reused" and tags.get(r.cloud_id or "") in ops:
                problems.append(
                    f"{r.kind} {r.cloud_id} is recorded as reused but carries this server's operation "
                    f"{tags[r.cloud_id or '']}: cleanup keeps a row for what it deletes"
                )
        tracked = {r.cloud_id for r in rows if r.cloud_id}
        reconcilable = {(r.operation_id, r.kind) for r in rows if not r.cloud_id and r.state == "intent"}
        tagged: list[tuple[str, str, str]] = []
        tagged += [
            ("cluster", c.cluster_id, {t.key: t.value for t in c.tags}.get(OPERATION_TAG, ""))
            for c in self.world.clusters()
            if c.state != "deleted"
        ]
        tagged += [
            ("vpc", v.vpc_id, {t.key: t.value for t in v.tags}.get(OPERATION_TAG, ""))
            for v in self.world.vpcs()
            if v.deleted is None
        ]
        tagged += [
            ("vswitch", s.vswitch_id, {t.key: t.value for t in s.tags}.get(OPERATION_TAG, ""))
            for s in self.world.vswitches()
            if s.deleted is None
        ]
        for kind, cloud_id, op in tagged:
            if op in ops and cloud_id not in tracked and (op, kind) not in reconcilable:
                problems.append(f"{kind} {cloud_id} carries operation {op} but no ledger row names it")
        return problems


# -- driving the tools ----------------------------------------------------------------------------------------


def quote(runtime: Runtime, plan: ClusterPlan | AcsPlan = PLAN) -> str:
    token = estimate_cost(plan, default_region=REGION, pricer=runtime.pricer, quotes=runtime.quotes).quote_token
    assert token, "the sandbox prices every plan used here"
    return token


def wait_operation(runtime: Runtime, operation_id: str, timeout: float = 180.0) -> OperationStatus:
    deadline = time.monotonic() + timeout
    status = runtime.operations.get(operation_id)
    while not status.done and time.monotonic() < deadline:
        status = runtime.operations.wait(operation_id, 2.0)
    return status


def from_operation(status: OperationStatus) -> Answer:
    result = status.result or {}
    if status.state != "succeeded":
        return Answer("operation", status.state, status.error or "", raw={"stage": status.stage})
    return Answer(
        "operation",
        str(result.get("status") or status.state),
        str(result.get("message") or ""),
        str(result.get("next_step") or ""),
        reason=str(result.get("reason") or ""),
        cleaned_up=list(result.get("cleaned_up") or []),
        raw=result,
    )


def from_error(exc: AckComputeError) -> Answer:
    return Answer("raised", type(exc).__name__, exc.message, exc.next_step)


def from_cleanup(report: CleanupReport) -> Answer:
    blocked = [
        f"{i.kind} {i.cloud_id or i.name}: {i.outcome or i.reason}" for i in report.items if i.action == "blocked"
    ]
    return Answer(
        "cleanup",
        report.status,
        " ".join([report.message, *blocked]),
        report.next_step,
        cleaned_up=[f"{i.kind} {i.cloud_id}" for i in report.items if i.outcome in ("deleted", "already gone")],
        raw=report.model_dump(mode="json"),
    )


def clean(runtime: Runtime) -> CleanupReport:
    report = runtime.cleaner.start(CleanupRequest(dry_run=False))
    if not report.operation_id:
        return report
    status = wait_operation(runtime, report.operation_id)
    if status.state != "succeeded" or status.result is None:
        return CleanupReport(
            dry_run=False,
            status="partial",
            items=[],
            message=f"the cleanup operation ended {status.state}: {status.error}",
            next_step="",
        )
    return CleanupReport.model_validate(status.result)


def create_cluster(stage: Stage, name: str = OURS) -> Answer:
    runtime = stage.runtime
    outcome = runtime.clusters.ensure(name, plan=PLAN, quote_token=quote(runtime))
    return from_operation(wait_operation(runtime, outcome.operation_id or ""))


def run_job(stage: Stage, request: JobRequest, during: Callable[[JobOutcome], None] | None = None) -> Answer:
    started = stage.runtime.jobs.start(request)
    if during is not None:
        during(started)
    return from_operation(wait_operation(stage.runtime, started.operation_id or ""))


def deploy(stage: Stage, **fields: Any) -> Answer:
    runtime = stage.runtime
    body = {"cluster": stage.host, "name": "web", "plan": ACS, "quote_token": quote(runtime, ACS), **fields}
    out = runtime.deployer.deploy(DeployRequest.model_validate(body))
    return Answer("outcome", out.status, out.message, out.next_step, raw=out.model_dump(mode="json"))


def clusters_named(stage: Stage, name: str) -> list[str]:
    return [c.cluster_id for c in stage.world.clusters() if c.name == name]


def tagged_with(stage: Stage, kind: str) -> int:
    ops = stage.our_operations()
    items = stage.world.vswitches() if kind == "vswitch" else stage.world.vpcs()
    return sum(1 for i in items if {t.key: t.value for t in i.tags}.get(OPERATION_TAG) in ops)


# -- the scenarios --------------------------------------------------------------------------------------------


def throttling(stage: Stage) -> Answer:
    world, runtime = stage.world, stage.runtime
    token = quote(runtime)
    world.reset_counts()
    world.inject("DescribeClustersForRegion", Fault.throttle(retry_after_ms=500), times=2)
    world.inject("CreateCluster", Fault.throttle(retry_after_ms=500), times=1)
    started = time.monotonic()
    outcome = runtime.clusters.ensure(OURS, plan=PLAN, quote_token=token)
    stage.facts["ensure_seconds"] = round(time.monotonic() - started, 2)
    answer = from_operation(wait_operation(runtime, outcome.operation_id or ""))
    stage.facts["counts"] = world.counts()
    stage.facts["clusters_named"] = len(clusters_named(stage, OURS))
    return answer


def throttling_in_cleanup(stage: Stage) -> None:
    stage.world.reset_counts()
    stage.world.inject("DeleteCluster", Fault.throttle(retry_after_ms=300), times=1)
    stage.world.inject("DeleteVpc", Fault.throttle(retry_after_ms=300), times=1)


def throttling_beyond_budget(stage: Stage) -> Answer:
    stage.world.inject("DescribeClustersForRegion", Fault.throttle(retry_after_ms=60_000), times=1)
    started = time.monotonic()
    try:
        stage.runtime.clusters.ensure(OURS, plan=PLAN, quote_token=quote(stage.runtime))
    except AckComputeError as exc:
        return from_error(exc)
    finally:
        stage.facts["seconds"] = round(time.monotonic() - started, 2)
    return Answer("outcome", "no error", "")


def server_errors(stage: Stage) -> Answer:
    world, runtime = stage.world, stage.runtime
    token = quote(runtime)
    world.reset_counts()
    world.inject("CreateVSwitch", Fault.server_error(503), times=3)
    world.inject("DescribeClusterDetail", Fault.server_error(500, "InternalError"), times=3)
    outcome = runtime.clusters.ensure(OURS, plan=PLAN, quote_token=token)
    answer = from_operation(wait_operation(runtime, outcome.operation_id or ""))
    stage.facts["counts"] = world.counts()
    stage.facts["vswitches"] = tagged_with(stage, "vswitch")
    stage.facts["clusters_named"] = len(clusters_named(stage, OURS))
    return answer


def server_errors_in_cleanup(stage: Stage) -> None:
    stage.world.reset_counts()
    stage.world.inject("DeleteVpc", Fault.server_error(503), times=2)
    stage.world.inject("DeleteCluster", Fault.server_error(500, "InternalError"), times=1)


def server_errors_exhausted(stage: Stage) -> Answer:
    world, runtime = stage.world, stage.runtime
    token = quote(runtime)
    world.reset_counts()
    world.inject("CreateCluster", Fault.server_error(503), times=4)  # the whole retry budget (4 attempts)
    outcome = runtime.clusters.ensure(OURS, plan=PLAN, quote_token=token)
    answer = from_operation(wait_operation(runtime, outcome.operation_id or ""))
    stage.facts["counts"] = world.counts()
    stage.facts["clusters_named"] = len(clusters_named(stage, OURS))
    stage.facts["failed_operation"] = outcome.operation_id
    # The caller does what the answer suggests next: ask again for the same cluster with a new quote.
    try:
        again = runtime.clusters.ensure(OURS, plan=PLAN, quote_token=quote(runtime))
        stage.facts["retry"] = {"status": again.status, "operation_id": again.operation_id, "message": again.message}
        if again.operation_id and again.operation_id != outcome.operation_id:
            wait_operation(runtime, again.operation_id)
    except AckComputeError as exc:
        stage.facts["retry"] = {"status": "raised", "message": exc.text}
    return answer


def timeout_on_read(stage: Stage) -> Answer:
    world, runtime = stage.world, stage.runtime
    token = quote(runtime)
    world.reset_counts()
    # Past the 1 s read timeout; creation asks for a kubeconfig exactly once, so a second request is the retry.
    world.inject("DescribeClusterUserKubeconfig", Fault.delay(2.5), times=1)
    outcome = runtime.clusters.ensure(OURS, plan=PLAN, quote_token=token)
    answer = from_operation(wait_operation(runtime, outcome.operation_id or ""))
    stage.facts["counts"] = world.counts()
    return answer


def timeout_on_create(stage: Stage, ask_again: bool = False) -> Answer:
    world, runtime = stage.world, stage.runtime
    token = quote(runtime)
    world.reset_counts()
    world.inject("CreateCluster", Fault.delay(2.5), times=1)  # the client gives up after 1 s; the call still lands
    outcome = runtime.clusters.ensure(OURS, plan=PLAN, quote_token=token)
    answer = from_operation(wait_operation(runtime, outcome.operation_id or ""))
    stage.facts["counts_at_answer"] = world.counts()
    stage.facts["rows_at_answer"] = [(r.kind, r.state, r.cloud_id) for r in runtime.ownership.all()]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
        c.state == "running" for c in stage.world.clusters() if c.name == OURS
    ):
        time.sleep(0.1)
    stage.facts["late_cluster"] = clusters_named(stage, OURS)
    if ask_again:  # the caller asks for the same cluster again once the late one runs
        try:
            again = runtime.clusters.ensure(OURS)
            stage.facts["retry"] = {
                "status": again.status,
                "origin": again.origin,
                "cluster_id": again.cluster_id,
                "next_step": again.next_step,
            }
        except AckComputeError as exc:
            stage.facts["retry"] = {"status": "raised", "message": exc.text}
        stage.facts["rows_after_retry"] = [(r.kind, r.origin, r.state, r.cloud_id) for r in runtime.ownership.all()]
    return answer


def timeout_on_create_then_ensure(stage: Stage) -> Answer:
    return timeout_on_create(stage, ask_again=True)


def connection_refused(stage: Stage) -> Answer:
    refused = stage.build(endpoint=f"127.0.0.1:{closed_port()}")
    stage.world.reset_counts()
    started = time.monotonic()
    errors: dict[str, str] = {}
    answer = Answer("outcome", "no error", "")
    try:
        refused.clusters.ensure(OURS)
    except AckComputeError as exc:
        answer = from_error(exc)
    for what, call in (
        ("run_job", lambda: refused.jobs.start(JobRequest(cluster=stage.host, script="echo hi"))),
        ("estimate_cost", lambda: quote(refused)),
    ):
        try:
            call()
            errors[what] = "no error"
        except AckComputeError as exc:
            errors[what] = f"{type(exc).__name__}: {exc.text}"
    stage.facts["other_errors"] = errors
    stage.facts["seconds"] = round(time.monotonic() - started, 2)
    stage.facts["requests_reaching_the_cloud"] = sum(stage.world.counts().values())
    stage.facts["rows"] = len(stage.runtime.ownership.all())
    return answer


def connection_refused_in_cleanup(stage: Stage) -> Answer:
    created = create_cluster(stage)
    stage.facts["created"] = created.status
    stage.first_cleanup = stage.build(endpoint=f"127.0.0.1:{closed_port()}")
    return created


def creation_failed(stage: Stage) -> Answer:
    stage.world.fail_next_cluster_creation("ErrorQuotaExceeded", "the account's ECS quota is exhausted")
    answer = create_cluster(stage)
    stage.facts["rows"] = [(r.kind, r.state, r.cloud_id) for r in stage.runtime.ownership.all()]
    return answer


def nodes_never_ready(stage: Stage) -> Answer:
    stage.runtime.clusters.settings.nodes_timeout_s = 3.0
    stage.world.stall_next_cluster_nodes()
    return create_cluster(stage)


def delete_failed(stage: Stage) -> Answer:
    stage.facts["created"] = create_cluster(stage).status
    stage.world.fail_next_cluster_deletion("ErrorDeleteCluster", "failed to release the cluster's SLB")
    return Answer("cleanup", "pending", "")


def vpc_dependency(stage: Stage) -> Answer:
    stage.facts["created"] = create_cluster(stage).status
    stage.runtime.cleaner.settings.dependency_retry_s = 2.0
    (vpc,) = [r.cloud_id for r in stage.runtime.ownership.all() if r.kind == "vpc" and r.origin == "created"]
    assert vpc
    # Someone else puts a vSwitch into the VPC this server created; deleting the VPC now meets a dependency.
    stage.facts["their_vswitch"] = stage.world.plant_vswitch(vpc, name="theirs-in-acf-vpc")
    return Answer("cleanup", "pending", "")


def vpc_dependency_cleared(stage: Stage) -> None:
    theirs = stage.facts["their_vswitch"]
    stage.facts["their_vswitch_after_first_cleanup"] = next(
        "live" if s.deleted is None else "deleted" for s in stage.world.vswitches() if s.vswitch_id == theirs
    )
    stage.observer.clusters.vpcs.delete_vswitch(REGION, theirs)  # its owner removes it


def image_pull_job(stage: Stage) -> Answer:
    request = JobRequest(cluster=stage.host, script="echo never", image="registry.example.com/nope/missing:1.0")
    answer = run_job(stage, request)
    stage.facts["rows"] = [(r.kind, r.state) for r in stage.runtime.ownership.all()]
    return answer


def image_pull_deploy(stage: Stage) -> Answer:
    return deploy(stage, image="registry.example.com/nope/missing:1.0")


def crash_loop_deploy(stage: Stage) -> Answer:
    # Like most crash loops: the process starts, runs a moment, exits non-zero, and is restarted with back-off.
    command = ["sh", "-c", "echo starting; sleep 0.5; exit 1"]
    answer = deploy(stage, name="crasher", image="busybox:1.36", command=command)
    # What the pod really does after the answer: it crashes and the kubelet backs off restarting it.
    deadline = time.monotonic() + 10
    seen = ""
    while time.monotonic() < deadline and "CrashLoopBackOff" not in seen:
        pods = [v for k, v in stage.kube_objects().items() if k.startswith("Pod crasher-")]
        statuses = [c for p in pods for c in (p.get("status") or {}).get("containerStatuses") or []]
        seen = " ".join(
            f"{(c.get('state') or {}).get('waiting', {}).get('reason', next(iter(c.get('state') or {'?': 0})))}"
            f" restarts={c.get('restartCount', 0)}"
            for c in statuses
        )
        time.sleep(0.1)
    stage.facts["pod_after_answer"] = seen
    return answer


def evicted_pod(stage: Stage) -> Answer:
    def evict(started: JobOutcome) -> None:
        access = stage.kube()
        try:
            core = client.CoreV1Api(access.api_client())
            selector = f"{RUN_LABEL}={started.job_name}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                pods = core.list_namespaced_pod(NAMESPACE, label_selector=selector).items
                running = [p for p in pods if p.status and p.status.phase == "Running"]
                if running:
                    # What the kubelet writes when node pressure evicts a pod.
                    core.patch_namespaced_pod_status(
                        running[0].metadata.name,
                        NAMESPACE,
                        {
                            "status": {
                                "phase": "Failed",
                                "reason": "Evicted",
                                "message": "The node was low on resource: memory.",
                            }
                        },
                    )
                    stage.facts["evicted"] = running[0].metadata.name
                    return
                time.sleep(0.1)
        finally:
            access.close()

    request = JobRequest(cluster=stage.host, script="echo started; sleep 30", timeout_seconds=LONG_JOB_SECONDS)
    return run_job(stage, request, during=evict)


def kubeconfig_expiry(stage: Stage) -> Answer:
    stage.world.reset_counts()
    script = "echo begin; sleep 8; echo end"  # longer than the 6 s a 60-minute kubeconfig lasts at 600x
    answer = run_job(stage, JobRequest(cluster=stage.host, script=script, timeout_seconds=LONG_JOB_SECONDS))
    stage.facts["kubeconfigs_fetched"] = stage.world.counts().get("DescribeClusterUserKubeconfig", 0)
    stage.facts["log"] = answer.raw.get("log", "")
    return answer


@dataclass(frozen=True)
class Scenario:
    key: str
    fault: str
    act: Callable[[Stage], Answer]
    settings: dict[str, Any] = field(default_factory=dict)
    arm_cleanup: Callable[[Stage], None] | None = None  # a fault for the first cleanup pass
    clear: Callable[[Stage], None] | None = None  # besides clear_faults, before the second pass
    reported_by_cleanup: bool = False  # the faulted tool is cleanup itself
    plant: Callable[[Stage], None] | None = None  # more foreign resources, planted before the first snapshot


SCENARIOS: dict[str, Scenario] = {
    s.key: s
    for s in [
        Scenario(
            "throttling",
            "Throttling with retry-after (list x2, CreateCluster, DeleteCluster, DeleteVpc)",
            throttling,
            arm_cleanup=throttling_in_cleanup,
        ),
        Scenario(
            "throttling_beyond_budget", "Throttling with a retry-after beyond the wait budget", throttling_beyond_budget
        ),
        Scenario(
            "server_errors",
            "5xx bursts absorbed by retries (CreateVSwitch x3, DescribeClusterDetail x3, DeleteVpc x2)",
            server_errors,
            arm_cleanup=server_errors_in_cleanup,
        ),
        Scenario(
            "server_errors_exhausted",
            "5xx burst outlasting the retry budget (CreateCluster x4)",
            server_errors_exhausted,
        ),
        Scenario(
            "timeout_on_read",
            "Timeout on an idempotent read (DescribeClusterUserKubeconfig)",
            timeout_on_read,
            settings={"read_timeout_ms": 1000},
        ),
        Scenario(
            "timeout_on_create",
            "Timeout on CreateCluster; the call lands late",
            timeout_on_create,
            settings={"read_timeout_ms": 1000},
        ),
        Scenario(
            "timeout_on_create_then_ensure",
            "Timeout on CreateCluster, then ensure_cluster again",
            timeout_on_create_then_ensure,
            settings={"read_timeout_ms": 1000},
        ),
        Scenario("connection_refused", "Connection refused (closed port)", connection_refused),
        Scenario(
            "connection_refused_in_cleanup",
            "Connection refused during cleanup",
            connection_refused_in_cleanup,
            reported_by_cleanup=True,
        ),
        Scenario("creation_failed", "Cluster creation ends in `failed`", creation_failed),
        Scenario("nodes_never_ready", "Nodes never Ready", nodes_never_ready),
        Scenario("delete_failed", "DeleteCluster ends in `delete_failed`", delete_failed, reported_by_cleanup=True),
        Scenario(
            "vpc_dependency",
            "VPC deletion blocked by a dependency (someone's vSwitch)",
            vpc_dependency,
            clear=vpc_dependency_cleared,
            reported_by_cleanup=True,
        ),
        Scenario("image_pull_job", "ImagePullBackOff (run_job)", image_pull_job),
        Scenario("image_pull_deploy", "ImagePullBackOff (deploy_acs)", image_pull_deploy),
        Scenario("crash_loop_deploy", "CrashLoopBackOff (deploy_acs)", crash_loop_deploy),
        Scenario("evicted_pod", "A job's pod evicted", evicted_pod),
        Scenario("kubeconfig_expiry", "Kubeconfig expiring mid-job", kubeconfig_expiry),
    ]
}


def _load_more_scenarios() -> None:
    """The scenarios of issue 12 (transient codes, unusual cluster states) live in fault_matrix_states.py."""
    import importlib.util
    import sys

    path = Path(__file__).with_name("fault_matrix_states.py")
    spec = importlib.util.spec_from_file_location(f"{__name__}_states", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    SCENARIOS.update({s.key: s for s in module.scenarios(sys.modules[__name__])})


_load_more_scenarios()


def run(key: str, world: SandboxCloud, state_dir: Path) -> Outcome:
    """Plant, fault, act, clean up (again after clearing the fault when the first pass is partial), compare."""
    scenario = SCENARIOS[key]
    started = time.monotonic()
    stage = Stage(world, state_dir, **scenario.settings)
    stage.plant_foreign()
    if scenario.plant is not None:
        scenario.plant(stage)
    before = stage.snapshot()
    world.reset_counts()
    answer = scenario.act(stage)
    problems = [f"after the tool answered: {p}" for p in stage.ledger_problems()]
    if scenario.arm_cleanup is not None:
        scenario.arm_cleanup(stage)
    first = clean(stage.first_cleanup or stage.runtime)
    problems += [f"after the first cleanup: {p}" for p in stage.ledger_problems()]
    cleanups = [first]
    if first.status == "partial":
        world.clear_faults()
        if scenario.clear is not None:
            scenario.clear(stage)
        cleanups.append(clean(stage.runtime))
    if scenario.arm_cleanup is not None:
        stage.facts["cleanup_counts"] = world.counts()
    left = stage.settled_ours_left()
    after = stage.snapshot()
    touched = [f"{k}: {v} -> {after.get(k, 'missing')}" for k, v in before.items() if after.get(k) != v]
    problems += [f"at the end: {p}" for p in stage.ledger_problems()]
    if scenario.reported_by_cleanup:
        answer = from_cleanup(first)
    return Outcome(
        key=key,
        fault=scenario.fault,
        answer=answer,
        cleanups=cleanups,
        ours_left=left,
        foreign=sorted(before),
        foreign_touched=touched,
        ledger_problems=problems,
        facts=stage.facts,
        seconds=round(time.monotonic() - started, 1),
    )


def run_isolated(key: str, state_dir: Path | None = None) -> Outcome:
    """One scenario in a sandbox of its own (clock 600x faster, like the tests' `world`)."""
    with SandboxCloud(time_scale=600) as world:
        if state_dir is not None:
            return run(key, world, state_dir)
        with tempfile.TemporaryDirectory(prefix=f"fault-{key}-") as tmp:
            return run(key, world, Path(tmp))


# -- the table --------------------------------------------------------------------------------------------------


def table(outcomes: list[Outcome]) -> str:
    headers = ["fault", "what the tool reported", "cleanup", "ours left", "foreign touched", "ledger", "s"]
    rows = [
        [
            o.fault,
            o.answer.line(),
            o.cleanup_statuses,
            str(len(o.ours_left)),
            f"{len(o.foreign_touched)} of {len(o.foreign)}",
            "ok" if not o.ledger_problems else f"{len(o.ledger_problems)} problem(s)",
            f"{o.seconds:.1f}",
        ]
        for o in outcomes
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("-|-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help=f"default: all of {', '.join(SCENARIOS)}")
    args = parser.parse_args()
    keys = args.scenarios or list(SCENARIOS)
    unknown = [k for k in keys if k not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}")
    outcomes = []
    for key in keys:
        outcome = run_isolated(key)
        print(f"{key}: {outcome.seconds:.1f} s", flush=True)
        outcomes.append(outcome)
    print()
    print(table(outcomes))
    details = [o for o in outcomes if o.ours_left or o.foreign_touched or o.ledger_problems]
    for o in details:
        print(f"\n{o.fault}:")
        for line in [*o.ours_left, *o.foreign_touched, *o.ledger_problems]:
            print(f"  - {line}")
    print("\nWhat each scenario measured:")
    for o in outcomes:
        if o.facts:
            text = json.dumps(o.facts, default=str, separators=(",", ":"))
            print(f"  {o.key}: {text if len(text) <= 400 else text[:399] + '…'}")
    print(f"\n{len(outcomes)} scenarios, {sum(o.seconds for o in outcomes):.0f} s in all.")


if __name__ == "__main__":
    main()
