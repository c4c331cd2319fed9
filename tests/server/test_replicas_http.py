"""Two `serve --http` replicas on one ledger and one cloud, behind a load balancer (tests/helpers/balancer.py):
any replica answers any request of a 2026-protocol client, the cost question asked on one replica is answered on
the other, one quote pays once whichever replicas redeem it at once, and a 2025-protocol client works behind a
sticky balancer and is told plainly what went wrong behind one that is not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, types
from mcp.shared.exceptions import MCPError

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.http_sessions import UNKNOWN_SESSION
from ack_compute.tools.ledger import LEDGER_FILE
from ack_compute.tools.purchase import NO_ELICITATION
from tests.helpers.agent import cluster_plan
from tests.helpers.balancer import Balancer
from tests.server.test_inspector_cli import estimate as inspector_estimate
from tests.server.test_inspector_cli import inspector_env  # noqa: F401 (a fixture: a third-party client, or a skip)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PLAN: dict[str, Any] = cluster_plan(hours=1)
FAST = 600  # a cluster in about a second
SECRET = "replicas-share-this-quote-secret-" + "s" * 16  # what a team sets on every replica (a Secret in ACK)


@dataclass
class Team:
    backend: str  # where the shared ledger lives: "sqlite" (one file in a shared state dir) or "postgresql"
    cloud: SandboxCloud
    env: dict[str, str]  # what every replica runs with (on PostgreSQL each also has a state dir of its own)
    replicas: list[str]  # base URLs
    logs: list[Path]

    def balancer(self, policy: str = "round_robin") -> Balancer:
        return Balancer(self.replicas, policy)  # type: ignore[arg-type]

    def log_text(self) -> str:
        return "".join(p.read_text() for p in self.logs)

    def receipts(self) -> list[dict[str, Any]]:
        """What `ack-compute-mcp audit` prints from the shared ledger."""
        audit = subprocess.run(
            [sys.executable, "-m", "ack_compute.server", "audit"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert audit.returncode == 0, audit.stderr
        return [json.loads(line) for line in audit.stdout.splitlines()]


@contextmanager
def replicas(serve_http: Any, envs: list[dict[str, str]], logs: list[Path]) -> Iterator[list[str]]:
    """`serve --http` once per environment, all started at once (each waits for its /healthz); their base URLs."""
    with ExitStack() as stack, ThreadPoolExecutor(len(logs)) as pool:
        handles = [stack.enter_context(log.open("w")) for log in logs]
        starting = [
            pool.submit(serve_http.start, [], env, h, log) for env, h, log in zip(envs, handles, logs, strict=True)
        ]
        for future in starting:
            stack.callback(lambda f=future: f.exception() is None and serve_http.stop(f.result()))
        yield [f.result().base for f in starting]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def team(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, serve_http: Any) -> Iterator[Team]:
    """Two replicas on one sandbox cloud sharing the quote secret and one ledger: on SQLite a state dir (so the
    ledger file), on PostgreSQL a database (ACK_COMPUTE_DATABASE_URL) with a state dir each, as in a team's pods."""
    root = tmp_path_factory.mktemp(f"replicas-{request.param}")
    with SandboxCloud(time_scale=FAST) as cloud, ExitStack() as stack:
        env = {**os.environ, **cloud.server_env(root / "state", confirmation="token", quote_secret=SECRET)}
        envs = [env, env]
        if request.param == "postgresql":
            url = stack.enter_context(request.getfixturevalue("postgres_session").database())
            env["ACK_COMPUTE_DATABASE_URL"] = str(url)
            envs = [{**env, "ACK_COMPUTE_STATE_DIR": str(root / f"state-{r}")} for r in "ab"]
        logs = [root / "replica-a.log", root / "replica-b.log"]
        with replicas(serve_http, envs, logs) as bases:
            files = [Path(e["ACK_COMPUTE_STATE_DIR"]) / LEDGER_FILE for e in envs]
            assert [f.exists() for f in files] == [request.param == "sqlite"] * 2, files  # no SQLite fallback
            yield Team(request.param, cloud, env, bases, logs)


# What does not depend on where the ledger lives runs on SQLite only.
sqlite_only = pytest.mark.parametrize("team", ["sqlite"], indirect=True)


def accepting(asked: list[str]) -> Any:
    async def callback(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"accept": True})

    return callback


def text_of(result: types.CallToolResult) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


async def estimate(client: Client) -> dict[str, Any]:
    result = await client.call_tool("estimate_cost", {"plan": PLAN})
    assert not result.is_error, result.content
    return result.structured_content or {}


async def created(client: Client, result: types.CallToolResult) -> dict[str, Any]:
    """The cluster the call created, following its operation (through whichever replica answers) until done."""
    assert not result.is_error, result.content
    out = result.structured_content or {}
    with anyio.fail_after(60):
        while out.get("status") in ("creating", "waiting"):
            polled = await client.call_tool("get_operation", {"operation_id": out["operation_id"], "wait_seconds": 10})
            view = polled.structured_content or {}
            assert not polled.is_error and view["outcome"] in (None, "succeeded"), view
            if view["outcome"] == "succeeded":
                out = view["result"]
    assert out["status"] == "created", out
    return out


def clusters_named(cloud: SandboxCloud, name: str) -> list[str]:
    return [c.cluster_id for c in cloud.clusters() if c.name == name and c.state != "deleted"]


async def test_each_request_may_land_on_either_replica(team: Team) -> None:
    with team.balancer() as lb:
        async with Client(lb.url) as client:  # the 2026 protocol: no session, every request stands alone
            tools = await client.list_tools()
            assert {"estimate_cost", "ensure_cluster", "get_operation"} <= {t.name for t in tools.tools}
            quotes = [await estimate(client) for _ in range(4)]
            listed = await client.read_resource("ledger://resources", cache_mode="bypass")
            assert json.loads(listed.contents[0].text)["resources"] == []  # type: ignore[union-attr]
    assert all(q["quote_id"] and q["hourly_total"] == quotes[0]["hourly_total"] for q in quotes), quotes
    calls = lb.tool_calls("estimate_cost")
    assert [c.replica for c in calls] in ([0, 1, 0, 1], [1, 0, 1, 0]), calls
    assert all(r.status == 200 and not r.session for r in lb.routed), lb.routed


async def test_the_cost_question_asked_on_one_replica_is_answered_on_the_other(team: Team) -> None:
    name = "acf-rep-consent"
    team.cloud.reset_counts()
    asked: list[str] = []
    with team.balancer() as lb:
        async with Client(lb.url, elicitation_callback=accepting(asked)) as client:
            quote = await estimate(client)
            bought = await client.call_tool(
                "ensure_cluster", {"name": name, "quote_id": quote["quote_id"], "wait_seconds": 30}
            )
            out = await created(client, bought)
    rounds = lb.tool_calls("ensure_cluster")
    assert [r.answers for r in rounds] == [False, True], rounds  # the question, then the answer
    assert rounds[0].replica != rounds[1].replica, rounds
    assert len(asked) == 1 and quote["quote_id"] in asked[0], asked
    # The audit log tells the call from its answer round, one line each.
    audit = [line.split(": ", 1)[1] for line in team.log_text().splitlines() if " ensure_cluster" in line]
    assert sorted(audit) == [
        "the local operator calls ensure_cluster",
        "the local operator calls ensure_cluster (with answers)",
    ]
    assert team.cloud.counts().get("CreateCluster", 0) == 1
    assert clusters_named(team.cloud, name) == [out["cluster_id"]]
    receipts = [
        (r["event"], r.get("answer"), r.get("how")) for r in team.receipts() if r["quote_id"] == quote["quote_id"]
    ]
    assert receipts == [("consent", "accepted", "asked by elicitation"), ("purchase", None, None)], receipts


async def test_one_quote_redeemed_on_both_replicas_at_once_pays_once(team: Team) -> None:
    team.cloud.reset_counts()
    async with Client(team.replicas[0] + "/mcp") as a, Client(team.replicas[1] + "/mcp") as b:
        quote = await estimate(a)
        results: dict[str, types.CallToolResult] = {}

        async def buy(client: Client, name: str) -> None:
            args = {"name": name, "quote_id": quote["quote_id"], "wait_seconds": 0}
            results[name] = await client.call_tool("ensure_cluster", args)

        async with anyio.create_task_group() as tg:  # neither client can ask: policy `token` lets the quote pay
            tg.start_soon(buy, a, "acf-rep-race-a")
            tg.start_soon(buy, b, "acf-rep-race-b")
        paid = {n: r for n, r in results.items() if not r.is_error}
        refused = {n: r for n, r in results.items() if r.is_error}
        assert len(paid) == 1 and len(refused) == 1, {n: text_of(r) for n, r in results.items()}
        (winner, result), (loser, refusal) = next(iter(paid.items())), next(iter(refused.items()))
        await created(a, result)
    text = text_of(refusal)
    assert f"quote {quote['quote_id']} was already redeemed" in text and "estimate_cost" in text, text
    assert team.cloud.counts().get("CreateCluster", 0) == 1
    assert len(clusters_named(team.cloud, winner)) == 1 and clusters_named(team.cloud, loser) == []


async def test_a_2025_client_works_behind_a_sticky_balancer(team: Team) -> None:
    name = "acf-rep-legacy"
    team.cloud.reset_counts()
    asked: list[str] = []
    with team.balancer("sticky") as lb:
        async with Client(lb.url, mode="legacy", elicitation_callback=accepting(asked)) as client:
            quote = await estimate(client)
            bought = await client.call_tool(
                "ensure_cluster", {"name": name, "quote_id": quote["quote_id"], "wait_seconds": 30}
            )
            out = await created(client, bought)
    assert len(asked) == 1 and quote["quote_id"] in asked[0], asked  # pushed on the open request, answered there
    sessions = {r.session for r in lb.routed if r.session}
    assert len(sessions) == 1, lb.routed
    assert len({r.replica for r in lb.routed}) == 1, lb.routed
    assert team.cloud.counts().get("CreateCluster", 0) == 1
    assert clusters_named(team.cloud, name) == [out["cluster_id"]]


@sqlite_only
async def test_a_2025_client_on_a_replica_without_its_session_is_told_why(team: Team) -> None:
    with team.balancer("elsewhere") as lb:
        async with Client(lb.url, mode="legacy") as client:
            with pytest.raises(MCPError) as refused:
                await client.list_tools()
    assert str(refused.value) == UNKNOWN_SESSION
    assert any(r.status == 404 and r.rpc_method == "tools/list" for r in lb.routed), lb.routed
    assert "for a session this replica does not know" in team.log_text()


@sqlite_only
def test_only_the_unknown_session_answer_is_reworded(team: Team) -> None:
    """Another 404 (a path that does not exist) passes as it was, session header or not."""
    missing = httpx.get(team.replicas[0] + "/nope", headers={"Mcp-Session-Id": "0" * 32}, timeout=10)
    assert (missing.status_code, missing.text) == (404, "Not Found")
    unknown = httpx.post(
        team.replicas[0] + "/mcp",
        headers={"Mcp-Session-Id": "0" * 32, "Accept": "application/json, text/event-stream"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        timeout=10,
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["message"] == UNKNOWN_SESSION
    assert int(unknown.headers["content-length"]) == len(unknown.content)


@sqlite_only
async def test_without_sessions_any_replica_answers_a_2025_client_that_then_cannot_be_asked(
    team: Team, tmp_path: Path, serve_http: Any
) -> None:
    """ACK_COMPUTE_HTTP_SESSIONS=false: no stickiness needed, and no question pushed (the policy, `token`, decides)."""
    name = "acf-rep-nosession"
    team.cloud.reset_counts()
    asked: list[str] = []
    env = {**team.env, "ACK_COMPUTE_HTTP_SESSIONS": "false"}
    with replicas(serve_http, [env, env], [tmp_path / "a.log", tmp_path / "b.log"]) as pair, Balancer(pair) as lb:
        async with Client(lb.url, mode="legacy", elicitation_callback=accepting(asked)) as client:
            quote = await estimate(client)
            bought = await client.call_tool(
                "ensure_cluster", {"name": name, "quote_id": quote["quote_id"], "wait_seconds": 30}
            )
            out = await created(client, bought)
    assert asked == []
    posts = [r for r in lb.routed if r.http_method == "POST"]
    assert {r.replica for r in posts} == {0, 1} and all(r.status < 400 and not r.session for r in posts), posts
    assert team.cloud.counts().get("CreateCluster", 0) == 1 and clusters_named(team.cloud, name) == [out["cluster_id"]]
    consent = [r for r in team.receipts() if r["quote_id"] == quote["quote_id"] and r["event"] == "consent"]
    assert [(c["answer"], c["how"]) for c in consent] == [("not_asked", NO_ELICITATION)], consent


@sqlite_only
def test_the_inspector_cli_needs_a_sticky_balancer(team: Team, inspector_env: dict[str, str]) -> None:  # noqa: F811
    """A third-party client of the 2025 handshake (Inspector CLI 2.12): fine behind a sticky balancer; behind a
    round-robin one its second request (notifications/initialized) reaches the other replica and it stops there,
    saying why."""
    plan = {"kind": "cluster", "instance_types": ["ecs.g7.xlarge"], "node_count": 1}
    with team.balancer("sticky") as lb:
        done = inspector_estimate(inspector_env, [lb.url, "--transport", "http"], plan)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["structuredContent"]["quote_id"]
    assert {r.rpc_method for r in lb.routed} >= {"initialize", "tools/call"} and {r.replica for r in lb.routed} == {
        lb.routed[0].replica
    }, lb.routed
    with team.balancer("round_robin") as lb:
        done = inspector_estimate(inspector_env, [lb.url, "--transport", "http"], plan)
    assert done.returncode != 0 and UNKNOWN_SESSION in done.stderr, (done.stdout, done.stderr)
    assert [r.status for r in lb.routed if r.session] == [404] and not lb.tool_calls("estimate_cost"), lb.routed
