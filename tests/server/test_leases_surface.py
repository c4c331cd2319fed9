"""Leases as the agent and the person meet them, through real MCP clients: the question says when the lease ends,
results and get_operation show `lease_ends_at`, and extend_lease moves it for a quote of the lease's plan with the
added hours, the person's yes and an `extension` receipt; refusals for another plan, another caller (through a real
`serve --http` with two tokens), an ended lease; a decline voids the quote and extends nothing."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from mcp import Client

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.app import build_server
from ack_compute.server.consent import lease_words, utc_time
from ack_compute.server.runtime import Runtime
from ack_compute.tools import receipts
from ack_compute.tools.leases import Leases
from tests.helpers.agent import answering, cluster_plan
from tests.security.purchase_helpers import call, env_for, over_http, quote_outcome, tokens_file
from tests.server import conftest as launcher  # the one `serve --http` launcher

pytestmark = pytest.mark.anyio
CLUSTER: dict[str, Any] = cluster_plan(hours=2)
ACS: dict[str, Any] = {"kind": "acs", "replicas": 1, "vcpu": 1, "memory_gib": 2, "hours": 2}


def at(iso: str) -> datetime:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


async def ok(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    return result.structured_content or {}


async def refused(client: Client, tool: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(tool, args)
    assert result.is_error, result.structured_content
    return str(result.content[0].text)  # type: ignore[union-attr]


async def test_a_cluster_lease_is_shown_asked_about_and_extended_before_its_end(
    world: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    runtime = runtime_on(world)
    asked: list[str] = []
    async with Client(build_server(runtime), elicitation_callback=answering("accept", asked)) as client:
        est = await ok(client, "estimate_cost", {"plan": CLUSTER})
        created = await ok(
            client, "ensure_cluster", {"name": "acf-lease", "quote_id": est["quote_id"], "wait_seconds": 40}
        )
        assert created["status"] == "created", created
        operation = created["operation_id"]
        polled = await ok(client, "get_operation", {"operation_id": operation, "wait_seconds": 0})
        ask = await ok(client, "extend_lease", {"operation_id": operation})
        more = await ok(client, "estimate_cost", {"plan": {**ask["plan_to_quote"], "hours": 3}})
        extended = await ok(client, "extend_lease", {"operation_id": operation, "quote_id": more["quote_id"]})
        after = await ok(client, "get_operation", {"operation_id": operation, "wait_seconds": 0})
        reused = await ok(client, "ensure_cluster", {"name": "acf-lease"})
        job = await ok(client, "run_job", {"cluster": "acf-lease", "script": "true", "wait_seconds": 30})
        no_lease = await refused(client, "extend_lease", {"operation_id": job["operation_id"]})
    # A job on the cluster's own nodes bought nothing: it points to the lease that does bound it.
    assert no_lease == (
        f"Operation {job['operation_id']} ran on a cluster's own nodes and bought nothing, so it has no lease. "
        f"extend_lease {operation} extends the lease of its cluster {created['cluster_id']}."
    )
    # The question before the purchase says when the lease ends; the result and get_operation show it.
    question = asked[0]
    ends = at(created["lease_ends_at"])
    said = re.search(
        r"It runs until about (?:\d{4}-\d\d-\d\d )?(\d\d:\d\d) UTC \(2 h\), then is deleted unless extended\.", question
    )
    assert said, question
    # Counted from the quote's issue (stable across the question's rounds), so never later than the real end.
    assert said.group(1) in {ends.strftime("%H:%M"), (ends - timedelta(minutes=1)).strftime("%H:%M")}, question
    assert polled["lease_ends_at"] == created["lease_ends_at"]
    assert "lease_ends_at" not in reused, "reusing by name buys nothing"
    # Without a quote: the end as it stands and the plan to estimate (the lease's, 1 h).
    assert ask["status"] == "quote_required" and ask["lease_ends_at"] == created["lease_ends_at"]
    assert "hours" not in ask["plan_to_quote"] and "adds 1 h" in ask["message"]  # the default hour
    assert ask["plan_to_quote"]["node_count"] == 1
    # The extension: asked with the added hours, the price and the new end; the end moves by 3 h.
    question = asked[1]
    new_end = (ends + timedelta(hours=3)).strftime("%H:%M")
    assert question.startswith("Extend cluster 'acf-lease' (cn-hangzhou) by 3 h for "), question
    assert more["quote_id"] in question, question
    # The date shows only when the new end is on another day than the quote's.
    assert re.search(rf"runs until about (\d{{4}}-\d\d-\d\d )?{new_end} UTC instead of", question), question
    assert extended == {
        "status": "extended",
        "operation_id": operation,
        "lease_ends_at": (ends + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hours_added": 3,
        "cost": more["total"],
        "currency": "CNY",
    }
    assert after["lease_ends_at"] == extended["lease_ends_at"]
    assert [c.state for c in world.clusters() if c.name == "acf-lease"] == ["running"]
    (receipt,) = [r for r in receipts.since(runtime.ledger) if r.event == "extension"]
    assert receipt.quote_id == more["quote_id"] and receipt.body["lease_ends_at"] == extended["lease_ends_at"]


async def test_extension_refusals_and_a_decline_change_nothing(
    world: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    world.plant_cluster("acf-lease-dep", nodes=1, cluster_spec="ack.pro.small", addons={"ack-virtual-node": None})
    runtime = runtime_on(world)
    asked: list[str] = []
    async with Client(build_server(runtime), elicitation_callback=answering("accept", asked)) as client:
        est = await ok(client, "estimate_cost", {"plan": ACS})
        args = {"cluster": "acf-lease-dep", "name": "api", "image": "nginx:1.27", "quote_id": est["quote_id"]}
        deployed = await ok(client, "deploy_acs", args)
        other = await ok(client, "estimate_cost", {"plan": {**ACS, "replicas": 2, "hours": 1}})
        wrong_plan = await refused(
            client, "extend_lease", {"operation_id": deployed["operation_id"], "quote_id": other["quote_id"]}
        )
    assert deployed["status"] in ("deployed", "rolling_out") and deployed["lease_ends_at"], deployed
    assert "(2 h), then is deleted unless extended." in asked[0] and "billing until cleanup" not in asked[0]
    assert wrong_plan == (
        "The quote is for another plan than the lease's (replicas: lease 1, "
        "quote 2). An extension is priced as the lease's own plan: estimate_cost the lease's plan with hours = the "
        'hours to add, {"compute_class":"general-purpose","gpu_count":0,"gpu_model":null,"kind":"acs",'
        '"memory_gib":2.0,"qos":"default","region":"cn-hangzhou","replicas":1,"vcpu":1.0}. Nothing was charged.'
    )
    assert quote_outcome(runtime.settings.state_dir, other["quote_id"]) is None

    declined: list[str] = []
    async with Client(build_server(runtime), elicitation_callback=answering("decline", declined)) as client:
        one_more = await ok(client, "estimate_cost", {"plan": {**ACS, "hours": 1}})
        no = await ok(
            client, "extend_lease", {"operation_id": deployed["operation_id"], "quote_id": one_more["quote_id"]}
        )
        assert Leases(runtime.ledger).set_state(
            Leases(runtime.ledger).of_operation(deployed["operation_id"])[0].resource_id, "ended"
        )
        last = await ok(client, "estimate_cost", {"plan": {**ACS, "hours": 1}})
        ended = await refused(
            client, "extend_lease", {"operation_id": deployed["operation_id"], "quote_id": last["quote_id"]}
        )
    assert len(declined) == 1 and "by 1 h" in declined[0]
    assert no["status"] == "declined" and no["lease_ends_at"] == deployed["lease_ends_at"]
    assert quote_outcome(runtime.settings.state_dir, one_more["quote_id"]) == "declined"
    assert ended == (
        f"The lease of {deployed['operation_id']} has ended; it cannot be "
        "extended. Buy a new one: estimate_cost, then the creating tool. Nothing was charged."
    )
    assert quote_outcome(runtime.settings.state_dir, last["quote_id"]) is None
    assert not [r for r in receipts.since(runtime.ledger) if r.event == "extension"]


@pytest.mark.slow
async def test_another_callers_lease_is_no_such_operation_over_http(world: SandboxCloud, tmp_path: Path) -> None:
    cluster = world.plant_cluster(
        "acf-lease-http", nodes=1, cluster_spec="ack.pro.small", addons={"ack-virtual-node": None}
    )
    alice, bob, ops = (secrets.token_urlsafe(32) for _ in range(3))
    file = tokens_file(tmp_path / "tokens.json", {"alice": (alice, False), "bob": (bob, False), "ops": (ops, True)})
    state = tmp_path / "state"
    with launcher.serving_http(["--tokens-file", str(file)], env_for(world, state), tmp_path / "http.log") as server:
        async with (
            over_http(server.base, alice) as a,
            over_http(server.base, bob) as b,
            over_http(server.base, ops) as admin,
        ):
            _, quote = await call(a, "estimate_cost", {"plan": ACS})
            args = {"cluster": cluster, "name": "api", "image": "nginx:1.27", "quote_id": quote["quote_id"]}
            done, made = await call(a, "deploy_acs", args)
            assert done and made["lease_ends_at"], made
            _, bobs = await call(b, "estimate_cost", {"plan": {**ACS, "hours": 1}})
            theirs = await call(b, "extend_lease", {"operation_id": made["operation_id"], "quote_id": bobs["quote_id"]})
            unknown = await call(
                b, "extend_lease", {"operation_id": "op-0000000000000000", "quote_id": bobs["quote_id"]}
            )
            peek = await call(b, "extend_lease", {"operation_id": made["operation_id"]})
            _, ops_quote = await call(admin, "estimate_cost", {"plan": {**ACS, "hours": 1}})
            by_admin = await call(
                admin, "extend_lease", {"operation_id": made["operation_id"], "quote_id": ops_quote["quote_id"]}
            )
    assert theirs[0] is False and unknown[0] is False and peek[0] is False
    assert theirs[1] == unknown[1].replace("op-0000000000000000", made["operation_id"]) == peek[1]
    assert "No operation" in theirs[1] and "alice" not in theirs[1]
    assert quote_outcome(state, bobs["quote_id"]) is None, "bob's quote was not spent"
    assert by_admin[0] and by_admin[1]["status"] == "extended", by_admin
    assert at(by_admin[1]["lease_ends_at"]) - at(made["lease_ends_at"]) == timedelta(hours=1)


def test_the_lease_words_follow_the_policy_and_name_the_day_when_it_changes() -> None:
    issued = datetime(2026, 12, 3, 18, 15, 30, tzinfo=UTC).timestamp()
    end = issued + 2 * 3600
    assert (
        lease_words(object(), end, 2, issued) == "It runs until about 20:15 UTC (2 h), then is deleted unless extended."
    )
    warn = lease_words(SimpleNamespace(lease_policy="warn"), end, 2, issued)
    assert warn == "It runs until about 20:15 UTC (2 h), then keeps billing until cleanup (the server only warns)."
    assert lease_words(SimpleNamespace(lease_policy="off"), end, 2, issued) == "It bills until cleanup removes it."
    assert utc_time(issued + 8 * 3600, issued) == "2026-12-04 02:15 UTC"
