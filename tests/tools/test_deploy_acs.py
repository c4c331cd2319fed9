"""deploy_acs against the sandbox: add-on checks through the CS API, pods on virtual nodes through the real client."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from kubernetes import client

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.tools.cancel import Canceller
from ack_compute.tools.cleanup import CleanupRequest
from ack_compute.tools.deploy_acs import DeployOutcome, DeployRequest, costs_more
from ack_compute.tools.deploy_spec import TEMPLATE_LABEL
from ack_compute.tools.errors import AckComputeError, QuoteRefused
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.inventory import Inventories
from ack_compute.tools.operations import OperationStatus
from ack_compute.tools.plans import AcsPlan, ClusterPlan, EciPlan

PLAN = AcsPlan(replicas=2, vcpu=1, memory_gib=2, hours=2)
ECI = EciPlan(
    replicas=2,
    vcpu=1,
    memory_gib=2,
    spot_strategy="SpotWithPriceLimit",
    spot_price_limit=0.1,
    use_specs=["2-4Gi"],
    image_cache=True,
    hours=2,
)


@pytest.fixture
def runtime(world: SandboxCloud, runtime_on: Callable[..., Runtime]) -> Runtime:
    return runtime_on(world)


@pytest.fixture
def pro(world: SandboxCloud) -> str:
    return world.plant_cluster("acf-pro", nodes=1, cluster_spec="ack.pro.small", addons={"ack-virtual-node": None})


def quote(runtime: Runtime, plan: AcsPlan | EciPlan = PLAN) -> str:
    token = estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes).quote_token
    assert token
    return token


def deploy(runtime: Runtime, cluster: str, **fields: object) -> DeployOutcome:
    body = {"cluster": cluster, "name": "web", "image": "nginx:1.27", "plan": PLAN, **fields}
    return runtime.deployer.deploy(DeployRequest.model_validate(body))


def apps(runtime: Runtime, cluster: str) -> client.AppsV1Api:
    return client.AppsV1Api(runtime.targets.access(runtime.targets.resolve(cluster)).api_client())


def test_deploys_on_virtual_nodes_with_acs_instance_ids_and_a_service(runtime: Runtime, pro: str) -> None:
    asked = deploy(runtime, pro)
    assert asked.status == "quote_required" and asked.plan_to_quote is not None
    assert apps(runtime, pro).list_namespaced_deployment("default").items == []
    paid = quote(runtime)
    out = deploy(runtime, pro, quote_token=paid, ports=[80])
    assert out.status == "deployed", out.message
    assert out.ready_replicas == 2 and len(out.pods) == 2
    for pod in out.pods:
        assert pod.node.startswith("virtual-kubelet-") and pod.ready
        assert pod.instance_id and pod.instance_id.startswith("acs-")
    assert out.endpoint and out.endpoint.endswith(":80")
    deployment = apps(runtime, pro).read_namespaced_deployment("web", "default")
    labels = deployment.spec.template.metadata.labels
    assert labels["alibabacloud.com/acs"] == "true" and labels["alibabacloud.com/compute-class"] == "general-purpose"
    assert deployment.spec.template.spec.node_selector == {"type": "virtual-kubelet"}
    kinds = sorted(r.kind for r in runtime.ownership.all() if r.state == "ready")
    assert kinds == ["deployment", "service"]
    # The spent quote says what it bought; deploy_acs ran no operation to follow, so none is offered.
    with pytest.raises(QuoteRefused) as spent:
        deploy(runtime, pro, name="api", quote_token=paid)
    assert "(deploy_acs web); a quote pays for one create only." in spent.value.message
    assert spent.value.next_step.startswith("If that was this request, deploy_acs web again shows it; otherwise")


@pytest.mark.slow  # about a minute: it waits out rollouts
def test_updates_need_a_new_quote_only_when_the_plan_costs_more(runtime: Runtime, pro: str) -> None:
    assert deploy(runtime, pro, quote_token=quote(runtime)).status == "deployed"
    again = deploy(runtime, pro)
    assert again.status == "unchanged" and again.ready_replicas == 2
    newer = deploy(runtime, pro, image="nginx:1.28")
    assert newer.status == "updated", newer.message
    assert apps(runtime, pro).read_namespaced_deployment("web", "default").spec.template.spec.containers[0].image == (
        "nginx:1.28"
    )
    bigger = PLAN.model_copy(update={"replicas": 3})
    grown = deploy(runtime, pro, plan=bigger)
    assert grown.status == "quote_required" and grown.plan_to_quote is not None
    assert apps(runtime, pro).read_namespaced_deployment("web", "default").spec.replicas == 2
    assert deploy(runtime, pro, plan=bigger, quote_token=quote(runtime, bigger)).ready_replicas == 3
    smaller = PLAN.model_copy(update={"replicas": 1})
    shrunk = deploy(runtime, pro, plan=smaller)
    assert shrunk.status == "updated" and shrunk.replicas == 1
    assert "Scaled down from 3 to 1 pod(s): 2 running pod(s) are stopped now (free" in " ".join(shrunk.notes)


def test_a_deployment_someone_else_created_is_never_touched(runtime: Runtime, pro: str) -> None:
    foreign = {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }
    apps(runtime, pro).create_namespaced_deployment("default", foreign)
    with pytest.raises(AckComputeError, match="not created by this server"):
        deploy(runtime, pro, quote_token=quote(runtime))
    kept = apps(runtime, pro).read_namespaced_deployment("web", "default")
    assert kept.spec.template.spec.containers[0].image == "nginx" and runtime.ownership.all() == []


@pytest.mark.parametrize(
    ("addons", "message"),
    [({}, "does not have the ack-virtual-node add-on"), ({"ack-virtual-node": "v2.12.1"}, "needs 2.13.0 or later")],
)
def test_the_virtual_node_addon_is_checked_first(
    runtime: Runtime, world: SandboxCloud, addons: dict[str, str | None], message: str
) -> None:
    cluster = world.plant_cluster("acf-old", nodes=1, cluster_spec="ack.pro.small", addons=addons)
    token = quote(runtime)
    with pytest.raises(AckComputeError, match=message.replace(".", r"\.")):
        deploy(runtime, cluster, quote_token=token)
    assert apps(runtime, cluster).list_namespaced_deployment("default").items == []
    assert runtime.ownership.all() == []


def test_gpu_hpn_needs_a_capacity_reservation(runtime: Runtime, pro: str) -> None:
    hpn = AcsPlan(vcpu=8, memory_gib=32, compute_class="gpu-hpn", gpu_model="H20", gpu_count=1)
    with pytest.raises(AckComputeError, match="capacity reservation"):
        deploy(runtime, pro, plan=hpn, quote_token="anything")


def test_a_quote_for_another_plan_is_refused(runtime: Runtime, pro: str) -> None:
    other = quote(runtime, PLAN.model_copy(update={"vcpu": 2}))
    with pytest.raises(QuoteRefused, match="plan_mismatch"):
        deploy(runtime, pro, quote_token=other)
    assert runtime.ownership.all() == []


def test_an_unpullable_image_reports_failure_and_how_to_stop_paying(runtime: Runtime, pro: str) -> None:
    out = deploy(runtime, pro, image="registry.example.com/none/such:1", quote_token=quote(runtime))
    assert out.status == "failed" and "ImagePull" in out.message, out.message
    assert "cleanup" in out.next_step


def test_a_fixed_image_is_judged_by_its_own_pods_not_the_broken_ones(runtime: Runtime, pro: str) -> None:
    """The update after a failed image: its check used to watch every pod of the app, found the old ReplicaSet's
    ImagePullBackOff and reported the fixed image as failing. Only this version's pods count now."""
    broken = deploy(runtime, pro, image="registry.example.com/none/such:1", quote_token=quote(runtime))
    assert broken.status == "failed" and "quote_id" in broken.next_step
    fixed = deploy(runtime, pro)  # the paid plan, the image the template now has
    assert (fixed.status, fixed.ready_replicas) == ("updated", 2), fixed.message
    core = client.CoreV1Api(runtime.targets.access(runtime.targets.resolve(pro)).api_client())
    images = {p.metadata.name: p.spec.containers[0].image for p in core.list_namespaced_pod("default").items}
    assert {images[p.pod] for p in fixed.pods} == {"nginx:1.27"}, (fixed.pods, images)


def test_a_deployment_made_before_the_template_label_is_scaled_without_new_pods(runtime: Runtime, pro: str) -> None:
    """A Deployment an earlier version made carries no template label: shrinking it only changes its count (its
    pods are kept, not all replaced by a new ReplicaSet just to gain the label), and all its pods are watched."""
    assert deploy(runtime, pro, quote_token=quote(runtime)).status == "deployed"
    made = apps(runtime, pro).read_namespaced_deployment("web", "default")
    del made.spec.template.metadata.labels[TEMPLATE_LABEL]  # as the earlier version wrote it
    apps(runtime, pro).replace_namespaced_deployment("web", "default", made)
    assert deploy(runtime, pro).status in ("unchanged", "rolling_out")  # the spec digest never covered the label

    def pods() -> set[str]:
        core = client.CoreV1Api(runtime.targets.access(runtime.targets.resolve(pro)).api_client())
        return {p.metadata.name for p in core.list_namespaced_pod("default").items if not p.metadata.deletion_timestamp}

    deadline = time.monotonic() + 60
    while len(pods()) != 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    before = pods()
    shrunk = deploy(runtime, pro, plan=PLAN.model_copy(update={"replicas": 1}))
    assert (shrunk.status, shrunk.ready_replicas) == ("updated", 1), shrunk.message
    assert {p.pod for p in shrunk.pods} <= before, "a scale keeps the pods it has"
    labels = apps(runtime, pro).read_namespaced_deployment("web", "default").spec.template.metadata.labels
    assert TEMPLATE_LABEL not in labels


def test_serverless_clusters_run_the_pods_on_their_virtual_nodes(runtime: Runtime, world: SandboxCloud) -> None:
    cluster = world.plant_cluster("acf-ask", nodes=0, profile="Serverless")
    out = deploy(runtime, cluster, quote_token=quote(runtime))
    assert out.status == "deployed", out.message
    assert all(p.node.startswith("virtual-kubelet-") and p.instance_id for p in out.pods)
    assert any("ECI" in n for n in out.notes)


def test_an_eci_plan_on_serverless_runs_eci_pods_with_the_annotations(runtime: Runtime, world: SandboxCloud) -> None:
    cluster = world.plant_cluster("acf-ask", nodes=0, profile="Serverless")
    asked = deploy(runtime, cluster, plan=ECI)
    assert asked.status == "quote_required" and isinstance(asked.plan_to_quote, EciPlan)
    assert "ECI pods" in asked.message and any("run (and are billed) as ECI" in n for n in asked.notes)
    out = deploy(runtime, cluster, plan=ECI, quote_token=quote(runtime, ECI))
    assert out.status == "deployed", out.message
    assert out.ready_replicas == 2 and len(out.pods) == 2
    for pod in out.pods:
        assert pod.node.startswith("virtual-kubelet-") and pod.ready
        assert pod.instance_id and pod.instance_id.startswith("eci-")
    assert any("run (and are billed) as ECI" in n for n in out.notes)
    template = apps(runtime, cluster).read_namespaced_deployment("web", "default").spec.template
    assert not any(k.startswith("alibabacloud.com/") for k in template.metadata.labels)
    assert template.metadata.annotations == {
        "k8s.aliyun.com/eci-use-specs": "1-2Gi,2-4Gi",
        "k8s.aliyun.com/eci-spot-strategy": "SpotWithPriceLimit",
        "k8s.aliyun.com/eci-spot-price-limit": "0.1",
        "k8s.aliyun.com/eci-auto-imc": "true",
    }
    resources = template.spec.containers[0].resources
    assert resources.requests == resources.limits == {"cpu": "1", "memory": "2Gi"}
    # Same plan again: nothing to pay; the same pods as ACS: a change of kind needs a new quote.
    same = deploy(runtime, cluster, plan=ECI)
    assert same.status == "unchanged" and not any("ACK Serverless" in n for n in same.notes), "said when deployed"
    as_acs = deploy(runtime, cluster, plan=AcsPlan(replicas=1, vcpu=1, memory_gib=2))
    assert as_acs.status == "quote_required"


def test_an_eci_plan_on_a_cluster_that_is_not_serverless_is_refused(runtime: Runtime, pro: str) -> None:
    with pytest.raises(AckComputeError, match="ECI through virtual nodes on ACK Pro") as refused:
        deploy(runtime, pro, plan=ECI, quote_token=quote(runtime, ECI))
    assert "acs plan" in refused.value.next_step
    assert apps(runtime, pro).list_namespaced_deployment("default").items == []
    assert runtime.ownership.all() == []


def test_costs_more_compares_eci_plans_and_any_change_of_kind_needs_a_quote() -> None:
    assert costs_more(ECI, PLAN) and costs_more(PLAN, ECI)
    assert not costs_more(ECI.model_copy(update={"replicas": 1}), ECI)
    assert costs_more(ECI.model_copy(update={"replicas": 3}), ECI)
    assert costs_more(ECI.model_copy(update={"spot_price_limit": 0.2}), ECI)
    assert not costs_more(ECI.model_copy(update={"spot_price_limit": 0.05}), ECI)
    assert costs_more(ECI.model_copy(update={"spot_strategy": None, "spot_price_limit": None}), ECI)
    assert costs_more(ECI.model_copy(update={"use_specs": ["4-8Gi"]}), ECI)
    assert not costs_more(ECI.model_copy(update={"use_specs": []}), ECI)


def test_cleanup_shows_the_cost_a_running_deployment_stops(runtime: Runtime, pro: str) -> None:
    """The dry run's `hourly_stops` counts the pods' latest quote, not just clusters."""

    def deployment_hourly() -> object:
        plan = runtime.cleaner.plan(CleanupRequest(target="workload", workload="web"))
        (item,) = [i for i in plan.items if i.kind == "deployment"]
        return item.hourly

    first = estimate_cost(PLAN, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
    deploy(runtime, pro, quote_token=first.quote_token)
    assert deployment_hourly() == first.hourly_total
    bigger = PLAN.model_copy(update={"replicas": 3})
    grown = estimate_cost(bigger, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
    deploy(runtime, pro, plan=bigger, quote_token=grown.quote_token)
    assert deployment_hourly() == grown.hourly_total > first.hourly_total


# -- ack-virtual-node on clusters this server created; ACK Basic --------------------------------------------------

CLUSTER_PLAN = ClusterPlan(edition="pro", instance_types=["ecs.g7.xlarge"], node_count=1, zone="cn-hangzhou-h", hours=2)


def created_cluster(runtime: Runtime, world: SandboxCloud, plan: ClusterPlan = CLUSTER_PLAN) -> str:
    """A cluster this server creates (paid by its own quote), as an agent would get one."""
    token = estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes).quote_token
    started = runtime.clusters.ensure("acf-fresh", plan=plan, quote_token=token)
    status = finish(runtime, started.operation_id or "")
    assert status.state == "succeeded", status.error
    return str((status.result or {})["cluster_id"])


def finish(runtime: Runtime, operation_id: str, timeout: float = 60) -> OperationStatus:
    deadline = time.monotonic() + timeout
    status = runtime.operations.get(operation_id)
    while not status.done and time.monotonic() < deadline:
        status = runtime.operations.wait(operation_id, 2)
    assert status.done, f"operation still {status.stage}: {status.message}"
    return status


def test_on_a_fresh_pro_cluster_it_installs_the_free_addon_first(runtime: Runtime, world: SandboxCloud) -> None:
    cluster = created_cluster(runtime, world)
    assert "ack-virtual-node" not in world.addons(cluster)
    assert (
        runtime.deployer.offer_with_addon(
            DeployRequest(cluster=cluster, name="web", image="nginx:1.27", plan=PLAN, quote_token=quote(runtime))
        )[1]
        == "installing the free ack-virtual-node add-on first"
    )

    asked = deploy(runtime, cluster)  # no quote: it says what to quote and that the add-on comes first, free
    assert asked.status == "quote_required" and "installing the free ack-virtual-node add-on first" in asked.notes[0]
    assert "InstallClusterAddons" not in world.counts()
    started = deploy(runtime, cluster, quote_token=quote(runtime))
    assert started.status == "preparing" and started.operation_id, started.message
    assert "installing the free ack-virtual-node add-on first" in started.message
    again = deploy(runtime, cluster, quote_token=quote(runtime))  # asked again while it prepares: the same one
    assert (again.status, again.operation_id) == ("preparing", started.operation_id), again.message
    status = finish(runtime, started.operation_id)
    assert status.state == "succeeded", status.error
    out = DeployOutcome.model_validate(status.result)
    assert out.status == "deployed" and out.ready_replicas == 2, out.message
    assert all(p.node.startswith("virtual-kubelet-") and p.instance_id for p in out.pods)
    assert any("installed the free ack-virtual-node add-on v2.15.8" in n for n in out.notes)
    assert world.addons(cluster)["ack-virtual-node"] == "v2.15.8" and world.counts()["InstallClusterAddons"] == 1
    # Billed: the cluster and the pods, each by its own quote; the add-on added no row and no price.
    kinds = sorted(r.kind for r in runtime.ownership.all() if r.kind in ("cluster", "deployment"))
    assert kinds == ["cluster", "deployment"]
    inventory = Inventories(
        cs=runtime.cs, vpcs=runtime.clusters.vpcs, targets=runtime.targets, ownership=runtime.ownership
    ).list()
    priced = {r.kind: r.hourly for r in inventory.resources if r.hourly is not None}
    assert set(priced) == {"cluster", "deployment"}
    assert inventory.totals[0].hourly == priced["cluster"] + priced["deployment"]


def test_an_install_already_running_is_waited_for_not_repeated(runtime: Runtime, world: SandboxCloud) -> None:
    """What a resumed operation meets after a crash right after InstallClusterAddons: the add-on `initial`. It waits
    for that install and never sends a second one."""
    cluster = created_cluster(runtime, world)
    world.time_scale = 20  # the install task (a simulated minute) now takes 3 s
    runtime.cs.install_addon(cluster, "ack-virtual-node", "v2.15.8")
    world.time_scale = 600
    assert runtime.cs.list_addons(cluster)[-1].state == "initial"
    started = deploy(runtime, cluster, quote_token=quote(runtime))
    assert started.status == "preparing" and started.operation_id
    status = finish(runtime, started.operation_id)
    assert status.state == "succeeded", status.error
    assert DeployOutcome.model_validate(status.result).status == "deployed"
    assert any("waited for the ack-virtual-node add-on being installed" in n for n in status.result["notes"])
    assert world.counts()["InstallClusterAddons"] == 1


def test_an_old_addon_on_a_cluster_this_server_created_is_upgraded(runtime: Runtime, world: SandboxCloud) -> None:
    cluster = created_cluster(runtime, world)
    world.set_addon(cluster, "ack-virtual-node", "v2.11.0")
    started = deploy(runtime, cluster, quote_token=quote(runtime))
    status = finish(runtime, started.operation_id or "")
    assert status.state == "succeeded", status.error
    notes = status.result["notes"]
    assert any("upgrading the free ack-virtual-node add-on first (no charge)" in n for n in started.notes), started
    assert any("upgraded the free ack-virtual-node add-on from v2.11.0 to v2.15.8" in n for n in notes)
    assert world.addons(cluster)["ack-virtual-node"] == "v2.15.8" and "InstallClusterAddons" not in world.counts()


def test_ack_basic_is_told_plainly_that_acs_needs_pro(runtime: Runtime, world: SandboxCloud) -> None:
    basic = world.plant_cluster("acf-basic", nodes=1, cluster_spec="ack.standard", addons={"ack-virtual-node": None})
    token = quote(runtime)
    with pytest.raises(AckComputeError) as refused:
        deploy(runtime, basic, quote_token=token)
    assert refused.value.message == (
        "ACS compute needs an ACK Pro cluster; this one is ACK Basic (acf-basic, cluster_spec ack.standard)."
    )
    assert "no quote was spent" in refused.value.next_step
    with pytest.raises(AckComputeError, match="ACK Basic"):
        runtime.deployer.offer(
            DeployRequest(cluster=basic, name="web", image="nginx:1.27", plan=PLAN, quote_token=token)
        )
    assert apps(runtime, basic).list_namespaced_deployment("default").items == []
    assert runtime.ownership.all() == [] and runtime.ledger.query("SELECT * FROM quote_redemptions") == []


def test_cancelling_while_the_addon_installs_spends_nothing(runtime: Runtime, world: SandboxCloud) -> None:
    cluster = created_cluster(runtime, world)
    world.time_scale = 1  # the install task takes its real minute: time to cancel it
    started = deploy(runtime, cluster, quote_token=quote(runtime))
    assert started.status == "preparing" and started.operation_id
    canceller = Canceller(runtime.operations, runtime.ownership, runtime.targets, runtime.cleaner)
    outcome = canceller.cancel(started.operation_id)
    world.time_scale = 600
    assert outcome.status == "cancelled", outcome
    assert "The free ack-virtual-node add-on stays on the cluster" in outcome.message
    assert runtime.operations.get(started.operation_id).cancelled
    assert [r.kind for r in runtime.ownership.all() if r.kind == "deployment"] == []
    redeemed = [r["note"] for r in runtime.ledger.query("SELECT note FROM quote_redemptions")]
    assert len(redeemed) == 1 and redeemed[0].startswith("ensure_cluster"), redeemed  # the pods' quote is unspent
    assert apps(runtime, cluster).list_namespaced_deployment("default").items == []
