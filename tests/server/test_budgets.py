"""Budgets per caller through a real `serve --http` process: the tokens file gives alice `daily_budget: 1`, so a 2 h
plan at 0.73/h gets no quote; bob (no budget) gets one. The caller policy file gives OAuth callers theirs; a bad or
conflicting file stops the server before it listens."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.provider import AccessToken

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.access import STATIC_ADMIN_SCOPE, caller_of, http_access
from ack_compute.server.app import build_server
from ack_compute.server.settings import Settings

pytestmark = pytest.mark.anyio
TWO_HOURS = {
    "kind": "cluster",
    "instance_types": ["ecs.g7.large"],
    "node_count": 1,
    "zone": "cn-hangzhou-h",
    "hours": 2,
}


def write_tokens(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"tokens": rows}))
    path.chmod(0o600)
    return path


def entry(subject: str, token: str, **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "sha256": hashlib.sha256(token.encode()).hexdigest(), **extra}


def client_as(base: str, token: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    return Client(streamable_http_client(f"{base}/mcp", http_client=http))


async def test_a_daily_budget_of_1_gets_no_quote_for_2_hours_at_0_73(
    cloud: SandboxCloud, tmp_path: Path, serve_http: Any
) -> None:
    alice, bob = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    tokens = write_tokens(tmp_path / "tokens.json", [entry("alice", alice, daily_budget=1), entry("bob", bob)])
    env = {**os.environ, **cloud.server_env(tmp_path / "state")}
    with serve_http.serving(["--tokens-file", str(tokens)], env, tmp_path / "serve.log") as server:
        async with client_as(server.base, alice) as a, client_as(server.base, bob) as b:
            refused = (await a.call_tool("estimate_cost", {"plan": TWO_HOURS})).structured_content or {}
            quoted = (await b.call_tool("estimate_cost", {"plan": TWO_HOURS})).structured_content or {}
            listed = (await a.call_tool("list_resources", {})).structured_content or {}
            spend = json.loads((await a.read_resource("ledger://spend")).contents[0].text)  # type: ignore[union-attr]
    assert str(refused["hourly_total"]) == "0.7267" and "quote_id" not in refused and "expires_at" not in refused
    assert refused["budget"]["message"] == (
        "This plan's total 1.4534 CNY would bring your spend today to 1.46 CNY, over your daily budget of 1 CNY "
        "(spent today 0.00, committed by running leases 0.00). Choose fewer hours or smaller compute, or ask the "
        "operator to raise the budget."
    )
    assert quoted["quote_id"].startswith("q-") and "daily_budget" not in quoted["budget"]
    assert listed["resources"] == [] and listed["callers"] == [
        {"caller": "alice", "currency": "CNY", "today": 0.0, "month": 0.0, "committed": 0.0, "daily_budget": 1.0}
    ], "her own line, with her budget, before she spent anything"
    assert spend == {
        "caller": "alice",
        "days": [],
        "months": [],
        "committed": [],
        "budgets": {"currency": "CNY", "daily_budget": "1"},
    }


def test_the_caller_policy_file_gives_oauth_callers_their_budgets(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"callers": {"dana@example.com": {"daily_budget": 3, "monthly_budget": 40}}}))
    settings = Settings(
        state_dir=tmp_path / "state",
        oauth_issuer_url="https://auth.example.com",
        oauth_introspection_url="https://auth.example.com/introspect",
        oauth_resource_url="https://mcp.example.com/mcp",
        caller_policy_file=policy,
        allowed_hosts=["mcp.example.com"],
    )
    access = http_access(settings, "0.0.0.0", 8765)
    dana = caller_of(AccessToken(token="t", client_id="c", subject="dana@example.com", scopes=[]), "x", access.budgets)
    assert (dana.budget.daily_budget, dana.budget.monthly_budget) == (3, 40)
    other = caller_of(AccessToken(token="t", client_id="erin", scopes=[]), STATIC_ADMIN_SCOPE, access.budgets)
    assert other.budget.daily_budget is None, "the server's defaults apply to her"


def serve_refusal(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ack_compute.server", "serve", "--http", "--port", "1"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    return done.stderr.strip().splitlines()[-1]


def test_a_bad_or_conflicting_policy_stops_the_server_before_it_listens(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(32)
    tokens = write_tokens(tmp_path / "tokens.json", [entry("alice", token, daily_budget=1)])
    policy = tmp_path / "policy.json"
    base = {"ACK_COMPUTE_STATE_DIR": str(tmp_path / "state"), "ACK_COMPUTE_CALLER_POLICY_FILE": str(policy)}
    policy.write_text(json.dumps({"callers": {"alice": {"daily_budget": -1}}}))
    assert serve_refusal(base) == (
        f"ack-compute-mcp: not serving over HTTP: caller policy file {policy} is invalid (callers.alice.daily_budget: "
        "Input should be greater than 0). Expected "
        '{"callers": {"<subject>": {"daily_budget": 5, "monthly_budget": 100}}}.'
    )
    policy.write_text(json.dumps({"callers": {"alice": {"monthly_budget": 30}}}))
    assert serve_refusal({**base, "ACK_COMPUTE_HTTP_TOKENS_FILE": str(tokens)}) == (
        "ack-compute-mcp: not serving over HTTP: budgets for alice are in both the tokens file and the caller policy "
        "file; keep them in one of the two."
    )


async def test_on_the_international_site_caps_are_in_usd_and_a_usd_quote_within_them_is_given(
    cloud: SandboxCloud, make_runtime: Any
) -> None:
    acs = {"kind": "acs", "vcpu": 1, "memory_gib": 2, "replicas": 1, "hours": 1}
    server = build_server(make_runtime(site="international", max_hourly=5))
    async with Client(server) as client:
        est = (await client.call_tool("estimate_cost", {"plan": acs})).structured_content or {}
    assert est["currency"] == "USD" and est["quote_id"].startswith("q-"), est
    assert est["budget"]["within_caps"] is True, est
    # An operator who sets the currency keeps it: a USD quote is then refused against CNY caps, in words.
    server = build_server(make_runtime(site="international", max_hourly=5, budget_currency="CNY"))
    async with Client(server) as client:
        refused = (await client.call_tool("estimate_cost", {"plan": acs})).structured_content or {}
    assert "quote_id" not in refused and refused["budget"]["within_caps"] is False, refused
    assert "in CNY but this quote is in USD" in refused["budget"]["message"], refused
