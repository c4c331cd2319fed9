"""Red team of issue 17's team deployment: two `serve --http` replicas on one PostgreSQL ledger and one sandbox cloud,
sessionless HTTP (MCP 2026-07-28), the cost question's progress sealed in `requestState` under a key derived from the
shared quote secret. Callers alice and bob hold their own bearer tokens (a tokens file); confirmation=human, so
nothing pays without an answer the server recorded. Each attack is refused in words an agent reads, changing nothing.

1 bob replays alice's sealed answer round on the other replica (her quote, then his own); alice replays a sealed
  round for one quote with another quote's arguments; a sealed round past its expiry; her own yes sent to both
  replicas at once, and a yes sent before any question.
2 bob reads, cancels and extends alice's operation through the other replica: it reads like an unknown one.
3 one quote redeemed on both replicas at once by alice and bob; a declined quote redeemed on the other replica.
4 a 2025-protocol session alice opened, used by bob with his own token on the same replica.
5 carol's daily budget against purchases split across both replicas at once.
6 a replica started with another quote secret on the same ledger.
7 a replica holding the ledger's write lock (stuck mid-transaction) against the other replica's writers.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client
from mcp.server.request_state import AESGCMRequestStateCodec
from mcp.shared.exceptions import MCPError

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.http_sessions import REQUEST_STATE_PURPOSE, UNKNOWN_SESSION
from ack_compute.tools.ledger import _WRITE_LOCK, LOCK_WAIT_MS
from ack_compute.tools.quotes import QuoteBook
from tests.helpers.postgres import connect
from tests.security.access_helpers import text_of, write_tokens
from tests.server import conftest as launcher  # the one `serve --http` launcher
from tests.server.test_replicas_http import replicas

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SECRET = "a-team-shares-this-quote-secret-" + "r" * 16
PLAN: dict[str, Any] = {"kind": "cluster", "instance_types": ["ecs.g7.xlarge"], "node_count": 1, "hours": 1}
BUDGET = 10
BAD_STATE = "Invalid or expired requestState"  # the SDK's one answer to any sealed state it refuses


@dataclass
class Pair:
    cloud: SandboxCloud
    url: str  # the shared database
    a: str  # replica A's base URL
    b: str  # replica B's
    alice: str  # bearer tokens
    bob: str
    carol: str  # a daily budget of BUDGET, used by nothing but the budget attack
    env: dict[str, str]  # replica A's environment


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, postgres_session: Any) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("replica-attacks")
    alice, bob, carol = (secrets.token_urlsafe(32) for _ in range(3))
    rows = [
        {"subject": who, "sha256": hashlib.sha256(tok.encode()).hexdigest(), **extra}
        for who, tok, extra in (("alice", alice, {}), ("bob", bob, {}), ("carol", carol, {"daily_budget": BUDGET}))
    ]
    tokens = write_tokens(root / "tokens.json", rows)
    with SandboxCloud(time_scale=600) as cloud, ExitStack() as stack:
        url = str(stack.enter_context(postgres_session.database()))
        base = cloud.server_env(root / "state", confirmation="human", quote_secret=SECRET, log_level="WARNING")
        env = {**os.environ, **base, "ACK_COMPUTE_DATABASE_URL": url, "ACK_COMPUTE_HTTP_TOKENS_FILE": str(tokens)}
        envs = [{**env, "ACK_COMPUTE_STATE_DIR": str(root / f"state-{r}")} for r in "ab"]
        logs = [root / "replica-a.log", root / "replica-b.log"]
        with replicas(launcher.HttpLauncher, envs, logs) as (a, b):
            yield Pair(cloud, url, a, b, alice, bob, carol, envs[0])


def answering(action: str, asked: list[str] | None = None) -> Any:
    async def callback(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        if asked is not None:
            asked.append(params.message)
        if action == "accept":
            return types.ElicitResult(action="accept", content={"accept": True})
        return types.ElicitResult(action=action)  # type: ignore[arg-type]

    return callback


def caller(base: str, token: str, *, elicit: Any = None, mode: str = "auto") -> Client:
    """A 2026-protocol client (no session) of one replica with this bearer token; it can be asked when `elicit`."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    return Client(
        streamable_http_client(f"{base}/mcp", http_client=http),
        elicitation_callback=elicit or answering("decline"),
        mode=mode,
    )


@asynccontextmanager
async def on_both(
    pair: Pair, first: str, second: str, answers: tuple[str, str] = ("accept", "accept")
) -> AsyncIterator[tuple[Client, Client]]:
    """A client of replica A with token `first` and one of B with `second` (each answering the cost question
    with `answers`), the cloud's request counts reset."""
    pair.cloud.reset_counts()
    async with (
        caller(pair.a, first, elicit=answering(answers[0])) as a,
        caller(pair.b, second, elicit=answering(answers[1])) as b,
    ):
        yield a, b


async def quote(client: Client, plan: dict[str, Any] = PLAN) -> str:
    result = await client.call_tool("estimate_cost", {"plan": plan})
    assert not result.is_error, result.content
    return str((result.structured_content or {})["quote_id"])


def ledger_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with connect(url) as conn:
        return list(conn.execute(sql).fetchall())


def answers(url: str, quote_id: str) -> list[tuple[str, str]]:
    """The answers the shared ledger recorded for a quote: (caller, answer)."""
    return [
        (r[0], r[1])
        for r in ledger_rows(url, f"SELECT caller, answer FROM consents WHERE quote_id = '{quote_id}' ORDER BY at")
    ]


def outcome(url: str, quote_id: str) -> str | None:
    rows = ledger_rows(url, f"SELECT outcome FROM quote_redemptions WHERE quote_id = '{quote_id}'")
    return str(rows[0][0]) if rows else None


async def created(pair: Pair, n: int) -> None:
    """Wait until the cloud saw `n` CreateCluster calls since the last reset (an operation creates in the
    background), then a little longer: never more."""
    with anyio.fail_after(60):
        while pair.cloud.counts().get("CreateCluster", 0) < n:
            await anyio.sleep(0.2)
    await anyio.sleep(1)
    assert pair.cloud.counts().get("CreateCluster", 0) == n


def accept_all(required: Any) -> dict[str, Any]:
    """inputResponses that say yes to every question of an input-required round."""
    return {key: types.ElicitResult(action="accept", content={"accept": True}) for key in required.input_requests}


async def question(client: Client, args: dict[str, Any]) -> types.InputRequiredResult:
    """The first round of an ensure_cluster call: the cost question and its sealed state, left unanswered."""
    asked = await client.session.call_tool("ensure_cluster", args, allow_input_required=True)
    assert isinstance(asked, types.InputRequiredResult) and asked.request_state, asked
    return asked


async def say_yes(client: Client, args: dict[str, Any], asked: types.InputRequiredResult, state: str = "") -> Any:
    """The answer round: yes to every question `asked` put, with its sealed state (or `state`)."""
    return await client.session.call_tool(
        "ensure_cluster",
        args,
        input_responses=accept_all(asked),
        request_state=state or asked.request_state,
        allow_input_required=True,
    )


# -- 1: the sealed answer round replayed ------------------------------------------------------------------------------


async def test_a_sealed_answer_round_pays_only_for_who_was_asked_for_what_and_while_it_lasts(pair: Pair) -> None:
    async with on_both(pair, pair.alice, pair.bob) as (alice, bob):
        mine, other = await quote(alice), await quote(alice)
        his = await quote(bob)
        args = {"name": "acf-rt-sealed", "quote_id": mine, "wait_seconds": 0}
        asked = await question(alice, args)
        refusals = []
        # bob, on the other replica, with alice's sealed round and a yes: for her quote, then for his own.
        for who, replay in ((bob, args), (bob, {**args, "quote_id": his}), (alice, {**args, "quote_id": other})):
            with pytest.raises(MCPError) as refused:
                await say_yes(who, replay, asked)
            refusals.append(str(refused.value))
        # The same round past its expiry (re-sealed with the shared key, as only a replica could).
        codec = AESGCMRequestStateCodec(
            [QuoteBook.derived_key(SimpleNamespace(_secret=SECRET.encode()), REQUEST_STATE_PURPOSE)]
        )  # type: ignore[arg-type]
        claims = json.loads(codec.unseal(asked.request_state or ""))
        claims["exp"] = time.time() - 1
        with pytest.raises(MCPError) as expired:
            await say_yes(alice, args, asked, codec.seal(json.dumps(claims).encode()))
    assert refusals == [BAD_STATE] * 3 and str(expired.value) == BAD_STATE, (refusals, expired.value)
    assert pair.cloud.counts().get("CreateCluster", 0) == 0
    assert [answers(pair.url, q) for q in (mine, other, his)] == [[], [], []]
    assert [outcome(pair.url, q) for q in (mine, other, his)] == [None, None, None]


async def test_alices_yes_sent_to_both_replicas_at_once_pays_once(pair: Pair) -> None:
    """Her own answer round, replayed on the other replica at the same moment: one create; and a yes sent before
    any question was put counts for nothing (the question is put)."""
    async with on_both(pair, pair.alice, pair.alice) as (here, there):
        mine = await quote(here)
        args = {"name": "acf-rt-twice", "quote_id": mine, "wait_seconds": 0}
        asked = await question(here, args)
        early = await there.session.call_tool(
            "ensure_cluster", args, input_responses=accept_all(asked), allow_input_required=True
        )
        assert isinstance(early, types.InputRequiredResult), early  # asked, not paid
        results: list[Any] = []

        async def answer(client: Client) -> None:
            results.append(await say_yes(client, args, asked))

        async with anyio.create_task_group() as tg:
            tg.start_soon(answer, here)
            tg.start_soon(answer, there)
        await created(pair, 1)
    # The second yes either loses the race for the quote (refused: already redeemed) or arrives once the first one's
    # creation is on the ledger and is answered with that same operation; never a second purchase.
    refused = [text_of(r) for r in results if r.is_error]
    following = {(r.structured_content or {}).get("operation_id") for r in results if not r.is_error}
    assert len(results) == 2 and len(following) == 1 and None not in following, [text_of(r) for r in results]
    assert all(f"quote {mine} was already redeemed" in text for text in refused), refused
    assert outcome(pair.url, mine) == "redeemed"
    assert ledger_rows(pair.url, f"SELECT operation_id FROM operations WHERE quote_id = '{mine}'") == [
        (next(iter(following)),)
    ]


# -- 2: bob against alice's operation, through the other replica ------------------------------------------------------


async def test_alices_operation_reads_like_an_unknown_one_to_bob_on_the_other_replica(pair: Pair) -> None:
    async with on_both(pair, pair.alice, pair.bob) as (alice, bob):
        mine = await quote(alice)
        made = await alice.call_tool("ensure_cluster", {"name": "acf-rt-op", "quote_id": mine, "wait_seconds": 0})
        assert not made.is_error, text_of(made)
        op = (made.structured_content or {})["operation_id"]
        his = await quote(bob, {**PLAN, "hours": 2})
        unknown = "op-" + "0" * len(op.removeprefix("op-"))
        seen: dict[str, list[str]] = {}
        for target in (op, unknown):
            seen[target] = []
            for tool, extra in (("get_operation", {}), ("cancel_operation", {}), ("extend_lease", {"quote_id": his})):
                result = await bob.call_tool(tool, {"operation_id": target, **extra})
                assert result.is_error, (tool, result.structured_content)
                seen[target].append(text_of(result).replace(target, "<op>"))
        view = await alice.call_tool("get_operation", {"operation_id": op})
    assert seen[op] == seen[unknown], seen
    assert not view.is_error and (view.structured_content or {}).get("cancel_requested") in (None, False), view
    assert outcome(pair.url, his) is None


# -- 3: one quote, two replicas, two callers; a declined quote elsewhere ----------------------------------------------


async def test_one_quote_on_both_replicas_by_alice_and_bob_pays_once_for_alice(pair: Pair) -> None:
    async with on_both(pair, pair.alice, pair.bob) as (alice, bob):
        mine = await quote(alice)
        results: dict[str, types.CallToolResult] = {}

        async def buy(who: str, client: Client) -> None:
            args = {"name": f"acf-rt-race-{who}", "quote_id": mine, "wait_seconds": 0}
            results[who] = await client.call_tool("ensure_cluster", args)

        async with anyio.create_task_group() as tg:
            tg.start_soon(buy, "alice", alice)
            tg.start_soon(buy, "bob", bob)
    assert not results["alice"].is_error, text_of(results["alice"])
    refusal = text_of(results["bob"])
    assert (
        results["bob"].is_error and f"Quote refused (not_yours): quote {mine} was issued to another caller" in refusal
    )
    await created(pair, 1)
    assert outcome(pair.url, mine) == "redeemed"
    assert ("bob", "accepted") not in answers(pair.url, mine)


async def test_a_quote_declined_on_one_replica_never_pays_on_the_other(pair: Pair) -> None:
    async with on_both(pair, pair.alice, pair.alice, answers=("decline", "accept")) as (here, there):
        mine = await quote(here)
        args = {"name": "acf-rt-declined", "quote_id": mine, "wait_seconds": 0}
        declined = await here.call_tool("ensure_cluster", args)
        again = await there.call_tool("ensure_cluster", args)
    assert (declined.structured_content or {}).get("status") == "declined", declined.structured_content
    assert again.is_error and f"Quote refused (already_used): quote {mine} was already declined" in text_of(again), (
        text_of(again)
    )
    assert pair.cloud.counts().get("CreateCluster", 0) == 0
    assert outcome(pair.url, mine) == "declined"


# -- 4: a 2025-protocol session opened by alice, used by bob -----------------------------------------------------------


def test_bob_cannot_use_a_session_alice_opened(pair: Pair) -> None:
    accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "alice", "version": "1"},
        },
    }
    opened = httpx.post(
        f"{pair.a}/mcp", json=hello, headers={**accept, "Authorization": f"Bearer {pair.alice}"}, timeout=30
    )
    session = opened.headers["mcp-session-id"]
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    as_bob = httpx.post(
        f"{pair.a}/mcp",
        json=call,
        headers={**accept, "Authorization": f"Bearer {pair.bob}", "Mcp-Session-Id": session},
        timeout=30,
    )
    as_alice = httpx.post(
        f"{pair.a}/mcp",
        json=call,
        headers={**accept, "Authorization": f"Bearer {pair.alice}", "Mcp-Session-Id": session},
        timeout=30,
    )
    assert as_alice.status_code == 200 and "ensure_cluster" in as_alice.text
    assert as_bob.status_code == 404 and as_bob.json()["error"]["message"] == UNKNOWN_SESSION, as_bob.text
    assert "ensure_cluster" not in as_bob.text


# -- 5: a daily budget against purchases split across both replicas ---------------------------------------------------


async def test_a_daily_budget_holds_against_purchases_split_across_replicas(pair: Pair) -> None:
    """Two quotes that each fit carol's budget and together do not, paid at once on A and on B: one pays."""
    async with on_both(pair, pair.carol, pair.carol) as (here, there):
        hourly = Decimal(str((await here.call_tool("estimate_cost", {"plan": PLAN})).structured_content["total"]))
        hours = int(BUDGET / hourly)
        assert 2 * hours * hourly > BUDGET >= hours * hourly, (hourly, hours)
        plan = {**PLAN, "hours": hours}
        quotes = [await quote(here, plan), await quote(there, plan)]
        results: dict[int, types.CallToolResult] = {}

        async def buy(n: int, client: Client) -> None:
            args = {"name": f"acf-rt-budget-{n}", "quote_id": quotes[n], "wait_seconds": 0}
            results[n] = await client.call_tool("ensure_cluster", args)

        async with anyio.create_task_group() as tg:
            tg.start_soon(buy, 0, here)
            tg.start_soon(buy, 1, there)
    paid = [n for n, r in results.items() if not r.is_error]
    assert len(paid) == 1, {n: text_of(r) for n, r in results.items()}
    refusal = text_of(results[1 - paid[0]])
    assert "Quote refused (over_budget)" in refusal and f"over your daily budget of {BUDGET} CNY" in refusal, refusal
    await created(pair, 1)
    assert [outcome(pair.url, q) for q in quotes].count("redeemed") == 1


# -- 6: a replica started with another quote secret on the same ledger ----------------------------------------------


def another_secret(pair: Pair, tmp: Path) -> dict[str, str]:
    return {
        **pair.env,
        "ACK_COMPUTE_QUOTE_SECRET": "not-the-team-secret-" + "m" * 20,
        "ACK_COMPUTE_STATE_DIR": str(tmp),
    }


def test_a_replica_with_another_quote_secret_refuses_to_start(pair: Pair, tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    with log.open("w") as stderr:
        try:
            server = launcher.start_http([], another_secret(pair, tmp_path / "state-c"), stderr, log)
        except AssertionError:  # it exited before listening
            said = log.read_text()
            assert "ack-compute-mcp: not serving: the shared ledger's servers use another quote secret" in said
            assert "Give every replica the same ACK_COMPUTE_QUOTE_SECRET." in said
            assert "not-the-team-secret" not in said and SECRET not in said
            return
        launcher.stop_http(server)
    pytest.fail("a replica with another quote secret started on the shared ledger")


# -- 7: a replica stuck holding the ledger's write lock ---------------------------------------------------------------


async def test_a_replica_stuck_in_a_ledger_transaction_does_not_hang_the_other(pair: Pair) -> None:
    with connect(pair.url) as stuck:
        stuck.execute("BEGIN")
        stuck.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
        async with caller(pair.b, pair.alice) as alice:
            started = time.monotonic()
            with anyio.fail_after(60):
                result = await alice.call_tool("estimate_cost", {"plan": PLAN})
            took = time.monotonic() - started
        stuck.execute("ROLLBACK")
    assert result.is_error and text_of(result) == (
        "The ledger is busy: another server replica held its write lock for "
        "over 10 s, so nothing was done. Try again in a minute. If it persists, the operator should look for a "
        "replica stuck in a transaction (pg_stat_activity)."
    ), text_of(result)
    assert LOCK_WAIT_MS / 1000 <= took < LOCK_WAIT_MS / 1000 + 20, took
