"""Attacks on ensure_node_pool through a real `serve --http` process (two non-admin callers, policy human) on the
sandbox: each is refused in plain words, and the sandbox's own state says nothing changed (the pools' sizes and
nodes, no CreateClusterNodePool / ModifyClusterNodePool / ScaleClusterNodePool / RemoveNodePoolNodes /
DeleteClusterNodepool request) and the server's ledger neither spent a quote nor gained a row.

alice owns a pool on a cluster she created (`mine`) and one on a planted team cluster nobody here created (`team`);
bob owns one on the team cluster; the team cluster also carries a pool someone else made, and one that forges this
server's tags and label.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from kubernetes import client as kube
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client

from ack_compute.cloud.node_pools import NodePoolConfig, NodePoolService
from ack_compute.sandbox import SandboxCloud
from ack_compute.tools.ledger import Ledger
from ack_compute.tools.node_pool_spec import POOL_LABEL
from ack_compute.tools.ownership import POOL_OPERATION_TAG, mark
from ack_compute.tools.plans import NodePoolPlan, normalise, plan_digest
from tests.helpers.waiting import operation_view
from tests.security import purchase_helpers as helpers
from tests.security.purchase_helpers import call, cheap_claim, declining, env_for, forge, live_rows, quote_outcome
from tests.server import conftest as launcher  # the one `serve --http` launcher

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
POOL = {"kind": "node_pool", "instance_types": ["ecs.g7.xlarge"], "node_count": 1, "hours": 1}
CLUSTER = {"kind": "cluster", "instance_types": ["ecs.g7.xlarge"], "node_count": 1, "zone": "cn-hangzhou-i"}
# Every OpenAPI action that changes something starts so (CreateClusterNodePool, ModifyClusterNodePool, the unserved
# ScaleClusterNodePool, RemoveNodePoolNodes, DeleteClusterNodepool, DeleteCluster...); reads are Describe/List.
MUTATIONS = ("Create", "Modify", "Scale", "Remove", "Delete", "Install", "Upgrade", "Update", "Attach", "Run")
NAMES = {"mine": "acf-house-mine", "team": "team-house"}
QUOTE_SECRET = secrets.token_urlsafe(32)


def accepting(seen: list[str]):  # type: ignore[no-untyped-def]
    """An elicitation client whose person says yes to everything, and remembers what it was asked."""

    async def callback(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        seen.append(params.message)
        return types.ElicitResult(action="accept", content={"accept": True})

    return callback


@dataclass
class House:
    world: SandboxCloud
    url: str
    state: Path
    tokens: dict[str, str]
    mine: str = ""  # the cluster alice created through the server
    team: str = ""  # a cluster nobody here created
    pools: dict[str, str] = field(default_factory=dict)  # "alice@mine" -> nodepool id
    operations: dict[str, str] = field(default_factory=dict)  # the same keys -> the creating operation
    spent: dict[str, str] = field(default_factory=dict)  # the same keys -> the quote that paid for it

    def client(self, who: str, elicit: Any = None) -> Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        http = httpx2.AsyncClient(headers=headers, timeout=60)
        return Client(streamable_http_client(self.url, http_client=http), elicitation_callback=elicit)

    def sizes(self) -> dict[str, tuple[str, int, str, tuple[str, ...]]]:
        """Every pool on both clusters as the sandbox holds it: name, desired size, state, its live nodes."""
        out = {}
        for cluster_id in (self.mine, self.team):
            cluster = self.world.cluster(cluster_id)
            for pool in cluster.nodepools:
                nodes = tuple(sorted(n.name for n in cluster.live_nodes() if n.nodepool_id == pool.nodepool_id))
                out[pool.nodepool_id] = (pool.name, pool.desired_size, pool.state, nodes)
        return out


async def _finish(client: Client, started: tuple[bool, Any]) -> dict[str, Any]:
    ok, out = started
    assert ok, out
    if out.get("status") in ("creating", "resizing"):
        out = (await operation_view(client.call_tool, out["operation_id"]))["result"]
    return out


async def _build(house: House) -> None:
    asked: list[str] = []
    async with house.client("alice", accepting(asked)) as alice, house.client("bob", accepting(asked)) as bob:
        _, quote = await call(alice, "estimate_cost", {"plan": CLUSTER})
        made = await _finish(
            alice,
            await call(
                alice,
                "ensure_cluster",
                {"name": "acf-house-mine", "plan": CLUSTER, "quote_id": quote["quote_id"], "wait_seconds": 45},
            ),
        )
        assert made["status"] == "created", made
        house.mine = made["cluster_id"]
        for who, client, where in (
            (alice, "alice", house.mine),
            (alice, "alice", house.team),
            (bob, "bob", house.team),
        ):
            _, quote = await call(who, "estimate_cost", {"plan": {**POOL, "cluster": where}})
            started = await call(
                who, "ensure_node_pool", {"cluster": where, "name": f"{client}-pool", "quote_id": quote["quote_id"]}
            )
            pool = await _finish(who, started)
            assert pool["status"] == "created", pool
            key = f"{client}@{'mine' if where == house.mine else 'team'}"
            house.pools[key] = pool["nodepool_id"]
            house.operations[key] = started[1]["operation_id"]
            house.spent[key] = quote["quote_id"]


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Iterator[House]:
    root = tmp_path_factory.mktemp("house")
    tokens = {"alice": secrets.token_urlsafe(32), "bob": secrets.token_urlsafe(32)}
    file = helpers.tokens_file(root / "tokens.json", {who: (tok, False) for who, tok in tokens.items()})
    with SandboxCloud(time_scale=2000) as world:
        vpc_id = world.plant_vpc("team-vpc", cidr_block="192.168.0.0/16")
        vswitch_id = world.plant_vswitch(vpc_id, zone_id="cn-hangzhou-i", cidr_block="192.168.8.0/24")
        team = world.plant_cluster("team-house", nodes=1, vswitch_id=vswitch_id)
        env = env_for(world, root / "state", confirmation="human", quote_secret=QUOTE_SECRET, kubeconfig_minutes="4320")
        with launcher.serving_http(["--tokens-file", str(file)], env, root / "http.log") as server:
            house = House(world, server.url, root / "state", tokens, team=team)
            anyio.run(_build, house)
            # Someone else's pools on the team cluster: a plain one, and one forging this server's tags and label.
            look = helpers.observer(world, root / "observer")
            theirs = NodePoolService(look.clients)
            switches = look.cs.describe_cluster(team).vswitch_ids
            for name, tags, labels in (
                ("theirs", {"team": "data"}, {}),
                (
                    "forged",
                    {**mark(house.operations["alice@team"]), POOL_OPERATION_TAG: house.operations["alice@team"]},
                    {POOL_LABEL: "forged"},
                ),
            ):
                config = NodePoolConfig(
                    name=name,
                    instance_types=["ecs.g7.xlarge"],
                    desired_size=1,
                    vswitch_ids=switches,
                    tags=tags,
                    labels=labels,
                    key_pair="team-keys",
                )
                house.pools[name] = theirs.create(team, config)[0]
            deadline = time.monotonic() + 60
            while any(house.sizes()[house.pools[n]][2] != "active" for n in ("theirs", "forged")):
                assert time.monotonic() < deadline, house.sizes()
                time.sleep(0.1)
            yield house


@dataclass
class Before:
    sizes: dict[str, Any]
    rows: list[dict[str, Any]]


@pytest.fixture
def before(house: House) -> Before:
    house.world.reset_counts()
    return Before(house.sizes(), live_rows(house.state))


def unchanged(house: House, before: Before, *quotes: str) -> None:
    """Nothing in the sandbox or the ledger moved, and none of these quotes was spent."""
    assert house.sizes() == before.sizes
    called = {a for a, n in house.world.counts().items() if n and a.startswith(MUTATIONS)}
    assert called == set(), called
    assert live_rows(house.state) == before.rows
    for quote_id in quotes:
        assert quote_outcome(house.state, quote_id) is None, quote_id


# -- bob against alice's pools ----------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["mine", "team"])
async def test_bob_cannot_resize_alices_pool_by_name(house: House, before: Before, where: str) -> None:
    cluster = house.mine if where == "mine" else house.team
    name = NAMES[where]
    asked: list[str] = []
    async with house.client("bob", accepting(asked)) as bob:
        _, grow = await call(bob, "estimate_cost", {"plan": {**POOL, "cluster": cluster}})
        results = [
            await call(bob, "ensure_node_pool", {"cluster": cluster, "name": "alice-pool", **args})
            for args in (
                {"node_count": 2},
                {"node_count": 2, "quote_id": grow["quote_id"]},
                {"node_count": 0},
                {"node_count": 5},
            )
        ]
        seen = await call(bob, "ensure_node_pool", {"cluster": cluster, "name": "alice-pool"})
    for ok, text in results:
        assert not ok and text == (
            f"Node pool alice-pool on cluster {name} was not created by "
            "this server for you, so it is never resized or deleted by it. Ask its owner to resize it, or create a "
            "pool of your own under another name. Nothing was created or changed."
        ), text
    assert seen[0] and seen[1]["origin"] == "not_ours" and seen[1].get("hourly") is None, seen
    assert asked == [], "bob's person was asked to pay for a resize that is refused"
    unchanged(house, before, grow["quote_id"])


@pytest.mark.parametrize("where", ["mine", "team"])
async def test_bob_cannot_reach_alices_pool_by_its_id(house: House, before: Before, where: str) -> None:
    cluster = house.mine if where == "mine" else house.team
    pool_id = house.pools[f"alice@{where}"]
    async with house.client("bob") as bob:
        by_id = await call(bob, "ensure_node_pool", {"cluster": cluster, "name": pool_id, "node_count": 0})
        by_id3 = await call(bob, "ensure_node_pool", {"cluster": cluster, "name": pool_id, "node_count": 3})
        cleanups = [
            await call(bob, "cleanup", args)
            for args in (
                # On the team cluster bob's own pool would go: that selection is only planned.
                {"target": "cluster", "cluster": cluster, "dry_run": where == "team"},
                {"target": "cluster", "cluster": pool_id, "dry_run": False},
                {"target": "operation", "operation_id": house.operations[f"alice@{where}"], "dry_run": False},
                {"target": "workload", "workload": pool_id, "dry_run": False},
                {"target": "all", "dry_run": True},
            )
        ]
        cancelled = await call(bob, "cancel_operation", {"operation_id": house.operations[f"alice@{where}"]})
    assert not by_id[0] and by_id[1] == (
        "Invalid input: node_count: a node_pool plan buys at least 1 node "
        "(to shrink a pool, call ensure_node_pool). Fix the field and retry."
    )
    assert by_id3[0] and by_id3[1]["status"] == "quote_required", by_id3  # a new pool of that name, not alice's
    assert by_id3[1]["message"] == (
        f"Cluster {NAMES[where]} has no node pool named {pool_id}; adding one costs money and needs a quote."
    )
    for ok, report in cleanups:
        assert ok, report
        touched = {i.get("cloud_id") for i in report["items"]}
        assert not touched & {house.pools[k] for k in ("alice@mine", "alice@team", "theirs", "forged")}, report
    assert [r["status"] for _, r in cleanups[1:4]] == ["nothing_to_do"] * 3
    # A selector that names nothing of bob's says so and lists what is live for bob: alice's pools stay unnamed.
    missed = cleanups[1][1]["message"]
    assert missed.startswith(f"Nothing this server created for you matches cluster {pool_id}; nothing was deleted.")
    live = missed.partition(" Live now: ")[2]
    assert not [p for k, p in house.pools.items() if not k.startswith("bob") and p in live], missed
    assert "alice" not in live, missed
    assert not cancelled[0] and cancelled[1] == (
        f"No operation '{house.operations[f'alice@{where}']}' in this server's "
        "ledger. Check the id; operation ids look like op-0123456789abcdef."
    )
    unchanged(house, before)


async def test_bobs_near_misses_never_name_alices_cluster_or_operations(house: House, before: Before) -> None:
    """The did-you-mean, still-being-created, nothing-matches and no-lease answers read the caller's own ledger:
    bob, one letter off alice's cluster or holding her operation id, learns nothing of hers and changes nothing."""
    alices = [house.mine, "acf-house-mine", *(v for k, v in house.operations.items() if k.startswith("alice"))]
    async with house.client("bob") as bob:
        job = await call(bob, "run_job", {"cluster": "acf-house-mien", "script": "true", "wait_seconds": 0})
        offer = await call(bob, "ensure_cluster", {"name": "acf-house-mien"})
        swept = await call(bob, "cleanup", {"cluster": "acf-house-mien", "dry_run": False})
        lease = await call(bob, "extend_lease", {"operation_id": house.operations["alice@mine"]})
    assert job == (
        False,
        "No cluster with id or name 'acf-house-mien' in cn-hangzhou. Call ensure_cluster to find or create one, pass "
        "its cluster_id, or use context:<name> for a cluster in your local kubeconfig.",
    )
    assert offer[0] and offer[1]["message"].startswith("No running cluster named acf-house-mien; creating one")
    assert swept[0] and swept[1]["status"] == "nothing_to_do" and swept[1]["items"] == []
    assert lease == (
        False,
        f"No operation '{house.operations['alice@mine']}' with a lease in this server's ledger (a reused resource has "
        "none). Pass the operation_id the creating tool returned (op-...).",
    )
    for said in (job[1], str(offer[1]), str(swept[1]), lease[1]):
        assert not [a for a in alices if a in said.replace(house.operations["alice@mine"] + "'", "")], said
    unchanged(house, before)


async def test_growth_pays_only_with_its_own_unspent_quote(house: House, before: Before) -> None:
    team = house.team
    asked: list[str] = []
    growth = normalise(NodePoolPlan.model_validate({**POOL, "cluster": team}), "cn-hangzhou")
    payload = cheap_claim("node_pool", plan_digest(growth))
    async with house.client("alice", accepting(asked)) as alice, house.client("bob", accepting(asked)) as bob:
        grow = {"cluster": team, "name": "alice-pool", "node_count": 2}
        ok, needs = await call(alice, "ensure_node_pool", grow)
        quoted = {}
        for label, plan in (
            ("right", {**POOL, "cluster": team}),
            ("type", {**POOL, "cluster": team, "instance_types": ["ecs.c7.xlarge"]}),
            ("count", {**POOL, "cluster": team, "node_count": 2}),
            ("cluster", {**POOL, "cluster": house.mine}),
            ("expired", {**POOL, "cluster": team}),
        ):
            quoted[label] = (await call(alice, "estimate_cost", {"plan": plan}))[1]["quote_id"]
        with Ledger(house.state / "ledger.sqlite3").transaction() as db:  # fifteen minutes pass, for this quote
            db.execute(
                "UPDATE quotes SET expires_at = :at WHERE quote_id = :q",
                {"at": time.time() - 1, "q": quoted["expired"]},
            )
        right = quoted["right"]
        # One hex digit changed (a fixed replacement would be the real id whenever the id already ends in it).
        altered = right[:-1] + ("1" if right.endswith("0") else "0")
        tries = {
            "bob_with_alices": await call(bob, "ensure_node_pool", {**grow, "name": "bob-pool", "quote_id": right}),
            **{
                label: await call(alice, "ensure_node_pool", {**grow, "quote_id": quoted[label]})
                for label in ("type", "count", "cluster", "expired")
            },
            "hours": await call(
                alice, "ensure_node_pool", {**grow, "quote_id": right, "plan": {**POOL, "cluster": team, "hours": 5}}
            ),
            "replay": await call(alice, "ensure_node_pool", {**grow, "quote_id": house.spent["alice@team"]}),
            "altered": await call(alice, "ensure_node_pool", {**grow, "quote_id": altered}),
            "forged": await call(
                alice,
                "ensure_node_pool",
                {**grow, "quote_token": forge(QUOTE_SECRET, **payload, quote_id="q-forged0000000000000")},
            ),
            "resigned": await call(
                alice, "ensure_node_pool", {**grow, "quote_token": forge("not-the-secret", **payload, quote_id=right)}
            ),
        }
    assert ok and needs["status"] == "quote_required" and needs["plan_to_quote"]["node_count"] == 1, needs
    assert (
        needs["message"]
        == "Growing node pool alice-pool from 1 to 2 nodes buys 1 more; that needs a quote for the 1 added node."
    )
    other_plan = (
        "Invalid plan field `plan`: growing pool alice-pool from 1 to 2 nodes buys 1 more of its own nodes; the quote "
        "is for another plan. Estimate the plan_to_quote that ensure_node_pool returns without a quote_id, then pass "
        "its quote_id. Nothing was created or changed."
    )
    never = (
        "is not in this server's ledger: this server never issued it. Call estimate_cost on this server and show that "
        "quote to the person."
    )
    expected = {
        "bob_with_alices": f"Quote refused (not_yours): quote {right} was issued to another caller; a quote pays only "
        "for the person who asked for it. Call estimate_cost yourself and show that quote to your person.",
        "type": other_plan,
        "count": other_plan,
        "cluster": f"Invalid plan field `cluster`: the quote is for a pool on cluster {house.mine}, not on team-house. "
        f"Estimate a node_pool plan with cluster {team} and pass its quote_id. Nothing was created or changed.",
        "expired": f"Quote refused (expired): quote {quoted['expired']} expired 1 s ago. Call estimate_cost with this "
        "plan for a new quote. Show the new quote to the person before using it.",
        "hours": f"Quote refused (plan_mismatch): this plan differs from quote {right}: hours: quoted 1.0, given 5.0. "
        "Pass the plan exactly as quoted, or call estimate_cost for the new plan and show that quote to the person.",
        "replay": f"Quote refused (already_used): quote {house.spent['alice@team']} was already redeemed",
        "altered": f"Quote refused (unknown): quote {altered} {never}",
        "forged": f"Quote refused (unknown): quote q-forged0000000000000 {never}",
        "resigned": "Quote refused (bad_signature): the token was not issued by this server or was altered. Call "
        "estimate_cost with this plan for a new quote.",
    }
    for label, (ok, text) in tries.items():
        assert not ok and text.startswith(expected[label]), (label, text)
    assert asked == [], "a person was asked to pay with a quote that cannot pay"
    unchanged(house, before, *quoted.values())


async def test_growth_under_policy_human_needs_the_persons_yes(house: House, before: Before) -> None:
    """A client that cannot ask gets no growth; a person's no voids the quote, which then pays for nothing."""
    team = house.team
    grow = {"cluster": team, "name": "alice-pool", "node_count": 2}
    asked: list[str] = []
    async with house.client("alice") as mute:
        _, quote = await call(mute, "estimate_cost", {"plan": {**POOL, "cluster": team}})
        ok_mute, mute_refusal = await call(mute, "ensure_node_pool", {**grow, "quote_id": quote["quote_id"]})
    unchanged(house, before, quote["quote_id"])
    async with house.client("alice", declining(asked)) as saying_no:
        ok_no, no = await call(saying_no, "ensure_node_pool", {**grow, "quote_id": quote["quote_id"]})
    async with house.client("alice", accepting(asked)) as saying_yes:
        ok_void, void = await call(saying_yes, "ensure_node_pool", {**grow, "quote_id": quote["quote_id"]})
    assert not ok_mute and mute_refusal == (
        "This server requires a person to accept the cost, and the client "
        "cannot ask (no elicitation support). Use a client that supports elicitation, or ask the operator to set "
        "confirmation=token. Nothing was created."
    )
    assert (
        ok_no
        and no["status"] == "declined"
        and no["message"] == ("The person declined the quoted cost; the quote is now void.")
    ), no
    assert not ok_void and void.startswith(
        f"Quote refused (already_used): quote {quote['quote_id']} was already declined at "
    ), void
    assert len(asked) == 1 and re.fullmatch(
        re.escape(
            f"Add 1 x ecs.g7.xlarge nodes to node pool 'alice-pool' on cluster '{team}' (cn-hangzhou) for 1.2867 "
            f"CNY/h, about 1.2867 CNY for 1 h (quote {quote['quote_id']})? It runs until about "
        )
        + r"(\d{4}-\d\d-\d\d )?\d\d:\d\d UTC \(1 h\), then is deleted unless extended\.",
        asked[0],
    ), "asked once, by the client that could ask; the void quote asks nobody"
    assert quote_outcome(house.state, quote["quote_id"]) == "declined"
    unchanged(house, before)


async def test_pools_this_server_did_not_make_are_never_resized_or_cleaned_up(house: House, before: Before) -> None:
    asked: list[str] = []
    team = house.team
    results = []
    async with house.client("alice", accepting(asked)) as alice, house.client("bob", accepting(asked)) as bob:
        _, quote = await call(alice, "estimate_cost", {"plan": {**POOL, "cluster": team}})
        for who in (alice, bob):
            for name in ("theirs", "forged"):
                for args in ({"node_count": 0}, {"node_count": 3}, {"node_count": 2, "quote_id": quote["quote_id"]}):
                    results.append(await call(who, "ensure_node_pool", {"cluster": team, "name": name, **args}))
        seen = [await call(alice, "ensure_node_pool", {"cluster": team, "name": n}) for n in ("theirs", "forged")]
        plans = [
            await call(who, "cleanup", {"target": target, "cluster": team, "dry_run": True})
            for who in (alice, bob)
            for target in ("all", "cluster")
        ]
    not_yours = (
        "Node pool {} on cluster team-house was not created by this server "
        "for you, so it is never resized or deleted by it. Ask its owner to resize it, or create a pool of your own "
        "under another name. Nothing was created or changed."
    )
    for i, (ok, text) in enumerate(results):
        name = ("theirs", "forged")[i // 3 % 2]
        if i >= 6 and i % 3 == 2:  # bob with alice's quote: refused on the quote or on the pool, never paid
            assert not ok and ("Quote refused (not_yours)" in text or text == not_yours.format(name)), text
        else:
            assert not ok and text == not_yours.format(name), (i, text)
    assert [(r["name"], r["status"], r["origin"]) for _, r in seen] == [
        ("theirs", "exists", "not_ours"),
        ("forged", "exists", "not_ours"),
    ]
    for ok, plan in plans:
        assert ok and not {i.get("cloud_id") for i in plan["items"]} & {house.pools["theirs"], house.pools["forged"]}
    assert asked == []
    unchanged(house, before, quote["quote_id"])


async def test_run_job_sends_no_work_to_another_callers_pool(house: House, before: Before) -> None:
    async with house.client("bob") as bob:
        tries = [
            await call(bob, "run_job", {"cluster": cluster, "script": "echo stolen", "node_pool": "alice-pool"})
            for cluster in (house.team, house.mine)
        ]
    for (ok, text), where in zip(tries, ("team-house", "acf-house-mine"), strict=True):
        assert not ok and text == (
            f"Node pool alice-pool on {where} belongs to another caller; only its owner "
            "or an admin can send work to it. Create a pool of your own with ensure_node_pool (quote a node_pool plan "
            "first), or leave node_pool out. Nothing was created."
        ), text
    look = helpers.observer(house.world, house.state.parent / "observer")
    for cluster in (house.team, house.mine):
        api = kube.BatchV1Api(helpers.api_client(look, cluster))
        assert [j.metadata.name for j in api.list_namespaced_job("default").items] == []
    unchanged(house, before)


async def test_the_local_operator_over_stdio_never_resizes_or_cleans_up_what_this_server_did_not_make(
    house: House, before: Before
) -> None:
    """stdio is the local operator, an admin who sees every caller's rows: only the ledger row and the pool's own
    tags protect a pool someone else made, even one that forges this server's tags (alice's operation id included)."""
    team = house.team
    env = env_for(house.world, house.state, confirmation="human", quote_secret=QUOTE_SECRET, kubeconfig_minutes="4320")
    asked: list[str] = []
    with (house.state.parent / "stdio.log").open("w") as errlog:
        async with helpers.stdio(env, errlog, elicit=accepting(asked)) as operator:
            _, quote = await call(operator, "estimate_cost", {"plan": {**POOL, "cluster": team}})
            tries = [
                await call(operator, "ensure_node_pool", {"cluster": team, "name": name, **args})
                for name in ("theirs", "forged")
                for args in ({"node_count": 0}, {"node_count": 2, "quote_id": quote["quote_id"]})
            ]
            plans = [
                await call(operator, "cleanup", {"target": "all", "dry_run": True}),
                await call(operator, "cleanup", {"target": "cluster", "cluster": team, "dry_run": True}),
                await call(
                    operator,
                    "cleanup",
                    {"target": "operation", "operation_id": house.operations["alice@team"], "dry_run": True},
                ),
            ]
    for (ok, text), name in zip(tries, ("theirs", "theirs", "forged", "forged"), strict=True):
        assert not ok and text == (
            f"Node pool {name} on cluster team-house was not created by this "
            "server for you, so it is never resized or deleted by it. Ask its owner to resize it, or create a pool of "
            "your own under another name. Nothing was created or changed."
        ), text
    foreign = {house.pools["theirs"], house.pools["forged"]}
    for ok, plan in plans:
        listed = {i.get("cloud_id") for i in plan["items"]}
        assert ok and not listed & foreign, plan
    # The admin's plan does list the pools this server made (so the filter above is not vacuous).
    assert {house.pools["alice@team"], house.pools["bob@team"]} <= {i.get("cloud_id") for i in plans[0][1]["items"]}
    assert [i.get("cloud_id") for i in plans[2][1]["items"]] == [house.pools["alice@team"]]
    assert asked == []
    unchanged(house, before, quote["quote_id"])
