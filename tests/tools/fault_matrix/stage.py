"""The fault matrix's stage: a sandbox, the server's runtime under test, a read-only observer, the foreign
resources planted before each fault, and the helpers that drive the tools and flatten what they answered.

Each scenario (scenarios.py, states.py) plants resources that someone else made (an `acf-` cluster hosting a foreign
Job and ConfigMap, an `acf-` cluster whose tags even claim to be ours, a VPC with a vSwitch), runs one faulted flow
through the tools layer, runs cleanup (twice when the first pass is partial because of the fault, clearing it in
between), then compares.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client
from pydantic import SecretStr

from ack_compute.cloud.config import StaticCredentials
from ack_compute.cloud.kube import KubeAccess
from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.server.settings import Settings
from ack_compute.tools.cleanup import CleanupReport, CleanupRequest
from ack_compute.tools.deploy_acs import DeployRequest
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.job_spec import JobOutcome, JobRequest
from ack_compute.tools.operations import OperationStatus
from ack_compute.tools.ownership import MANAGED_BY, OPERATION_TAG, OwnedResource
from ack_compute.tools.plans import AcsPlan, ClusterPlan
from tests.helpers.waiting import settle

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
    return settle(runtime, operation_id, timeout)


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
