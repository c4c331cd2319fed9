"""The purchase attacks of issue 13, replayed against real server processes (stdio and `serve --http`) on the
sandbox: each is refused with nothing billed, and the refusal says what an agent should do instead.

1 consent skipped: a plan without `region` on a cluster in another region than the server's default.
2 another caller's Deployment taken over by deploying under its name.
4 a quote priced in one region paying for pods in another.
5 the hourly cap split over several plans, and `hours: 0.001` against the per-quote cap.
6 tokens this ledger never issued: another server's, a replay, and forgeries signed with the quote secret.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as kube

from ack_compute.sandbox import Fault, SandboxCloud
from ack_compute.tools.plans import ClusterPlan, normalise, plan_digest
from tests.security.purchase_helpers import (
    api_client,
    call,
    cheap_claim,
    declining,
    env_for,
    forge,
    live_rows,
    over_http,
    paid_job,
    quote_outcome,
    stdio,
    stdio_agent,
    tokens_file,
    virtual_node_cluster,
)
from tests.server import conftest as launcher  # the one `serve --http` launcher

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
ACS_SHANGHAI = {"kind": "acs", "region": "cn-shanghai", "vcpu": 1, "memory_gib": 2, "hours": 1}
ACS = {"kind": "acs", "vcpu": 1, "memory_gib": 2, "hours": 1}
SMALL_CLUSTER = {"kind": "cluster", "instance_types": ["ecs.g7.large"], "node_count": 1, "zone": "cn-hangzhou-h"}


def jobs_in(look: Any, cluster_id: str) -> list[str]:
    api = kube.BatchV1Api(api_client(look, cluster_id))
    return [j.metadata.name for j in api.list_namespaced_job("default").items]


def deployments_in(look: Any, cluster_id: str) -> dict[str, Any]:
    api = kube.AppsV1Api(api_client(look, cluster_id))
    return {d.metadata.name: d for d in api.list_namespaced_deployment("default").items}


# -- 1: the person is asked whatever region the plan leaves out, and their no stops it -----------------------------


async def test_consent_cannot_be_skipped_by_leaving_the_region_out(
    world: SandboxCloud, look: Any, tmp_path: Path
) -> None:
    cluster = world.plant_cluster("acf-sec-shanghai", nodes=0, profile="Serverless", region_id="cn-shanghai")
    state = tmp_path / "state"
    seen: list[str] = []
    human = env_for(world, state, confirmation="human")
    async with stdio_agent(human, tmp_path / "stderr.log", elicit=declining(seen)) as agent:
        _, job_quote = await call(agent, "estimate_cost", {"plan": ACS_SHANGHAI})
        _, deploy_quote = await call(agent, "estimate_cost", {"plan": ACS_SHANGHAI})
        # The plan as the attack sent it: no region (the server's default is cn-hangzhou, the cluster's is not).
        ok, job = await call(agent, "run_job", paid_job(cluster, "echo billed", ACS, job_quote["quote_id"]))
        ok2, deployed = await call(
            agent,
            "deploy_acs",
            {
                "cluster": cluster,
                "name": "web",
                "image": "nginx:1.27",
                "plan": ACS,
                "quote_id": deploy_quote["quote_id"],
            },
        )
    assert ok and job["status"] == "declined", job
    assert job["message"] == "The person declined the quoted cost; the quote is now void and nothing ran."
    assert ok2 and deployed["status"] == "declined", deployed
    assert len(seen) == 2, "the person was asked once per purchase"
    assert job_quote["quote_id"] in seen[0] and "(cn-shanghai)" in seen[0] and "0.12" in seen[0]
    assert deploy_quote["quote_id"] in seen[1] and "then is deleted unless extended" in seen[1]
    assert jobs_in(look, cluster) == [] and deployments_in(look, cluster) == {}
    assert quote_outcome(state, job_quote["quote_id"]) == "declined"
    assert quote_outcome(state, deploy_quote["quote_id"]) == "declined"
    assert live_rows(state) == []


async def test_a_check_that_fails_before_the_question_is_no_yes(world: SandboxCloud, look: Any, tmp_path: Path) -> None:
    """The cloud refuses the pre-check's cluster lookup once (the body's own lookup then succeeds): under policy token
    and with a client that can ask, nobody was asked, so nothing runs."""
    cluster = world.plant_cluster("acf-sec-flaky", nodes=0, profile="Serverless")
    state = tmp_path / "state"
    seen: list[str] = []
    async with stdio_agent(env_for(world, state), tmp_path / "stderr.log", elicit=declining(seen)) as agent:
        _, quote = await call(agent, "estimate_cost", {"plan": ACS})
        world.inject("DescribeClusterDetail", Fault.denied(), times=1)
        ok, refusal = await call(agent, "run_job", paid_job(cluster, "echo", ACS, quote["quote_id"]))
    assert not ok and refusal.startswith(
        f"The person was not asked to accept quote {quote['quote_id']}: the check "
        "before the question failed (DescribeClusterDetail failed: Forbidden.RAM (HTTP 403)"
    ), refusal
    assert refusal.endswith("Call the tool again once that is fixed; the quote is still unused. Nothing was created.")
    assert seen == [] and jobs_in(look, cluster) == []
    assert quote_outcome(state, quote["quote_id"]) is None and live_rows(state) == []


# -- 2: nobody changes another caller's Deployment ------------------------------------------------------------------


async def test_another_callers_deployment_is_not_taken_over(world: SandboxCloud, look: Any, tmp_path: Path) -> None:
    cluster = virtual_node_cluster(world, "acf-sec-shared")
    alice, bob, ops = (secrets.token_urlsafe(32) for _ in range(3))
    file = tokens_file(tmp_path / "tokens.json", {"alice": (alice, False), "bob": (bob, False), "ops": (ops, True)})
    state = tmp_path / "state"
    env = env_for(world, state)
    with launcher.serving_http(["--tokens-file", str(file)], env, tmp_path / "http.log") as server:
        async with (
            over_http(server.base, alice) as a,
            over_http(server.base, bob) as b,
            over_http(server.base, ops) as admin,
        ):
            _, quote = await call(a, "estimate_cost", {"plan": ACS})
            alices = {
                "cluster": cluster,
                "name": "api",
                "image": "nginx:1.27",
                "command": ["sh", "-c", "sleep 3600 # alice-secret-flag"],
                "plan": ACS,
                "quote_id": quote["quote_id"],
            }
            ok, made = await call(a, "deploy_acs", alices)
            assert ok and made["status"] in ("deployed", "rolling_out"), made
            _, bobs_quote = await call(b, "estimate_cost", {"plan": ACS})
            takeover = {
                **alices,
                "image": "busybox:1.36",
                "command": ["sh", "-c", "mine now"],
                "quote_id": bobs_quote["quote_id"],
            }
            ok, refusal = await call(b, "deploy_acs", takeover)
            ok_shrink, shrink = await call(b, "deploy_acs", {**alices, "quote_id": ""})
            # An admin may change it (same plan: no new quote); the refusals above changed nothing first.
            untouched = deployments_in(look, cluster)["api"].spec.template.spec.containers[0]
            ok_admin, by_admin = await call(admin, "deploy_acs", {**alices, "image": "busybox:1.36", "quote_id": ""})
    expected = (
        "Deployment default/api on this cluster belongs to another caller; only its owner or an admin can change it. "
        "Choose another name. Nothing was changed."
    )
    assert not ok and refusal == expected
    assert not ok_shrink and shrink == expected
    for text in (refusal, shrink):
        assert "nginx" not in text and "alice-secret-flag" not in text and "alice" not in text
    assert untouched.image == "nginx:1.27" and "alice-secret-flag" in " ".join(untouched.command)
    assert ok_admin and by_admin["status"] in ("updated", "rolling_out"), by_admin
    assert deployments_in(look, cluster)["api"].spec.template.spec.containers[0].image == "busybox:1.36"
    assert quote_outcome(state, bobs_quote["quote_id"]) is None, "bob's quote was not spent"
    assert {(r["kind"], r["owner"]) for r in live_rows(state)} == {("deployment", "alice")}


# -- 4: a quote pays only in the region it was priced in ------------------------------------------------------------


async def test_a_quote_priced_in_one_region_does_not_pay_in_another(
    world: SandboxCloud, look: Any, tmp_path: Path
) -> None:
    cluster = world.plant_cluster(
        "acf-sec-singapore",
        nodes=1,
        cluster_spec="ack.pro.small",
        addons={"ack-virtual-node": None},
        region_id="ap-southeast-1",
    )
    state = tmp_path / "state"
    plan = {**ACS, "region": "cn-hangzhou"}
    async with stdio_agent(env_for(world, state), tmp_path / "stderr.log") as agent:
        _, quote = await call(agent, "estimate_cost", {"plan": plan})
        args = {"cluster": cluster, "name": "web", "image": "nginx:1.27", "plan": plan}
        ok, refusal = await call(agent, "deploy_acs", {**args, "quote_id": quote["quote_id"]})
        ok_job, job_refusal = await call(agent, "run_job", paid_job(cluster, "echo", plan, quote["quote_id"]))
    expected = (
        "Invalid plan field `region`: the plan names cn-hangzhou but cluster acf-sec-singapore is in ap-southeast-1; "
        "a quote priced in cn-hangzhou cannot pay for pods in ap-southeast-1. Set region to ap-southeast-1 (or leave "
        "it out: it comes from the cluster), estimate again and show the new quote to the person. Nothing was created."
    )
    assert not ok and refusal == expected
    assert not ok_job and job_refusal == expected
    assert deployments_in(look, cluster) == {} and jobs_in(look, cluster) == []
    assert quote_outcome(state, quote["quote_id"]) is None and live_rows(state) == []


# -- 5: the caps bound what runs, not each plan alone ---------------------------------------------------------------


async def test_the_hourly_cap_counts_everything_live(world: SandboxCloud, tmp_path: Path) -> None:
    state = tmp_path / "state"
    before = {c.name for c in world.clusters()}
    async with stdio_agent(env_for(world, state, max_hourly="2", max_per_quote="20"), tmp_path / "stderr.log") as agent:
        # Two nodes for 14 h: the quoted total (its lease ends it then) is over the per-quote cap, so no quote.
        _, long = await call(agent, "estimate_cost", {"plan": {**SMALL_CLUSTER, "node_count": 2, "hours": 14}})
        quotes = [(await call(agent, "estimate_cost", {"plan": SMALL_CLUSTER}))[1] for _ in range(3)]
        assert all(q["quote_id"] for q in quotes) and str(quotes[0]["hourly_total"]) == "0.7267"
        results = [
            await call(
                agent,
                "ensure_cluster",
                {
                    "name": f"acf-sec-cap-{i}",
                    "plan": SMALL_CLUSTER,
                    "quote_id": q["quote_id"],
                    "wait_seconds": 0,
                },
            )
            for i, q in enumerate(quotes)
        ]
        _, fourth = await call(agent, "estimate_cost", {"plan": SMALL_CLUSTER})
    assert [ok for ok, _ in results] == [True, True, False]
    running = "cluster acf-sec-cap-0 0.7267 CNY/h, cluster acf-sec-cap-1 0.7267 CNY/h"
    assert results[2][1] == (
        "Quote refused (over_budget): hourly cost 0.7267 CNY plus what runs makes 2.1801 CNY/h, over the operator's "
        f"cap of 2 CNY/h; already running on this server: 1.4534 CNY/h ({running}). Choose a smaller plan (fewer or "
        "smaller nodes or pods), stop something with cleanup, or ask the operator to raise the cap; then estimate "
        "again."
    )
    assert fourth.get("quote_id") is None and fourth["budget"]["within_caps"] is False
    assert f"already running on this server: 1.4534 CNY/h ({running})" in fourth["budget"]["message"]
    assert long.get("quote_id") is None and long["budget"]["message"] == (
        "total 20.3476 CNY exceeds the operator's cap of 20 CNY per quote"
    )
    made = {c.name for c in world.clusters()} - before
    assert made <= {"acf-sec-cap-0", "acf-sec-cap-1"} and quote_outcome(state, quotes[2]["quote_id"]) is None


# -- 6: only this ledger's quotes pay, and only by their ledger row -------------------------------------------------


async def test_only_quotes_this_ledger_issued_pay(world: SandboxCloud, tmp_path: Path) -> None:
    secret = secrets.token_urlsafe(32)
    serverless = {"kind": "serverless", "zone": "cn-hangzhou-h"}
    state_a, state_b = tmp_path / "a", tmp_path / "b"
    env_a = env_for(world, state_a, quote_secret=secret, max_hourly="1")
    env_b = env_for(world, state_b, quote_secret=secret, max_hourly="1")
    big = normalise(ClusterPlan.model_validate({**SMALL_CLUSTER, "node_count": 50}), "cn-hangzhou")
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with stdio(env_a, errlog) as a, stdio(env_b, errlog) as b:
            _, quote = await call(a, "estimate_cost", {"plan": serverless})
            token = quote["quote_id"]
            ok_b, on_b = await call(b, "ensure_cluster", {"name": "acf-sec-b", "plan": serverless, "quote_id": token})
            ok_a, on_a = await call(
                a, "ensure_cluster", {"name": "acf-sec-a", "plan": serverless, "quote_id": token, "wait_seconds": 0}
            )
            ok_replay, replay = await call(
                b, "ensure_cluster", {"name": "acf-sec-b2", "plan": serverless, "quote_id": token}
            )
            ok_again, again = await call(
                a, "ensure_cluster", {"name": "acf-sec-a2", "plan": serverless, "quote_id": token}
            )
            # Forgeries signed with the secret: a fresh id with a cheap price, and a real (cheap) quote's id
            # claiming a 50-node plan. The ledger row decides, not the payload.
            # The old signed token is still accepted (quote_token), so forgeries of it must still pay for nothing.
            payload = cheap_claim("cluster", plan_digest(big))
            fresh = forge(secret, **payload, quote_id="q-forged0000000000000")
            _, cheap = await call(a, "estimate_cost", {"plan": serverless})
            stolen_id = forge(secret, **payload, quote_id=cheap["quote_id"])
            big_plan = big.model_dump(mode="json")
            ok_fresh, fresh_refusal = await call(
                a, "ensure_cluster", {"name": "acf-sec-big", "plan": big_plan, "quote_token": fresh}
            )
            ok_stolen, stolen_refusal = await call(
                a, "ensure_cluster", {"name": "acf-sec-big", "plan": big_plan, "quote_token": stolen_id}
            )
    never = "this server never issued it. Call estimate_cost on this server and show that quote to the person."
    assert not ok_b and on_b == (
        f"Quote refused (unknown): quote {quote['quote_id']} is not in this server's ledger: {never}"
    )
    assert ok_a and on_a["status"] == "creating", on_a
    assert not ok_replay and "Quote refused (unknown)" in replay
    assert not ok_again and f"Quote refused (already_used): quote {quote['quote_id']} was already redeemed" in again
    assert not ok_fresh and fresh_refusal == (
        f"Quote refused (unknown): quote q-forged0000000000000 is not in this server's ledger: {never}"
    )
    assert not ok_stolen and stolen_refusal.startswith(
        f"Quote refused (plan_mismatch): this plan differs from quote {cheap['quote_id']}: "
    )
    names = {c.name for c in world.clusters()}
    assert not names & {"acf-sec-a2", "acf-sec-b", "acf-sec-b2", "acf-sec-big"}
    assert quote_outcome(state_a, quote["quote_id"]) == "redeemed"
    assert quote_outcome(state_b, quote["quote_id"]) is None and live_rows(state_b) == []
    assert quote_outcome(state_a, cheap["quote_id"]) is None
