"""Issue 13's red-team pass on the merged tree, replayed against real server processes (stdio and `serve --http`)
on the sandbox. Each attack that worked is a test here; each is now refused with nothing billed or touched.

R1 deploy_acs decided whether an update "costs more per hour" from the Deployment's plan annotation, which anyone
   who can edit the Deployment writes: a tenant inflated it and the next deploy_acs scaled up with no quote.
R2 run_job compute=nodes ("no new cost") into a namespace labelled alibabacloud.com/eci=true on an ACK cluster with
   virtual nodes: ack-virtual-node's ECI Scheduler sends every new pod there to ECI, so the job ran billed with no
   quote and nobody asked.
R3 run_job compute=nodes on a `context:` cluster that has no worker nodes at all (an ACK Serverless cluster in the
   operator's kubeconfig): on ACK Serverless every pod runs on a virtual node as a billed ECI instance. (The
   sandbox's Serverless virtual nodes are tainted, so there the Job was created and failed Unschedulable; the refusal
   now comes before anything is created, from the nodes the cluster shows.)
R4 A Deployment this server created was deleted out of band and someone else created one of the same name with this
   server's labels (a copied manifest): cleanup deleted theirs and deploy_acs replaced it, trusting labels alone.
   Now the ledger keeps the Deployment's uid; an object with another uid is never changed or deleted.
R5 deploy_acs with `ports` where a Service of that name already exists that this server did not create: it patched
   that Service's selector and ports to its own pods (the other workload's clients now reached the new pods).
R6 An eci Deployment quoted without image_cache was updated to image_cache=true with no quote: ECI then creates
   image caches whose disks/snapshots are billed, a cost the person never saw (the quote lists it as an exclusion
   only when image_cache is quoted).
R7 Over HTTP, the server-wide budget cap's message ("already running on this server: ...") listed every caller's
   resources by name and price to whoever hit the cap: Bob's estimate named Alice's Deployment.
R8 Over HTTP, cleanup of a cluster another caller's workloads run on said why it was kept by naming those callers
   and their workloads ("bob: deployment payroll-export").
R9 run_job and deploy_acs wrote into kube-system (a Service named for an add-on not yet installed there would
   receive that add-on's traffic once it is). The cluster's own namespaces are now refused before anything is made.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as kube

from ack_compute.sandbox import SandboxCloud
from tests.security import access_helpers as access
from tests.security import purchase_helpers as helpers
from tests.security.purchase_helpers import (
    call,
    env_for,
    live_rows,
    paid_job,
    quote_outcome,
    quoted_deploy,
    stdio_agent,
    virtual_node_cluster,
)
from tests.server import conftest as launcher  # the one `serve --http` launcher

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
ACS = {"kind": "acs", "vcpu": 1, "memory_gib": 2, "hours": 1}


def apps(look: Any, cluster_id: str) -> kube.AppsV1Api:
    """The cluster's API as another tenant of it sees it (anyone allowed to edit Deployments there)."""
    return kube.AppsV1Api(helpers.api_client(look, cluster_id))


def core(look: Any, cluster_id: str) -> kube.CoreV1Api:
    return kube.CoreV1Api(helpers.api_client(look, cluster_id))


# -- R1: what an update costs is judged against what was paid for, not against an annotation --------------------


async def test_an_inflated_plan_annotation_does_not_pay_for_more_pods(
    world: SandboxCloud, look: Any, tmp_path: Path
) -> None:
    cluster = virtual_node_cluster(world, "acf-red-annot")
    state = tmp_path / "state"
    async with stdio_agent(env_for(world, state, confirmation="token"), tmp_path / "stderr.log") as agent:
        web = {"cluster": cluster, "name": "web", "image": "nginx:1.27", "plan": ACS}
        quote, (ok, made) = await quoted_deploy(agent, web)
        assert ok and made["status"] in ("deployed", "rolling_out"), made
        # A tenant of the cluster rewrites the annotation: "this Deployment was bought for 4 pods of 4 vCPU".
        api = apps(look, cluster)
        meta = api.read_namespaced_deployment("web", "default").metadata
        claimed = {
            **json.loads(meta.annotations["ack-compute-mcp/plan"]),
            "replicas": 4,
            "vcpu": 4,
            "memory_gib": 8,
        }
        api.patch_namespaced_deployment(
            "web", "default", {"metadata": {"annotations": {"ack-compute-mcp/plan": json.dumps(claimed)}}}
        )
        bigger = {**ACS, "replicas": 4, "vcpu": 4, "memory_gib": 8}
        ok, answer = await call(agent, "deploy_acs", {**web, "plan": bigger})
    assert ok and answer["status"] == "quote_required", answer
    assert (
        answer["message"]
        == "This deployment costs more per hour than the quoted one; it needs a quote for exactly this plan."
    )
    assert apps(look, cluster).read_namespaced_deployment("web", "default").spec.replicas == 1
    assert quote_outcome(state, quote["quote_id"]) == "redeemed"
    assert [(r["kind"], r["quote_id"]) for r in live_rows(state)] == [("deployment", quote["quote_id"])]


# -- R2: compute=nodes never runs where the cluster turns pods into billed ECI instances ---------------------------


async def test_a_free_job_does_not_run_in_a_namespace_that_bills_every_pod(
    world: SandboxCloud, look: Any, tmp_path: Path
) -> None:
    cluster = virtual_node_cluster(world, "acf-red-burst")
    # The cluster's owner set up a burst namespace: every new pod in it runs on ECI (and is billed per pod).
    core(look, cluster).create_namespace({"metadata": {"name": "burst", "labels": {"alibabacloud.com/eci": "true"}}})
    state = tmp_path / "state"
    job = {"cluster": cluster, "script": "echo free?", "namespace": "burst", "wait_seconds": 45}
    async with stdio_agent(env_for(world, state, confirmation="token"), tmp_path / "stderr.log") as agent:
        ok, answer = await call(agent, "run_job", job)
        ok_default, on_nodes = await call(agent, "run_job", {**job, "namespace": "default"})
    assert not ok, answer
    assert answer == (
        "Namespace burst in cluster acf-red-burst is labelled alibabacloud.com/eci=true: "
        "the cluster runs every new pod there as a billed ECI instance, and compute=nodes runs only on the "
        "cluster's own nodes at no new cost. Use a namespace without that label, or run with compute=acs and a "
        "quote. Nothing was created."
    )
    assert core(look, cluster).list_namespaced_pod("burst").items == []
    assert [r for r in live_rows(state) if r["kind"] == "job" and "burst" in r["name"]] == []
    # The same job in an ordinary namespace runs on the worker node, as before.
    assert ok_default and on_nodes["status"] == "succeeded" and on_nodes.get("instance_id") is None, on_nodes
    assert not on_nodes["node"].startswith("virtual-kubelet"), on_nodes


# -- R3: compute=nodes needs nodes; a cluster of virtual nodes only bills every pod --------------------------------


async def test_a_free_job_does_not_run_on_a_context_cluster_without_worker_nodes(
    world: SandboxCloud, look: Any, tmp_path: Path
) -> None:
    cluster = world.plant_cluster("acf-red-sls", nodes=0, profile="Serverless")
    config = yaml.safe_load(look.clusters.kubeconfigs.get(cluster).config.get_secret_value())
    kubeconfig = access.write_kubeconfig(tmp_path / "kubeconfig", {"sls": config})
    state = tmp_path / "state"
    env = env_for(world, state, confirmation="token", kubeconfig=str(kubeconfig), allowed_contexts="sls")
    async with stdio_agent(env, tmp_path / "stderr.log") as agent:
        ok, answer = await call(agent, "run_job", {"cluster": "context:sls", "script": "echo free?"})
    assert not ok, answer
    assert answer == (
        "Cluster sls has no worker nodes, only virtual nodes, where every pod "
        "runs as a billed ACS or ECI instance; compute=nodes runs only on the cluster's own nodes at no new cost. "
        "Run it with compute=acs and a quote (estimate_cost with an acs plan, replicas 1), or add worker nodes. "
        "Nothing was created."
    )
    assert core(look, cluster).list_namespaced_pod("default").items == []
    assert [r for r in live_rows(state) if r["kind"] == "job"] == []


# -- R4: a label is no proof of creation; the uid the server saw when it created the object is ---------------------


async def test_a_look_alike_deployment_with_this_servers_labels_is_never_touched(
    world: SandboxCloud, look: Any, tmp_path: Path
) -> None:
    cluster = virtual_node_cluster(world, "acf-red-alike")
    state = tmp_path / "state"
    web = {"cluster": cluster, "name": "web", "image": "nginx:1.27", "plan": ACS}
    async with stdio_agent(env_for(world, state, confirmation="token"), tmp_path / "stderr.log") as agent:
        _, (ok, made) = await quoted_deploy(agent, web)
        assert ok and made["status"] in ("deployed", "rolling_out"), made
        # Out of band: the Deployment goes, and a tenant creates their own from a copy of its manifest.
        api = apps(look, cluster)
        copied = api.read_namespaced_deployment("web", "default")
        api.delete_namespaced_deployment("web", "default")
        copied.metadata = kube.V1ObjectMeta(
            name="web", labels=copied.metadata.labels, annotations=copied.metadata.annotations
        )
        copied.spec.template.spec.containers[0].image = "tenant/own:1"
        copied.status = None
        api.create_namespaced_deployment("default", copied)
        ok_update, update = await call(agent, "deploy_acs", {**web, "image": "nginx:1.28"})
        _, dry = await call(agent, "cleanup", {"target": "workload", "workload": "web"})
        ok_clean, cleaned = await call(
            agent, "cleanup", {"target": "workload", "workload": "web", "dry_run": False, "wait_seconds": 45}
        )
    assert not ok_update
    assert update == (
        "Deployment default/web exists but is not the one this server created (it "
        "was replaced since); it is never touched. Choose another name. Nothing was changed."
    )
    kept = [i for i in dry["items"] if i["kind"] == "deployment"]
    assert [i["action"] for i in kept] == ["gone"], dry
    assert kept[0]["reason"] == (
        "Deployment default/web is not the one this server created (it was replaced): only the ledger row goes, the "
        "object is not touched"
    )
    assert ok_clean, cleaned
    theirs = apps(look, cluster).read_namespaced_deployment("web", "default")
    assert theirs.spec.template.spec.containers[0].image == "tenant/own:1"
    assert [r for r in live_rows(state) if r["kind"] == "deployment"] == []


# -- R5: a Service this server did not create is never re-pointed --------------------------------------------------


async def test_a_foreign_service_of_the_same_name_is_not_repointed(
    world: SandboxCloud, look: Any, tmp_path: Path
) -> None:
    cluster = virtual_node_cluster(world, "acf-red-svc")
    theirs = {"app": "payments"}
    core(look, cluster).create_namespaced_service(
        "default",
        {"metadata": {"name": "api"}, "spec": {"selector": theirs, "ports": [{"port": 443, "targetPort": 8443}]}},
    )
    state = tmp_path / "state"
    async with stdio_agent(env_for(world, state, confirmation="token"), tmp_path / "stderr.log") as agent:
        api = {"cluster": cluster, "name": "api", "image": "nginx:1.27", "plan": ACS, "ports": [443]}
        quote, (ok, answer) = await quoted_deploy(agent, api)
    assert not ok, answer
    assert answer == (
        "Service default/api exists and was not created by this server; it is never "
        "touched. Choose another name. Nothing was changed."
    )
    service = core(look, cluster).read_namespaced_service("api", "default")
    assert service.spec.selector == theirs and [p.target_port for p in service.spec.ports] == [8443]
    assert "api" not in [d.metadata.name for d in apps(look, cluster).list_namespaced_deployment("default").items]
    assert quote_outcome(state, quote["quote_id"]) is None, "the quote was not spent"
    assert live_rows(state) == []


# -- R6: an update that turns on billed image caches needs the quote that says so ---------------------------------


async def test_turning_on_image_caches_needs_a_quote(world: SandboxCloud, look: Any, tmp_path: Path) -> None:
    cluster = world.plant_cluster("acf-red-imc", nodes=0, profile="Serverless")
    eci = {"kind": "eci", "replicas": 1, "vcpu": 0.5, "memory_gib": 1, "hours": 1}
    state = tmp_path / "state"
    web = {"cluster": cluster, "name": "web", "image": "nginx:1.27", "plan": eci}
    async with stdio_agent(env_for(world, state, confirmation="token"), tmp_path / "stderr.log") as agent:
        _, (ok, made) = await quoted_deploy(agent, web)
        assert ok and made["status"] in ("deployed", "rolling_out"), made
        ok, answer = await call(agent, "deploy_acs", {**web, "plan": {**eci, "image_cache": True}})
    assert ok and answer["status"] == "quote_required", answer
    template = apps(look, cluster).read_namespaced_deployment("web", "default").spec.template
    assert "k8s.aliyun.com/eci-auto-imc" not in (template.metadata.annotations or {})


# -- R7: the budget message names only the caller's own resources ---------------------------------------------------


async def test_the_budget_message_does_not_name_another_callers_resources(world: SandboxCloud, tmp_path: Path) -> None:
    cluster = virtual_node_cluster(world, "acf-red-caps")
    alice, bob = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    file = helpers.tokens_file(tmp_path / "tokens.json", {"alice": (alice, False), "bob": (bob, False)})
    state = tmp_path / "state"
    env = env_for(world, state, confirmation="token", max_hourly="0.2")
    with launcher.serving_http(["--tokens-file", str(file)], env, tmp_path / "http.log") as server:
        async with helpers.over_http(server.base, alice) as a, helpers.over_http(server.base, bob) as b:
            secret_name = {"cluster": cluster, "name": "payroll-export", "image": "nginx:1.27", "plan": ACS}
            _, (ok, made) = await quoted_deploy(a, secret_name)
            assert ok and made["status"] in ("deployed", "rolling_out"), made
            _, bobs = await call(b, "estimate_cost", {"plan": ACS})
            _, alices = await call(a, "estimate_cost", {"plan": ACS})
    hourly = "0.1200"  # the ledger's price of one 1 vCPU, 2 GiB ACS pod, as the cap message writes it
    assert "quote_id" not in bobs, bobs
    assert "payroll-export" not in json.dumps(bobs)
    assert (
        f"already running on this server: {hourly} CNY/h (1 resource of other callers {hourly} CNY/h)"
        in (bobs["budget"]["message"])
    ), bobs["budget"]
    # Its owner still sees it named.
    assert f"(deployment payroll-export {hourly} CNY/h)" in alices["budget"]["message"], alices["budget"]


# -- R8: a cluster kept for other callers' workloads says how many, not whose or which -----------------------------


async def test_cleanup_does_not_name_another_callers_workloads(world: SandboxCloud, tmp_path: Path) -> None:
    serverless = {"kind": "serverless", "zone": "cn-hangzhou-h"}
    alice, bob = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    file = helpers.tokens_file(tmp_path / "tokens.json", {"alice": (alice, False), "bob": (bob, False)})
    env = env_for(world, tmp_path / "state", confirmation="token")
    with launcher.serving_http(["--tokens-file", str(file)], env, tmp_path / "http.log") as server:
        async with helpers.over_http(server.base, alice) as a, helpers.over_http(server.base, bob) as b:
            _, quote = await call(a, "estimate_cost", {"plan": serverless})
            ok, made = await call(
                a,
                "ensure_cluster",
                {"name": "acf-red-shared", "plan": serverless, "quote_id": quote["quote_id"], "wait_seconds": 50},
            )
            assert ok and made["cluster_id"], made
            web = {"cluster": made["cluster_id"], "name": "payroll-export", "image": "nginx:1.27", "plan": ACS}
            _, (ok, deployed) = await quoted_deploy(b, web)
            assert ok and deployed["status"] in ("deployed", "rolling_out"), deployed
            _, plan = await call(a, "cleanup", {"target": "cluster", "cluster": made["cluster_id"]})
    kept = [i for i in plan["items"] if i["kind"] == "cluster"]
    assert [i["action"] for i in kept] == ["blocked"], plan
    assert "payroll-export" not in json.dumps(plan) and "bob" not in json.dumps(plan)
    assert kept[0]["reason"] == (
        "still in use by 1 workload of other callers; it is kept until they clean up theirs (an admin's cleanup can "
        "remove everything)"
    )


# -- R9: the cluster's own namespaces are not the agent's -----------------------------------------------------------


async def test_nothing_is_written_into_the_clusters_own_namespaces(
    world: SandboxCloud, look: Any, tmp_path: Path
) -> None:
    cluster = virtual_node_cluster(world, "acf-red-system")
    before = {m.metadata.name for m in core(look, cluster).list_namespaced_config_map("kube-system").items}
    state = tmp_path / "state"
    async with stdio_agent(env_for(world, state, confirmation="token"), tmp_path / "stderr.log") as agent:
        ok_job, job = await call(agent, "run_job", {"cluster": cluster, "script": "id", "namespace": "kube-system"})
        metrics = {"cluster": cluster, "name": "metrics-server", "image": "nginx:1.27", "plan": ACS, "ports": [443]}
        quote, (ok_deploy, deployed) = await quoted_deploy(agent, {**metrics, "namespace": "kube-system"})
    why = (
        "Namespace kube-system belongs to the cluster's own components; this server never creates anything there. "
        "Use another namespace (default is `default`). Nothing was created."
    )
    assert not ok_job and job == why
    assert not ok_deploy and deployed == why
    assert {m.metadata.name for m in core(look, cluster).list_namespaced_config_map("kube-system").items} == before
    system = apps(look, cluster).list_namespaced_deployment("kube-system").items
    assert "metrics-server" not in [d.metadata.name for d in system]
    assert quote_outcome(state, quote["quote_id"]) is None and live_rows(state) == []


# -- Held: a quote pays only for its own kind and size ------------------------------------------------------------


async def test_a_quote_does_not_pay_for_another_kind_or_a_bigger_plan(
    world: SandboxCloud, look: Any, tmp_path: Path
) -> None:
    cluster = virtual_node_cluster(world, "acf-red-kinds")
    small_cluster = {"kind": "cluster", "instance_types": ["ecs.g7.large"], "node_count": 1, "zone": "cn-hangzhou-h"}
    state = tmp_path / "state"
    web = {"cluster": cluster, "name": "web", "image": "nginx:1.27", "plan": {**ACS, "replicas": 3}}
    async with stdio_agent(env_for(world, state, confirmation="token"), tmp_path / "stderr.log") as agent:
        _, for_a_cluster = await call(agent, "estimate_cost", {"plan": small_cluster})
        _, for_one_pod = await call(agent, "estimate_cost", {"plan": ACS})
        ok_kind, kind = await call(agent, "deploy_acs", {**web, "quote_id": for_a_cluster["quote_id"]})
        ok_size, size = await call(agent, "deploy_acs", {**web, "quote_id": for_one_pod["quote_id"]})
        ok_job, job = await call(
            agent, "run_job", paid_job(cluster, "echo hi", {**ACS, "vcpu": 2}, for_one_pod["quote_id"])
        )
    for ok, text in ((ok_kind, kind), (ok_size, size), (ok_job, job)):
        assert not ok and "Quote refused (plan_mismatch): this plan differs from quote" in text, text
    assert quote_outcome(state, for_a_cluster["quote_id"]) is None
    assert quote_outcome(state, for_one_pod["quote_id"]) is None
    assert apps(look, cluster).list_namespaced_deployment("default").items == []
    assert live_rows(state) == []
