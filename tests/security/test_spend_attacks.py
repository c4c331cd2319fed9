"""Red team of issue 16's spend surface (leases, extend_lease, budgets, the meter, receipts, audit), through real
`serve --http` processes with a tokens file: alice (a daily budget), bob and an admin, on the sandbox cloud. Each
attack must be refused in plain words with nothing changed: the sandbox, the ledger's rows, lease ends, receipts.

1 extension quotes taken while nothing ran, redeemed after the purchase, to take a lease past the budget: two of
  them and a replay at once, then one more.
2 one plan split into many small quotes, redeemed at once over several connections.
3 a quote minted under a higher budget, redeemed after the operator lowered it and restarted.
4 bob against alice's lease and spend: extend_lease, get_operation, list_resources, ledger://spend, error texts;
  and `audit`, the receipts and the ledger file grepped for every secret.
5 budgets that would not hold: past what a result can show (1e400), a policy subject with spaces around it.
6 an extension under confirmation=human from a client that cannot ask, a declined one, the declined quote replayed.
7 on the international site (caps in USD by default, over stdio): a plan over the cap, a CNY-priced plan, a forged
  quote and a small plan's quote stretched to a bigger plan.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import httpx2
import pytest
from kubernetes import client as kube
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.tools import receipts
from ack_compute.tools.ledger import Ledger
from tests.helpers.agent import answering
from tests.security.access_helpers import write_tokens
from tests.security.purchase_helpers import (
    api_client,
    call,
    env_for,
    live_rows,
    over_http,
    quote_outcome,
    stdio_agent,
    virtual_node_cluster,
)
from tests.server import conftest as launcher  # the one `serve --http` launcher

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
ACS: dict[str, Any] = {"kind": "acs", "replicas": 1, "vcpu": 1, "memory_gib": 2, "hours": 2}  # 0.12/h: 0.24
OVER_BUDGET = "Quote refused (over_budget): This plan's total 0.2400 CNY would bring your spend"


class Team:
    """alice (a non-admin with `alice_budget`), bob (a non-admin without one) and ops (an admin): tokens and file."""

    def __init__(self, tmp: Path, **alice_budget: Any) -> None:
        self.alice, self.bob, self.ops = (secrets.token_urlsafe(32) for _ in range(3))
        self.file = tmp / "tokens.json"
        self.write(**alice_budget)

    def write(self, **alice_budget: Any) -> None:
        def entry(subject: str, token: str, **extra: Any) -> dict[str, Any]:
            return {"subject": subject, "sha256": hashlib.sha256(token.encode()).hexdigest(), **extra}

        rows = [entry("alice", self.alice, **alice_budget), entry("bob", self.bob), entry("ops", self.ops, admin=True)]
        write_tokens(self.file, rows)

    def serving(self, env: Mapping[str, str], log: Path) -> AbstractContextManager[launcher.HttpServer]:
        """`serve --http` that admits this team by its tokens file: what every attack here runs against."""
        return launcher.serving_http(["--tokens-file", str(self.file)], env, log)


class Scene(NamedTuple):
    """What an attack runs against: a cluster with virtual nodes, the team, the server's state dir and the server."""

    cluster: str
    team: Team
    state: Path
    server: launcher.HttpServer


@asynccontextmanager
async def scene(
    world: SandboxCloud,
    tmp_path: Path,
    cluster_name: str,
    settings: Mapping[str, str] | None = None,
    **alice_budget: Any,
) -> AsyncIterator[Scene]:
    """The team's `serve --http` (`settings` on top of the sandbox's) on `tmp_path / "state"`, its log in http.log."""
    cluster = virtual_node_cluster(world, cluster_name)
    team = Team(tmp_path, **alice_budget)
    state = tmp_path / "state"
    with team.serving(env_for(world, state, **(settings or {})), tmp_path / "http.log") as server:
        yield Scene(cluster, team, state, server)


def deployments(look: Runtime, cluster_id: str) -> list[str]:
    api = kube.AppsV1Api(api_client(look, cluster_id))
    return sorted(d.metadata.name for d in api.list_namespaced_deployment("default").items)


def ledger(state: Path) -> Ledger:
    return Ledger(state / "ledger.sqlite3")


def leases(state: Path) -> list[tuple[str, float, str]]:
    rows = ledger(state).query("SELECT operation_id, ends_at, state FROM leases ORDER BY resource_id")
    return [(r["operation_id"], float(r["ends_at"]), r["state"]) for r in rows]


def events(state: Path) -> list[tuple[str, str | None]]:
    """The receipts of acts (purchases, extensions, lease ends); consents are read apart (`consents`)."""
    return [(r.event, r.quote_id) for r in receipts.since(ledger(state)) if r.event != "consent"]


def consents(state: Path) -> list[tuple[str, str | None, str]]:
    return [(r.caller, r.quote_id, r.body["answer"]) for r in receipts.since(ledger(state)) if r.event == "consent"]


async def quotes_of(client: Any, plan: dict[str, Any], n: int) -> list[str]:
    out = []
    for _ in range(n):
        ok, est = await call(client, "estimate_cost", {"plan": plan})
        assert ok and est.get("quote_id"), est
        out.append(est["quote_id"])
    return out


# -- 1: extensions quoted before the purchase, raced and replayed -----------------------------------------------------


async def test_extensions_quoted_before_the_purchase_cannot_take_a_lease_past_the_budget(
    world: SandboxCloud, look: Runtime, tmp_path: Path
) -> None:
    async with (
        scene(world, tmp_path, "acf-spend-ext", daily_budget="0.5") as (cluster, team, state, server),
        over_http(server.base, team.alice) as a,
    ):
        # While nothing runs each 0.24 quote fits her 0.5: the purchase and three extensions of 2 h each.
        buy, ext1, ext2, ext3 = await quotes_of(a, ACS, 4)
        ok, made = await call(
            a, "deploy_acs", {"cluster": cluster, "name": "web", "image": "nginx:1.27", "quote_id": buy}
        )
        assert ok and made["lease_ends_at"], made
        op = made["operation_id"]
        after_buy = leases(state)
        # At once over three connections: ext1, ext1 again and ext2. 0.24 + 0.24 fits, 0.24 + 0.48 does not:
        # exactly one extends, whichever wins.
        results: dict[int, tuple[bool, Any]] = {}

        async def extend(n: int, quote_id: str) -> None:
            async with over_http(server.base, team.alice) as client:
                results[n] = await call(client, "extend_lease", {"operation_id": op, "quote_id": quote_id})

        async with anyio.create_task_group() as tg:
            for n, quote_id in enumerate((ext1, ext1, ext2)):
                tg.start_soon(extend, n, quote_id)
        after_race = leases(state)
        # Then ext3, alone: 0.24 + 0.24 + 0.24 = 0.72 is over 0.5, however early it was quoted.
        over = await call(a, "extend_lease", {"operation_id": op, "quote_id": ext3})
    won = [n for n, (ok, _) in results.items() if ok]
    assert len(won) == 1, results
    winner = ext1 if won[0] < 2 else ext2
    assert results[won[0]][1]["status"] == "extended" and results[won[0]][1]["hours_added"] == 2, results
    for ok, text in results.values():
        if not ok:  # the replay of ext1 (already used) or a quote that no longer fits
            assert "Quote refused (already_used)" in text or OVER_BUDGET in text, text
    assert after_race[0][1] == after_buy[0][1] + 2 * 3600, "moved once, by 2 h"
    assert over[0] is False and OVER_BUDGET in over[1], over
    assert "over your daily budget of 0.5 CNY" in over[1] and "committed by running leases 0.4" in over[1], over[1]
    assert "Choose fewer hours or smaller compute, or ask the operator to raise the budget." in over[1]
    assert leases(state) == after_race, "the lease end did not move"
    assert [quote_outcome(state, q) for q in (ext1, ext2, ext3) if q != winner] == [None, None], "refused: unused"
    assert events(state) == [("purchase", buy), ("extension", winner)]
    assert deployments(look, cluster) == ["web"]


# -- 2: one plan split into small quotes, redeemed at once ------------------------------------------------------------


async def test_small_quotes_redeemed_at_once_cannot_split_past_the_budget(
    world: SandboxCloud, look: Runtime, tmp_path: Path
) -> None:
    async with scene(world, tmp_path, "acf-spend-split", daily_budget="0.5") as (cluster, team, state, srv):
        async with over_http(srv.base, team.alice) as a:
            quotes = await quotes_of(a, ACS, 4)  # each 0.24 fits alone; two fit together
        results: dict[str, tuple[bool, Any]] = {}

        async def deploy(n: int, quote_id: str) -> None:
            async with over_http(srv.base, team.alice) as client:
                args = {"cluster": cluster, "name": f"part{n}", "image": "nginx:1.27", "quote_id": quote_id}
                results[quote_id] = await call(client, "deploy_acs", args)

        async with anyio.create_task_group() as tg:
            for n, quote_id in enumerate(quotes):
                tg.start_soon(deploy, n, quote_id)
    won = [q for q, (ok, _) in results.items() if ok]
    lost = [q for q, (ok, _) in results.items() if not ok]
    assert len(won) == 2 and len(lost) == 2, results
    for quote_id in lost:
        text = results[quote_id][1]
        assert OVER_BUDGET in text and "over your daily budget of 0.5 CNY" in text, text
        assert quote_outcome(state, quote_id) is None, "a refused quote stays unused"
    assert sorted(q for e, q in events(state) if e == "purchase") == sorted(won), "no receipt for a refused purchase"
    assert len(leases(state)) == 2 and len(live_rows(state)) == 2
    assert len(deployments(look, cluster)) == 2


# -- 3: a quote minted under a higher budget -------------------------------------------------------------------------


async def test_a_quote_minted_under_a_higher_budget_is_refused_after_the_operator_lowers_it(
    world: SandboxCloud, look: Runtime, tmp_path: Path
) -> None:
    cluster = virtual_node_cluster(world, "acf-spend-lowered")
    team = Team(tmp_path, daily_budget="5")
    state = tmp_path / "state"
    env = env_for(world, state)
    with team.serving(env, tmp_path / "http1.log") as server:
        async with over_http(server.base, team.alice) as a:
            (quote,) = await quotes_of(a, ACS, 1)
    team.write(daily_budget="0.1")
    with team.serving(env, tmp_path / "http2.log") as server:
        async with over_http(server.base, team.alice) as a:
            args = {"cluster": cluster, "name": "late", "image": "nginx:1.27", "quote_id": quote}
            refused = await call(a, "deploy_acs", args)
    assert refused[0] is False, refused
    assert (
        OVER_BUDGET + " today to 0.24 CNY, over your daily budget of 0.1 CNY (spent today 0.00, committed by running "
        "leases 0.00)." in refused[1]
    ), refused[1]
    assert quote_outcome(state, quote) is None and events(state) == [] and leases(state) == []
    assert live_rows(state) == [] and deployments(look, cluster) == []


# -- 4: bob against alice's lease and spend; secrets in audit, receipts, the ledger ----------------------------------


async def test_bob_learns_nothing_of_alices_lease_and_no_secret_reaches_the_audit(
    world: SandboxCloud, tmp_path: Path
) -> None:
    async with (
        scene(world, tmp_path, "acf-spend-leak", daily_budget="3.17") as (cluster, team, state, srv),
        over_http(srv.base, team.alice) as a,
        over_http(srv.base, team.bob) as b,
    ):
        buy, alices_ext = await quotes_of(a, ACS, 2)
        ok, made = await call(
            a, "deploy_acs", {"cluster": cluster, "name": "secretweb", "image": "nginx:1.27", "quote_id": buy}
        )
        assert ok, made
        op = made["operation_id"]
        before = (leases(state), events(state), consents(state))
        (bobs_ext,) = await quotes_of(b, ACS, 1)
        seen = [
            await call(b, "extend_lease", {"operation_id": op, "quote_id": alices_ext}),
            await call(b, "extend_lease", {"operation_id": op, "quote_id": bobs_ext}),
            await call(b, "extend_lease", {"operation_id": op}),
            await call(b, "get_operation", {"operation_id": op, "wait_seconds": 0}),
            await call(a, "extend_lease", {"operation_id": op, "quote_id": bobs_ext}),
        ]
        listed = await call(b, "list_resources", {})
        spend = (await b.read_resource("ledger://spend")).contents[0].text  # type: ignore[union-attr]
    texts = [str(r) for _, r in seen[:4]] + [json.dumps(listed[1]), spend]
    for text in texts:
        for theirs in ("alice", "secretweb", buy, alices_ext, "3.17", cluster):
            assert theirs not in text, (theirs, text)
    assert [ok for ok, _ in seen] == [False] * 5, seen
    assert "No operation" in seen[0][1] and seen[0][1] == seen[1][1] == seen[2][1], seen
    assert f"Quote refused (not_yours): quote {bobs_ext} was issued to another caller" in seen[4][1], seen[4]
    assert (leases(state), events(state)) == before[:2], "no lease moved, no receipt of an act written"
    # Each refused attempt is on record as a consent nobody was asked for, as bob's and naming none of alice's quotes.
    tried = consents(state)[len(before[2]) :]
    assert {who for who, _, _ in tried} <= {"bob", "alice"} and {a for _, _, a in tried} == {"not_asked"}, tried
    assert not [q for who, q, _ in tried if who == "bob" and q in (buy, alices_ext)], tried
    assert quote_outcome(state, alices_ext) is None and quote_outcome(state, bobs_ext) is None
    # The audit export, the receipts and the ledger file hold no secret: tokens, the quote secret, cloud keys,
    # kubeconfig material.
    audit = subprocess.run(
        [sys.executable, "-m", "ack_compute.server", "audit", "--state-dir", str(state)],
        env={**os.environ, **env_for(world, state)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    lines = [json.loads(line) for line in audit.splitlines()]
    assert [(r["event"], r["quote_id"]) for r in lines if r["event"] != "consent"] == [("purchase", buy)], lines
    assert len(lines) == len(receipts.since(ledger(state))), "every receipt is exported"
    quote_secret = (state / "quote-secret").read_bytes()
    secrets_ = [team.alice, team.bob, team.ops, world.access_key_secret, quote_secret.hex()]
    secrets_ += [base64.b64encode(quote_secret).decode(), base64.urlsafe_b64encode(quote_secret).decode().rstrip("=")]
    ledger_bytes = (state / "ledger.sqlite3").read_bytes()
    server_log = (tmp_path / "http.log").read_text()
    for secret in secrets_:
        assert secret not in audit and secret.encode() not in ledger_bytes, secret[:6]
        assert secret not in server_log, secret[:6]
    assert quote_secret not in ledger_bytes
    for marker in ("client-key-data", "client-certificate-data", "PRIVATE KEY", "token:"):
        assert marker not in audit, marker


# -- 5: budgets that would not hold, in the tokens file and the caller policy file -----------------------------------


def serve_refusal(world: SandboxCloud, state: Path, tokens: Path, **settings: str) -> str:
    """`serve --http` that must stop before it listens: its last stderr line."""
    done = subprocess.run(
        [*launcher.SERVE, "--http", "--port", str(launcher.free_port()), "--tokens-file", str(tokens)],
        env=env_for(world, state, **settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert not (state / "ledger.sqlite3").exists()
    return done.stderr.strip().splitlines()[-1]


def test_budgets_that_would_not_hold_stop_the_server_before_it_listens(world: SandboxCloud, tmp_path: Path) -> None:
    """`daily_budget: 1e400` used to be accepted; then every estimate_cost and list_resources of that caller failed
    with an internal error. A policy-file subject with spaces around it matched no caller, so its budget held
    for nobody. (Zero, negative, NaN and infinite budgets were refused already.)"""
    team = Team(tmp_path, daily_budget="1e400")
    huge = serve_refusal(world, tmp_path / "state", team.file)
    assert huge.startswith(f"ack-compute-mcp: not serving over HTTP: tokens file {team.file} is invalid"), huge
    assert "daily_budget: Input should be less than or equal to 1E+12" in huge and team.alice not in huge, huge
    team.write()
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"callers": {"bob ": {"daily_budget": 1}}}))
    spaced = serve_refusal(world, tmp_path / "state", team.file, caller_policy_file=str(policy))
    assert spaced == (
        f"ack-compute-mcp: not serving over HTTP: caller policy file {policy} is invalid (callers: Value error, "
        "subject 'bob ' is empty or has spaces around it and would match no caller; write each subject exactly as "
        'the identity provider sends it). Expected {"callers": {"<subject>": {"daily_budget": 5, "monthly_budget": '
        "100}}}."
    ), spaced


# -- 6: an extension nobody could be asked about, a declined one, and the declined quote replayed ---------------------


def asking(base: str, token: str, action: str, seen: list[str]) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    return Client(streamable_http_client(f"{base}/mcp", http_client=http), elicitation_callback=answering(action, seen))


async def test_an_extension_needs_the_persons_yes_and_a_no_is_on_record(world: SandboxCloud, tmp_path: Path) -> None:
    asked: list[str] = []
    async with (
        scene(world, tmp_path, "acf-spend-human", {"confirmation": "human"}) as (cluster, team, state, server),
        asking(server.base, team.alice, "accept", asked) as yes,
        asking(server.base, team.alice, "decline", asked) as no,
        over_http(server.base, team.alice) as mute,
    ):
        buy, ext = await quotes_of(yes, ACS, 2)
        args = {"cluster": cluster, "name": "asked", "image": "nginx:1.27", "quote_id": buy}
        ok, made = await call(yes, "deploy_acs", args)
        assert ok, made
        before = (leases(state), events(state))
        extend = {"operation_id": made["operation_id"], "quote_id": ext}
        unasked = await call(mute, "extend_lease", extend)
        after_unasked = (leases(state), events(state), quote_outcome(state, ext))
        declined = await call(no, "extend_lease", extend)
        replayed = await call(yes, "extend_lease", extend)
    assert unasked[0] is False, unasked
    assert (
        "This server requires a person to accept the cost, and the client cannot ask (no elicitation support)."
        in unasked[1]
    ), unasked[1]
    assert after_unasked == (*before, None), "nothing moved and the quote is still unused"
    assert declined == (
        True,
        {
            "status": "declined",
            "operation_id": made["operation_id"],
            "lease_ends_at": made["lease_ends_at"],
            "message": "The person declined; the quote is void and the lease unchanged.",
        },
    ), declined
    assert replayed[0] is False and f"Quote refused (already_used): quote {ext} was already declined" in replayed[1]
    assert len(asked) == 2 and asked[1].startswith("Extend deployment 'asked' (cn-hangzhou) by 2 h for "), asked
    assert (leases(state), events(state)) == before and quote_outcome(state, ext) == "declined"
    answers = [(q, answer) for who, q, answer in consents(state) if who == "alice" and q == ext]
    assert answers[:2] == [(ext, "not_asked"), (ext, "declined")], answers


# -- 7: on the international site, caps are in USD: a plan over them, a CNY-priced one and a quote stretched to a
#       bigger plan are all refused; a plan under them is quoted in USD ----------------------------------------------


async def test_caps_hold_in_the_international_sites_currency(
    world: SandboxCloud, look: Runtime, tmp_path: Path
) -> None:
    cluster = virtual_node_cluster(world, "acf-red-intl")
    state = tmp_path / "state"
    small = {"kind": "acs", "replicas": 1, "vcpu": 1, "memory_gib": 2, "hours": 1}  # 0.0186 USD/h
    big = {**small, "replicas": 2}  # 0.0372 USD/h, over the 0.02 cap
    nodes = {"kind": "cluster", "instance_types": ["ecs.g7.large"], "node_count": 1, "zone": "cn-hangzhou-h"}
    env = env_for(world, state, site="international", max_hourly="0.02")  # no BUDGET_CURRENCY: the site's, USD
    async with stdio_agent(env, tmp_path / "stderr.log") as agent:
        _, over = await call(agent, "estimate_cost", {"plan": big})
        _, cny = await call(agent, "estimate_cost", {"plan": nodes})  # the sandbox's ECS list is in CNY
        _, under = await call(agent, "estimate_cost", {"plan": small})
        deploy = {"cluster": cluster, "name": "web", "image": "nginx:1.27", "plan": big}
        forged = await call(agent, "deploy_acs", {**deploy, "quote_id": "q-" + "0" * 20})
        stretched = await call(agent, "deploy_acs", {**deploy, "quote_id": under["quote_id"]})
    assert over["currency"] == "USD" and "quote_id" not in over and over["budget"]["within_caps"] is False, over
    assert "quote_id" not in cny and "in USD but this quote is in CNY" in cny["budget"]["message"], cny
    assert under["currency"] == "USD" and under["quote_id"].startswith("q-"), under
    for ok, refusal in (forged, stretched):
        assert not ok and "Quote refused" in refusal, refusal
    assert "plan_mismatch" in stretched[1], stretched
    assert deployments(look, cluster) == [] and live_rows(state) == []
    assert quote_outcome(state, under["quote_id"]) is None, "the stretched quote is still unspent"
