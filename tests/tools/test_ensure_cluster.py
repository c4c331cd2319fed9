"""ensure_cluster against the sandbox: real SDKs, real kubernetes client, a fresh cloud per test."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable

import pytest

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.tools.cluster_spec import create_spec
from ack_compute.tools.errors import AckComputeError, QuoteRefused
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.network import NetworkChoice
from ack_compute.tools.operations import OperationStatus
from ack_compute.tools.ownership import MANAGED_BY, OPERATION_TAG
from ack_compute.tools.plans import ClusterPlan, ServerlessPlan, normalise
from ack_compute.tools.purchase import NO_ELICITATION, Claim
from tests.helpers.waiting import finished

PLAN = ClusterPlan(edition="pro", instance_types=["ecs.g7.xlarge"], node_count=2, zone="cn-hangzhou-h", hours=2)


@pytest.fixture
def runtime(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> Runtime:
    return runtime_on(world)


def quote(runtime: Runtime, plan: ClusterPlan | ServerlessPlan = PLAN) -> str:
    est = estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
    assert est.quote_token
    return est.quote_token


def test_without_a_quote_nothing_is_created(runtime: Runtime, world: SandboxCloud) -> None:
    outcome = runtime.clusters.ensure("acf-fresh")
    assert outcome.status == "quote_required" and outcome.plan_to_quote is not None
    assert outcome.plan_to_quote.region == "cn-hangzhou" and "estimate_cost" in outcome.next_step
    assert "CreateCluster" not in world.counts() and "CreateVpc" not in world.counts()
    assert world.clusters() == [] and runtime.ownership.all() == []


def test_create_with_a_quote_then_reuse_by_name(runtime: Runtime, world: SandboxCloud) -> None:
    outcome = runtime.clusters.ensure("acf-build", plan=PLAN, quote_token=quote(runtime))
    assert outcome.status == "creating" and outcome.operation_id
    status = finished(runtime, outcome.operation_id)
    assert status.state == "succeeded", status.error
    result = status.result or {}
    assert result["status"] == "created" and result["ready_nodes"] == 2
    (cluster,) = world.clusters()
    assert cluster.cluster_id == result["cluster_id"] and cluster.state == "running"
    assert cluster.cluster_spec == "ack.pro.small"
    tags = {t.key: t.value for t in cluster.tags} if isinstance(cluster.tags, list) else dict(cluster.tags)
    assert tags[MANAGED_BY[0]] == MANAGED_BY[1] and tags[OPERATION_TAG] == outcome.operation_id
    owned = {(r.kind, r.origin, r.state) for r in runtime.ownership.all()}
    assert {("cluster", "created", "ready"), ("vpc", "created", "ready"), ("vswitch", "created", "ready")} <= owned
    assert world.counts()["CreateCluster"] == 1
    # Second call: found by name, reused, no quote needed, nothing new created.
    again = runtime.clusters.ensure("acf-build")
    assert again.status == "reused" and again.cluster_id == cluster.cluster_id and again.ready_nodes == 2
    assert world.counts()["CreateCluster"] == 1


def test_a_cluster_being_created_or_misspelt_is_named_not_offered_again(runtime: Runtime, world: SandboxCloud) -> None:
    """run_job right after ensure_cluster answered 'creating' was told there is no such cluster and to call
    ensure_cluster; a name one letter off was offered a second cluster. The caller's ledger says what they meant."""
    outcome = runtime.clusters.ensure("acf-walk", plan=PLAN, quote_token=quote(runtime))
    op = outcome.operation_id
    with pytest.raises(AckComputeError) as early:
        runtime.targets.resolve("acf-walk")  # before CreateCluster (no such cluster) or while it is initial
    assert early.value.next_step == f"Call get_operation with {op} until it is done, then call this again."
    assert "nothing was created" in early.value.message
    cluster_id = (finished(runtime, op or "").result or {})["cluster_id"]

    with pytest.raises(AckComputeError) as typo:
        runtime.targets.resolve("ACF-WLAK")
    assert typo.value.message == (
        f"No cluster with id or name 'ACF-WLAK' in cn-hangzhou. Did you mean acf-walk ({cluster_id})? Nothing was "
        "created."
    )
    offered = runtime.clusters.ensure("acf-wlak")
    assert offered.status == "quote_required"
    assert offered.message == (
        f"No running cluster named acf-wlak (yours with a name like it: acf-walk ({cluster_id}); pass that name to use "
        "it); creating one costs money and needs a quote."
    )
    assert world.counts()["CreateCluster"] == 1
    # A live row whose operation is not at work (a create that failed half-way keeps its row for cleanup): not
    # "follow op-..." to an operation that only says it failed, but the answer that sorts it out.
    runtime.ownership.claim(Claim("op-00000000deadbeef", "cluster", "cn-hangzhou", "acf-ghost"))
    with pytest.raises(AckComputeError) as ghost:
        runtime.targets.resolve("acf-ghost")
    assert ghost.value.message == "No cluster with id or name 'acf-ghost' in cn-hangzhou."


def test_a_cluster_deleted_under_a_caller_is_said_to_be_deleted_not_to_retry(
    runtime: Runtime, world: SandboxCloud
) -> None:
    """A job's cluster deleted meanwhile (its lease ended) read "ErrorClusterState ... Retry when the cloud answers":
    no retry helps; its state says what to do."""
    cluster = world.plant_cluster("acf-going", nodes=1)
    target = runtime.targets.resolve(cluster)
    runtime.cs.delete_cluster(cluster)
    with pytest.raises(AckComputeError) as gone:
        runtime.targets.access(target)
    assert gone.value.message == f"Cluster acf-going ({cluster}) is being deleted, so nothing can run on it now."
    assert "Retry" not in gone.value.text


def test_a_second_and_third_cluster_share_the_vpc_with_their_own_cidrs(runtime: Runtime, world: SandboxCloud) -> None:
    """ACK refuses pod/service ranges that overlap another cluster in the VPC; each create picks a free pair."""
    for name in ("acf-one", "acf-two", "acf-three"):
        outcome = runtime.clusters.ensure(name, plan=PLAN, quote_token=quote(runtime))
        status = finished(runtime, outcome.operation_id or "")
        assert status.state == "succeeded", status.error
    clusters = world.clusters()
    assert len({c.vpc_id for c in clusters}) == 1 and world.counts()["CreateVpc"] == 1
    ranges = [r for c in clusters for r in (c.container_cidr, c.service_cidr)]
    assert len(ranges) == 6 and not any(
        ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b)) for i, a in enumerate(ranges) for b in ranges[i + 1 :]
    )


def test_reuse_of_a_foreign_cluster_is_recorded_as_reused(runtime: Runtime, world: SandboxCloud) -> None:
    cluster_id = world.plant_cluster("team-a", nodes=3)
    outcome = runtime.clusters.ensure("team-a")
    assert (outcome.status, outcome.cluster_id, outcome.origin, outcome.ready_nodes) == (
        "reused",
        cluster_id,
        "reused",
        3,
    )
    (row,) = runtime.ownership.all()
    assert (row.kind, row.origin, row.cloud_id) == ("cluster", "reused", cluster_id)


def test_running_cluster_without_rbac_is_not_used(runtime: Runtime, world: SandboxCloud) -> None:
    world.plant_cluster("locked", limited_rbac=True)
    with pytest.raises(AckComputeError, match="batch/jobs"):
        runtime.clusters.ensure("locked", plan=PLAN, quote_token=quote(runtime))
    assert "CreateCluster" not in world.counts(), "no duplicate cluster under the same name"


def test_reuse_any_only_considers_acf_clusters(runtime: Runtime, world: SandboxCloud) -> None:
    world.plant_cluster("prod-main", nodes=5)
    assert runtime.clusters.ensure("acf-mine", reuse_any=True).status == "quote_required"
    acf = world.plant_cluster("acf-shared", nodes=2)
    world.plant_cluster("acf-no-nodes", nodes_ready=False)
    world.plant_cluster("acf-locked", limited_rbac=True)
    outcome = runtime.clusters.ensure("acf-mine", reuse_any=True)
    assert outcome.status == "reused" and outcome.cluster_id == acf and outcome.name == "acf-shared"


def test_probing_skips_unresponsive_candidates_within_the_timeout(
    world: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    runtime = runtime_on(world, probe_timeout_seconds=1.0)
    for i in range(6):
        world.plant_cluster(f"acf-dead-{i}", unresponsive=True)
    good = world.plant_cluster("acf-alive")
    started = time.monotonic()
    outcome = runtime.clusters.ensure("acf-want", reuse_any=True)
    elapsed = time.monotonic() - started
    assert outcome.cluster_id == good
    assert elapsed < 1.0 + 2.0, f"one timeout bounds the decision, took {elapsed:.1f}s"


def test_name_found_on_a_later_page(runtime: Runtime, world: SandboxCloud) -> None:
    for i in range(105):
        world.plant_cluster(f"filler-{i:03d}", nodes=0)
    target = world.plant_cluster("needle", nodes=1)
    assert runtime.clusters.ensure("needle").cluster_id == target


def test_a_refused_quote_creates_nothing(runtime: Runtime, world: SandboxCloud) -> None:
    token = quote(runtime)
    bigger = PLAN.model_copy(update={"node_count": 5})
    with pytest.raises(QuoteRefused) as info:
        runtime.clusters.ensure("acf-x", plan=bigger, quote_token=token)
    assert info.value.reason == "plan_mismatch" and "node_count" in info.value.message
    assert world.clusters() == [] and runtime.ownership.all() == []
    runtime.clusters.ensure("acf-x", plan=PLAN, quote_token=token)  # the token was not burnt


def test_human_policy_without_elicitation_refuses(runtime: Runtime, world: SandboxCloud) -> None:
    token = quote(runtime)
    with pytest.raises(AckComputeError, match="elicitation"):
        runtime.clusters.ensure("acf-h", plan=PLAN, quote_token=token, confirmation_policy="human")
    record = runtime.quotes.verify(token, normalise(PLAN, "cn-hangzhou"))
    said_no = runtime.quotes.record_consent(record.quote_id, record.plan_digest, "declined", "asked by elicitation")
    declined = runtime.clusters.ensure("acf-h", plan=PLAN, quote_token=token, consent_id=said_no)
    assert declined.status == "declined"
    said_yes = runtime.quotes.record_consent(record.quote_id, record.plan_digest, "accepted", "asked by elicitation")
    with pytest.raises(QuoteRefused, match="declined"):
        runtime.clusters.ensure("acf-h", plan=PLAN, quote_token=token, consent_id=said_yes)
    assert world.clusters() == []


def test_only_a_recorded_yes_for_this_quote_pays(runtime: Runtime, world: SandboxCloud) -> None:
    """Under policy human the answer is read from the ledger: another quote's yes, or a pre-check that failed
    before the question, refuses."""
    token, other = quote(runtime), quote(runtime)
    mine = runtime.quotes.verify(token, normalise(PLAN, "cn-hangzhou"))
    theirs = runtime.quotes.verify(other, normalise(PLAN, "cn-hangzhou"))
    wrong = runtime.quotes.record_consent(theirs.quote_id, theirs.plan_digest, "accepted", "asked by elicitation")
    with pytest.raises(AckComputeError, match="no answer from the person on record"):
        runtime.clusters.ensure("acf-r", plan=PLAN, quote_token=token, consent_id=wrong, confirmation_policy="human")
    failed = runtime.quotes.record_consent("", "", "not_asked", "the cloud did not answer: timed out")
    with pytest.raises(AckComputeError, match=r"was not asked .* failed \(the cloud did not answer: timed out\)"):
        runtime.clusters.ensure("acf-r", plan=PLAN, quote_token=token, consent_id=failed, confirmation_policy="token")
    not_mine = runtime.quotes.record_consent(theirs.quote_id, theirs.plan_digest, "not_asked", NO_ELICITATION)
    with pytest.raises(AckComputeError, match="no answer from the person on record"):
        runtime.clusters.ensure("acf-r", plan=PLAN, quote_token=token, consent_id=not_mine)
    assert world.clusters() == [] and runtime.quotes.consumed(mine.quote_id) is None
    yes = runtime.quotes.record_consent(mine.quote_id, mine.plan_digest, "accepted", "asked by elicitation")
    created = runtime.clusters.ensure(
        "acf-r", plan=PLAN, quote_token=token, consent_id=yes, confirmation_policy="human"
    )
    assert created.status == "creating"


def test_two_servers_racing_for_one_name_create_one_cluster(
    world: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    a, b = runtime_on(world), runtime_on(world)  # two servers, one state dir
    tokens = [quote(a), quote(b)]
    outcomes = []
    barrier = threading.Barrier(2)

    def go(rt: Runtime, token: str) -> None:
        barrier.wait()
        outcomes.append(rt.clusters.ensure("acf-race", plan=PLAN, quote_token=token))

    threads = [threading.Thread(target=go, args=(rt, t)) for rt, t in zip((a, b), tokens, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 2, "both callers got an answer"
    ops = {o.operation_id for o in outcomes}
    assert len(ops) == 1 and all(o.status == "creating" for o in outcomes)
    finished(a, ops.pop())
    assert len([c for c in world.clusters() if c.name == "acf-race"]) == 1
    assert world.counts()["CreateCluster"] == 1
    used = a.ledger.query("SELECT count(*) AS n FROM quote_redemptions")[0]["n"]
    assert used == 1, "the loser's quote stays unused"


def test_failed_creation_reports_the_task_error(runtime: Runtime, world: SandboxCloud) -> None:
    world.fail_next_cluster_creation("ErrorQuotaExceeded", "the account's ECS quota is exhausted")
    outcome = runtime.clusters.ensure("acf-doomed", plan=PLAN, quote_token=quote(runtime))
    status = finished(runtime, outcome.operation_id or "")
    assert status.state == "failed"
    assert "failed" in (status.error or "") and "ErrorQuotaExceeded" in (status.error or "")
    assert "cleanup" in (status.error or "")
    row = next(r for r in runtime.ownership.all() if r.kind == "cluster")
    assert row.cloud_id and row.state == "failed" and row.origin == "created", "kept, as ours, for cleanup"
    with pytest.raises(AckComputeError, match="failed to be created, so no second cluster"):
        runtime.clusters.ensure("acf-doomed", plan=PLAN, quote_token=quote(runtime))


def test_an_operation_orphaned_by_a_crash_resumes(
    world: SandboxCloud, runtime_on: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = runtime_on(world)
    # The process dies right after the quote is redeemed and the intent row written: its thread never runs.
    monkeypatch.setattr(first.operations, "_launch", lambda *args: None)
    outcome = first.clusters.ensure("acf-phoenix", plan=PLAN, quote_token=quote(first))
    op = outcome.operation_id or ""
    with first.ledger.transaction() as db:
        # its replica is gone: nothing renews its hold, which lapses
        db.execute("UPDATE operations SET held_until = 0 WHERE operation_id = :op", {"op": op})
    assert world.clusters() == []
    second = runtime_on(world)
    assert second.clusters.resume_unfinished() == [op]
    status = finished(second, op)
    assert status.state == "succeeded", status.error
    assert len([c for c in world.clusters() if c.name == "acf-phoenix"]) == 1, "resuming never creates twice"


def test_a_cluster_still_initial_is_waited_for_not_duplicated(runtime: Runtime, world: SandboxCloud) -> None:
    cluster_id = world.plant_cluster("acf-early", state="initial", nodes=1)
    outcome = runtime.clusters.ensure("acf-early")
    assert outcome.status == "waiting" and outcome.cluster_id == cluster_id and outcome.operation_id
    status = finished(runtime, outcome.operation_id)
    assert status.state == "succeeded", status.error
    assert (status.result or {})["cluster_id"] == cluster_id and (status.result or {})["ready_nodes"] == 1
    assert "CreateCluster" not in world.counts()


# The network a create body is built on (tools/network.py's choice), for the tests of the body alone.
NET = NetworkChoice(
    vpc_id="vpc-1",
    vpc_cidr="192.168.0.0/16",
    vswitch_id="vsw-1",
    zone="cn-hangzhou-h",
    container_cidr="172.20.0.0/16",
    service_cidr="172.21.0.0/20",
    created=[],
)


def test_a_given_security_group_is_used_instead_of_a_new_one(runtime: Runtime, world: SandboxCloud) -> None:
    body = create_spec(
        "acf-sg",
        "cn-hangzhou",
        PLAN,
        NET,
        {},
        "token",
        "sg-given",
    )
    wire = body.wire_body()
    assert wire["security_group_id"] == "sg-given" and "is_enterprise_security_group" not in wire
    password = wire["nodepools"][0]["scaling_group"]["login_password"]
    assert len(password) >= 8 and password not in str(runtime.ownership.all())


# -- ACK Serverless -------------------------------------------------------------------------------

SERVERLESS = ServerlessPlan(edition="pro", hours=2)


def test_a_serverless_plan_without_a_token_is_proposed_back(runtime: Runtime, world: SandboxCloud) -> None:
    outcome = runtime.clusters.ensure("acf-sls", plan=SERVERLESS)
    assert outcome.status == "quote_required" and isinstance(outcome.plan_to_quote, ServerlessPlan)
    assert outcome.plan_to_quote == SERVERLESS.model_copy(update={"region": "cn-hangzhou"})
    assert "Serverless" in outcome.message and outcome.model_dump(mode="json")["plan_to_quote"]["kind"] == "serverless"
    assert runtime.clusters.ensure("acf-sls").plan_to_quote == ClusterPlan(region="cn-hangzhou"), "default: nodes"
    assert "CreateCluster" not in world.counts() and runtime.ownership.all() == []


def test_a_quote_for_one_kind_does_not_pay_for_the_other(runtime: Runtime, world: SandboxCloud) -> None:
    token = quote(runtime, SERVERLESS)
    with pytest.raises(QuoteRefused) as info:
        runtime.clusters.ensure("acf-kind", plan=ClusterPlan(edition="pro", hours=2), quote_token=token)
    assert info.value.reason == "plan_mismatch" and 'kind: quoted "serverless", given "cluster"' in info.value.message
    cluster_token = quote(runtime, PLAN)
    with pytest.raises(QuoteRefused, match="kind"):
        runtime.clusters.ensure(
            "acf-kind", plan=SERVERLESS.model_copy(update={"zone": PLAN.zone}), quote_token=cluster_token
        )
    assert world.clusters() == [] and runtime.ownership.all() == []


def test_the_serverless_body_has_no_nodes(runtime: Runtime) -> None:
    body = create_spec("acf-s", "cn-hangzhou", SERVERLESS, NET, {"k": "v"}, "token").wire_body()
    assert body == {
        "name": "acf-s",
        "cluster_type": "ManagedKubernetes",
        "profile": "Serverless",
        "cluster_spec": "ack.pro.small",
        "region_id": "cn-hangzhou",
        "vpcid": "vpc-1",
        "vswitch_ids": ["vsw-1"],
        "service_cidr": "172.21.0.0/20",
        "snat_entry": False,
        "endpoint_public_access": True,
        "client_token": "token",
        "tags": [{"key": "k", "value": "v"}],
        "addons": [{"name": "coredns"}],
    }
    given = create_spec("acf-s", "cn-hangzhou", ServerlessPlan(), NET, {}, "t", "sg-given")
    assert given.security_group_id == "sg-given" and given.cluster_spec == "ack.standard"


def create_serverless(runtime: Runtime, world: SandboxCloud, name: str, plan: ServerlessPlan) -> OperationStatus:
    outcome = runtime.clusters.ensure(name, plan=plan, quote_token=quote(runtime, plan))
    assert outcome.status == "creating" and outcome.operation_id and "ACK Serverless" in outcome.message
    return finished(runtime, outcome.operation_id)


def test_creating_a_serverless_cluster_sends_the_serverless_body(runtime: Runtime, world: SandboxCloud) -> None:
    status = create_serverless(runtime, world, "acf-sls-body", ServerlessPlan(hours=1))
    assert status.state == "succeeded", status.error
    (cluster,) = world.clusters()
    assert (cluster.profile, cluster.cluster_type, cluster.cluster_spec) == (
        "Serverless",
        "ManagedKubernetes",
        "ack.standard",
    )
    assert cluster.state == "running" and cluster.nodepools == [] and cluster.nodes == []
    assert cluster.container_cidr is None and cluster.security_group_id, "ACK made the pods' security group"
    first_zone = runtime.clusters.ecs.zones_with_stock("cn-hangzhou", "ecs.g7.xlarge")[0]
    assert cluster.zone_id == first_zone
    (vswitch,) = [v for v in world.vswitches() if v.vswitch_id in cluster.vswitch_ids]
    assert vswitch.zone_id == first_zone
    assert "ack-virtual-node" in world.addons(cluster.cluster_id)
    info = runtime.clusters.cs.describe_cluster(cluster.cluster_id)  # the product's own view, through the SDK
    assert info.profile == "Serverless"
    assert world.counts()["CreateCluster"] == 1
    owned = {(r.kind, r.origin) for r in runtime.ownership.all()}
    assert {("cluster", "created"), ("vpc", "created"), ("vswitch", "created")} <= owned


def test_a_serverless_cluster_is_ready_when_a_virtual_node_is(runtime: Runtime, world: SandboxCloud) -> None:
    runtime.clusters.settings.nodes_timeout_s = 20.0
    status = create_serverless(runtime, world, "acf-sls", SERVERLESS.model_copy(update={"zone": "cn-hangzhou-h"}))
    assert status.state == "succeeded", status.error
    result = status.result or {}
    assert result["status"] == "created" and result["ready_nodes"] >= 1
    assert "Serverless" in result["message"] and "deploy_acs" in result["next_step"]
    assert "compute=acs" in result["next_step"]
    access = runtime.clusters.kubeconfigs.access(result["cluster_id"])
    try:
        virtual = [n for n in access.nodes() if n.labels.get("type") == "virtual-kubelet"]
    finally:
        access.close()
    assert virtual and all(n.ready for n in virtual)
    again = runtime.clusters.ensure("acf-sls")
    assert again.status == "reused" and again.cluster_id == result["cluster_id"] and "Serverless" in again.message
    assert "deploy_acs" in again.next_step and world.counts()["CreateCluster"] == 1


def test_a_planted_serverless_cluster_is_reused_with_the_acs_next_step(runtime: Runtime, world: SandboxCloud) -> None:
    cluster_id = world.plant_cluster("team-sls", profile="Serverless", nodes=0)
    outcome = runtime.clusters.ensure("team-sls")
    assert outcome.status == "reused" and outcome.cluster_id == cluster_id
    assert "ACK Serverless" in outcome.message and "run_job with compute=acs" in outcome.next_step


def test_the_consent_question_describes_what_is_bought() -> None:
    from ack_compute.server.ensure_cluster import _describe

    text = _describe("acf-sls", SERVERLESS)
    assert "ACK Serverless cluster 'acf-sls'" in text and "pro" in text and "no worker nodes" in text
    assert "ecs." not in text and " x " not in text
    assert _describe("acf-n", PLAN) == "ACK cluster 'acf-n' (pro, 2 x ecs.g7.xlarge)"


def test_waiting_for_a_serverless_cluster_means_waiting_for_a_virtual_node(
    runtime: Runtime, world: SandboxCloud
) -> None:
    world.time_scale = 200  # slow enough to find the cluster still initial
    runtime.clusters.settings.nodes_timeout_s = 1.0
    cluster_id = world.plant_cluster("acf-sls-bare", state="initial", profile="Serverless", nodes=0)
    world.set_addon(cluster_id, "ack-virtual-node", None)  # nothing will ever place its pods
    waiting = runtime.clusters.ensure("acf-sls-bare")
    assert waiting.status == "waiting" and waiting.cluster_id == cluster_id and waiting.operation_id
    status = finished(runtime, waiting.operation_id)
    assert status.state == "failed" and "0 of 1 virtual nodes" in (status.error or "")
    assert "ack-virtual-node" in (status.error or "") and "CreateCluster" not in world.counts()
