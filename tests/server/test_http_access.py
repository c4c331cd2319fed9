"""HTTP access through real clients against a real server process: bearer tokens, OAuth introspection, Host and
Origin allowlists, startup refusals, and several callers who each see and clean up only their own resources."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from ack_compute.sandbox import SandboxCloud
from tests.security.purchase_helpers import tokens_file  # digests, not tokens, as an operator stores them

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
ACS = {"kind": "acs", "vcpu": 1, "memory_gib": 2}
CLUSTER = {"kind": "cluster", "instance_types": ["ecs.g7.xlarge"], "node_count": 1, "zone": "cn-hangzhou-h"}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ack_compute.server", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def running_server(serve_http: Any) -> Any:
    """`serve --http` against the sandbox: `with running_server(cloud, state, *args, env=, port=) as base`. Its log
    goes to `<state>.log`."""

    @contextmanager
    def run(
        cloud: SandboxCloud, state: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None
    ) -> Iterator[str]:
        full_env = {**os.environ, **cloud.server_env(state), **(env or {})}
        with serve_http.serving(args, full_env, state.with_name(f"{state.name}.log"), port) as server:
            yield server.base

    return run


def client_as(base: str, token: str | None) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(streamable_http_client(f"{base}/mcp", http_client=httpx2.AsyncClient(headers=headers, timeout=60)))


async def call(client: Client, tool: str, args: dict[str, Any]) -> tuple[bool, Any]:
    result = await client.call_tool(tool, args)
    if result.is_error:
        return False, result.content[0].text  # type: ignore[union-attr]
    return True, result.structured_content


async def ledger(client: Client) -> list[dict[str, Any]]:
    read = await client.read_resource("ledger://resources")
    return json.loads(read.contents[0].text)["resources"]  # type: ignore[union-attr]


# --- refusals at startup: nothing listens, and the message says what to set -----------------------------------


def test_startup_refuses_unsafe_http(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(32)
    state = {"ACK_COMPUTE_STATE_DIR": str(tmp_path)}
    open_to_all = cli("serve", "--http", "--host", "0.0.0.0", "--sandbox", env=state)
    assert open_to_all.returncode == 2 and "without authentication" in open_to_all.stderr
    assert "ACK_COMPUTE_HTTP_TOKEN" in open_to_all.stderr

    no_hosts = cli("serve", "--http", "--host", "0.0.0.0", "--sandbox", env={**state, "ACK_COMPUTE_HTTP_TOKEN": token})
    assert no_hosts.returncode == 2 and "ACK_COMPUTE_ALLOWED_HOSTS" in no_hosts.stderr

    short = cli("serve", "--http", "--sandbox", env={**state, "ACK_COMPUTE_HTTP_TOKEN": "hunter2-hunter2"})
    assert short.returncode == 2 and "at least 32" in short.stderr and "hunter2" not in short.stderr

    both = cli(
        "serve",
        "--http",
        "--sandbox",
        "--oauth-issuer-url",
        "https://id.example.com",
        env={**state, "ACK_COMPUTE_HTTP_TOKEN": token},
    )
    assert both.returncode == 2 and "choose one" in both.stderr

    partial = cli("serve", "--http", "--sandbox", "--oauth-issuer-url", "https://id.example.com", env=state)
    assert partial.returncode == 2
    assert (
        "ACK_COMPUTE_OAUTH_INTROSPECTION_URL" in partial.stderr and "ACK_COMPUTE_OAUTH_RESOURCE_URL" in partial.stderr
    )

    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [{"subject": "alice", "token": token}]}))
    tokens.chmod(0o644)
    readable = cli("serve", "--http", "--sandbox", "--tokens-file", str(tokens), env=state)
    assert readable.returncode == 2 and f"chmod 600 {tokens}" in readable.stderr
    tokens.chmod(0o600)
    tokens.write_text(json.dumps({"tokens": [{"subject": "alice"}]}))
    invalid = cli("serve", "--http", "--sandbox", "--tokens-file", str(tokens), env=state)
    assert invalid.returncode == 2 and "exactly one of token or sha256" in invalid.stderr
    for run in (open_to_all, no_hosts, short, both, partial, readable, invalid):
        assert token not in run.stderr + run.stdout
        assert "serving MCP" not in run.stderr


# --- one bearer token -------------------------------------------------------------------------------------------


async def test_bearer_token_guards_mcp_but_not_health(cloud: SandboxCloud, tmp_path: Path, running_server: Any) -> None:
    token = secrets.token_urlsafe(32)
    with running_server(cloud, tmp_path, env={"ACK_COMPUTE_HTTP_TOKEN": token}) as base:
        health = httpx.get(f"{base}/healthz")
        assert health.json() == {
            "status": "ok",
            "server": "ack-compute-mcp",
            "version": health.json()["version"],
            "read_only": False,
        }
        anonymous = httpx.post(f"{base}/mcp", json=INIT, headers=MCP_HEADERS)
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
        wrong = httpx.post(f"{base}/mcp", json=INIT, headers={**MCP_HEADERS, "Authorization": f"Bearer {token[:-1]}x"})
        assert wrong.status_code == 401
        async with client_as(base, token) as client:
            ok, estimate = await call(client, "estimate_cost", {"plan": ACS})
            names = {t.name for t in (await client.list_tools()).tools}
        assert ok and estimate["quote_id"]
        assert {"ensure_cluster", "run_job", "deploy_acs", "cleanup"} <= names
        before = cloud.counts().get("CreateCluster", 0)
        with pytest.raises(BaseExceptionGroup):  # the SDK surfaces the 401 as an error; nothing is called
            async with client_as(base, "not-the-token-" + "x" * 32) as client:
                await client.call_tool("ensure_cluster", {"name": "acf-nope"})
        assert cloud.counts().get("CreateCluster", 0) == before


async def test_host_and_origin_allowlists(cloud: SandboxCloud, tmp_path: Path, running_server: Any) -> None:
    with running_server(cloud, tmp_path, "--allowed-origin", "https://console.example.com") as base:
        evil_host = httpx.post(f"{base}/mcp", json=INIT, headers={**MCP_HEADERS, "Host": "evil.example.com"})
        assert evil_host.status_code == 421
        evil_origin = httpx.post(f"{base}/mcp", json=INIT, headers={**MCP_HEADERS, "Origin": "https://evil.example"})
        assert evil_origin.status_code == 403
        allowed = httpx.post(f"{base}/mcp", json=INIT, headers={**MCP_HEADERS, "Origin": "https://console.example.com"})
        assert allowed.status_code == 200


# --- several callers: quotes bound to who asked, each sees and cleans up their own --------------------------------


@pytest.fixture
def world_600() -> Iterator[SandboxCloud]:
    with SandboxCloud(time_scale=600) as cloud:
        yield cloud


async def test_each_caller_sees_and_cleans_only_their_own(
    world_600: SandboxCloud, tmp_path: Path, running_server: Any
) -> None:
    alice, bob, ops = (secrets.token_urlsafe(32) for _ in range(3))
    file = tokens_file(tmp_path / "tokens.json", {"alice": (alice, False), "bob": (bob, False), "ops": (ops, True)})
    with running_server(world_600, tmp_path / "state", "--tokens-file", str(file)) as base:
        async with client_as(base, alice) as a, client_as(base, bob) as b, client_as(base, ops) as admin:
            _, quote = await call(a, "estimate_cost", {"plan": CLUSTER})
            # Bob cannot spend Alice's quote, even with her exact plan.
            ok, refusal = await call(
                b, "ensure_cluster", {"name": "acf-bob", "plan": CLUSTER, "quote_id": quote["quote_id"]}
            )
            assert not ok and "not_yours" in refusal and "estimate_cost yourself" in refusal
            assert world_600.counts().get("CreateCluster", 0) == 0
            ok, made = await call(
                a,
                "ensure_cluster",
                {"name": "acf-alice", "plan": CLUSTER, "quote_id": quote["quote_id"], "wait_seconds": 40},
            )
            assert ok and made["status"] == "created", made
            alice_rows = await ledger(a)
            assert {r["kind"] for r in alice_rows} >= {"cluster", "vpc", "vswitch"}
            assert {r["owner"] for r in alice_rows} == {"alice"}
            assert await ledger(b) == []
            assert {r["resource_id"] for r in await ledger(admin)} == {r["resource_id"] for r in alice_rows}
            op = alice_rows[0]["operation_id"]
            ok, unknown = await call(b, "get_operation", {"operation_id": op, "wait_seconds": 0})
            assert not ok and f"No operation {op!r}" in unknown
            ok, seen = await call(admin, "get_operation", {"operation_id": op, "wait_seconds": 0})
            assert ok and seen["state"] == "done" and seen["outcome"] == "succeeded"
            ok, plan = await call(b, "cleanup", {})
            assert ok and plan["items"] == [] and plan["status"] == "nothing_to_do", plan
            ok, done = await call(b, "cleanup", {"dry_run": False})
            assert ok and world_600.clusters()[0].state == "running"
            ok, plan = await call(a, "cleanup", {})
            assert ok and {i["kind"] for i in plan["items"] if i["action"] == "delete"} >= {"cluster", "vpc"}
            ok, done = await call(a, "cleanup", {"dry_run": False, "wait_seconds": 50})
            assert ok and done["status"] == "done", done
    assert all(c.state == "deleted" for c in world_600.clusters())
    audit = (tmp_path / "state.log").read_text()
    assert "alice calls ensure_cluster" in audit and "bob calls cleanup" in audit and "ops calls get_operation" in audit
    assert not any(secret in audit for secret in (alice, bob, ops, world_600.access_key_secret))


# --- OAuth: a resource server trusting an authorization server's introspection ------------------------------------


@contextmanager
def introspection_server(answers: dict[str, dict[str, Any]]) -> Iterator[tuple[str, list[str]]]:
    """A stand-in authorization server over real HTTP: answers RFC 7662 requests from a table; records callers."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            token = parse_qs(body)["token"][0]
            seen.append(self.headers.get("Authorization", ""))
            payload = json.dumps(answers.get(token, {"active": False})).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()


async def test_oauth_resource_server(cloud: SandboxCloud, tmp_path: Path, running_server: Any, serve_http: Any) -> None:
    port_hint: dict[str, str] = {}

    def claims(sub: str, scope: str = "", aud: str | None = None, **extra: Any) -> dict[str, Any]:
        return {"active": True, "sub": sub, "scope": scope, "aud": aud or port_hint["resource"], **extra}

    answers: dict[str, dict[str, Any]] = {}
    with introspection_server(answers) as (issuer, seen):
        port = serve_http.free_port()
        resource = f"http://127.0.0.1:{port}/mcp"
        port_hint["resource"] = resource
        answers.update(
            {
                "tok-carol": claims("carol", "mcp"),
                "tok-ops": claims("ops", "mcp ack-compute:admin"),
                "tok-other-api": claims("carol", "mcp", aud="https://other.example.com/api"),
                "tok-expired": claims("carol", "mcp", exp=int(time.time()) - 5),
                "tok-no-scope": claims("dave", ""),
            }
        )
        args = [
            "--oauth-issuer-url",
            issuer,
            "--oauth-introspection-url",
            f"{issuer}/introspect",
            "--oauth-resource-url",
            resource,
        ]
        env = {
            "ACK_COMPUTE_OAUTH_REQUIRED_SCOPES": "mcp",
            "ACK_COMPUTE_OAUTH_CLIENT_ID": "ack-compute",
            "ACK_COMPUTE_OAUTH_CLIENT_SECRET": "rs-secret-" + "s" * 24,
        }
        with running_server(cloud, tmp_path, *args, env=env, port=port) as base:
            meta = httpx.get(f"{base}/.well-known/oauth-protected-resource/mcp")
            assert meta.status_code == 200
            assert [s.rstrip("/") for s in meta.json()["authorization_servers"]] == [issuer]
            assert meta.json()["resource"] == resource
            challenge = httpx.post(f"{base}/mcp", json=INIT, headers=MCP_HEADERS)
            assert challenge.status_code == 401 and "resource_metadata=" in challenge.headers["www-authenticate"]
            for bad, status in (
                ("tok-other-api", 401),
                ("tok-expired", 401),
                ("tok-unknown", 401),
                ("tok-no-scope", 403),
            ):
                got = httpx.post(f"{base}/mcp", json=INIT, headers={**MCP_HEADERS, "Authorization": f"Bearer {bad}"})
                assert got.status_code == status, (bad, got.status_code, got.text)
            async with client_as(base, "tok-carol") as carol, client_as(base, "tok-ops") as ops:
                ok, _ = await call(carol, "estimate_cost", {"plan": ACS})
                assert ok
                assert await ledger(carol) == []
                assert isinstance(await ledger(ops), list)
        assert seen and all(h.startswith("Basic ") for h in seen)  # the server authenticated its introspection


async def test_off_loopback_with_a_token_and_the_host_names(
    cloud: SandboxCloud, tmp_path: Path, running_server: Any
) -> None:
    token = secrets.token_urlsafe(32)
    # As the settings table says, the flag takes a comma-separated list (like ACK_COMPUTE_ALLOWED_HOSTS), and repeats.
    args = ["--host", "0.0.0.0", "--allowed-host", "mcp.example.com,mcp.example.net", "--allowed-host", "mcp.test"]
    with running_server(cloud, tmp_path, *args, env={"ACK_COMPUTE_HTTP_TOKEN": token}) as base:
        named = {**MCP_HEADERS, "Host": "mcp.example.com", "Authorization": f"Bearer {token}"}
        assert httpx.post(f"{base}/mcp", json=INIT, headers=named).status_code == 200
        for other in ("mcp.example.net", "mcp.test"):
            assert httpx.post(f"{base}/mcp", json=INIT, headers={**named, "Host": other}).status_code == 200, other
        assert (
            httpx.post(f"{base}/mcp", json=INIT, headers={**named, "Host": "mcp.example.com:8443"}).status_code == 200
        )
        assert httpx.post(f"{base}/mcp", json=INIT, headers={**named, "Host": "127.0.0.1"}).status_code == 421
        anonymous = {**MCP_HEADERS, "Host": "mcp.example.com"}
        assert httpx.post(f"{base}/mcp", json=INIT, headers=anonymous).status_code == 401


async def test_sigterm_stops_gracefully_and_says_what_is_in_flight(tmp_path: Path, serve_http: Any) -> None:
    """A service manager stops the server mid-create: uvicorn drains, the log names the operation, exit 143."""
    with SandboxCloud(time_scale=5) as slow:
        log = tmp_path / "server.log"
        with log.open("w") as stderr:
            server = serve_http.start([], {**os.environ, **slow.server_env(tmp_path / "state")}, stderr, log)
            try:
                async with client_as(server.base, None) as client:
                    _, est = await call(client, "estimate_cost", {"plan": CLUSTER})
                    ok, started = await call(
                        client,
                        "ensure_cluster",
                        {"name": "acf-stopped", "plan": CLUSTER, "quote_id": est["quote_id"], "wait_seconds": 0},
                    )
                assert ok and started["status"] == "creating", started
                server.process.terminate()
                assert server.process.wait(timeout=20) == 143
            finally:
                serve_http.stop(server)
        text = log.read_text()
        assert f"stopping with 1 operation(s) in flight ({started['operation_id']})" in text, text[-2000:]
        assert "Application shutdown complete" in text
