"""Shared by the purchase attack tests: real server processes (stdio and `serve --http`), what a client sees, and
an observer that reads the sandbox through the same real SDKs and kubernetes client the server uses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import httpx2
from mcp import Client, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from ack_compute.cloud.config import StaticCredentials
from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.server.settings import Settings
from ack_compute.tools.ledger import Ledger

SERVE = [sys.executable, "-m", "ack_compute.server", "serve"]


def declining(seen: list[str]):  # type: ignore[no-untyped-def]
    """An elicitation client whose person says no to everything, and remembers what it was asked."""

    async def callback(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        seen.append(params.message)
        return types.ElicitResult(action="decline")

    return callback


def stdio(env: dict[str, str], errlog: TextIO, *, elicit: Any = None, mode: str = "legacy") -> Client:
    """A real server subprocess over stdio, as desktop hosts start it."""
    params = StdioServerParameters(command=SERVE[0], args=SERVE[1:], env=env)
    return Client(stdio_client(params, errlog=errlog), elicitation_callback=elicit, mode=mode)


@asynccontextmanager
async def stdio_agent(env: dict[str, str], log: Path, *, elicit: Any = None) -> AsyncIterator[Client]:
    """A client connected to a real server subprocess over stdio whose stderr goes to the file `log`."""
    with log.open("w") as errlog:
        async with stdio(env, errlog, elicit=elicit) as client:
            yield client


def over_http(base: str, token: str) -> Client:
    headers = {"Authorization": f"Bearer {token}"}
    return Client(streamable_http_client(f"{base}/mcp", http_client=httpx2.AsyncClient(headers=headers, timeout=60)))


def tokens_file(path: Path, entries: dict[str, tuple[str, bool]]) -> Path:
    rows = [
        {"subject": who, "sha256": hashlib.sha256(tok.encode()).hexdigest(), "admin": admin}
        for who, (tok, admin) in entries.items()
    ]
    path.write_text(json.dumps({"tokens": rows}))
    path.chmod(0o600)
    return path


async def call(client: Client, tool: str, args: dict[str, Any]) -> tuple[bool, Any]:
    """(ok, structured result) or (False, the refusal text the agent reads)."""
    result = await client.call_tool(tool, args)
    if result.is_error:
        return False, result.content[0].text  # type: ignore[union-attr]
    return True, result.structured_content


def paid_job(cluster: str, script: str, plan: dict[str, Any], quote_id: str) -> dict[str, Any]:
    """run_job's arguments for `script` on ACS pods of `plan`, paid by the quote `quote_id`."""
    return {"cluster": cluster, "script": script, "compute": "acs", "acs": plan, "quote_id": quote_id}


async def quoted_deploy(client: Client, deployment: dict[str, Any]) -> tuple[dict[str, Any], tuple[bool, Any]]:
    """A quote for the deployment's plan, and deploy_acs of it paid by that quote: the quote and (ok, result)."""
    _, quote = await call(client, "estimate_cost", {"plan": deployment["plan"]})
    return quote, await call(client, "deploy_acs", {**deployment, "quote_id": quote["quote_id"]})


def env_for(cloud: SandboxCloud, state: Path, **settings: str) -> dict[str, str]:
    return {**os.environ, **cloud.server_env(state, log_level="WARNING", **settings)}


def virtual_node_cluster(cloud: SandboxCloud, name: str) -> str:
    """A Pro cluster with one worker node and ack-virtual-node: pods can land on billed virtual nodes."""
    return cloud.plant_cluster(name, nodes=1, cluster_spec="ack.pro.small", addons={"ack-virtual-node": None})


def observer(cloud: SandboxCloud, state: Path) -> Runtime:
    """Services of our own on the sandbox (a separate state dir) to look at what the server under attack did. Its
    kubeconfigs last 3 cluster-days: the default hour is 6 real seconds at a 600x clock, less than a loaded machine
    takes to start the server that reads a kubeconfig written from them."""
    settings = Settings(
        region="cn-hangzhou", state_dir=state, endpoint=cloud.endpoint, protocol="http", kubeconfig_minutes=4320
    )
    credentials = StaticCredentials(access_key_id=cloud.access_key_id, access_key_secret=cloud.access_key_secret)
    return Runtime.build(settings, credentials)


def api_client(look: Runtime, cluster_id: str) -> Any:
    """The observer's kubernetes ApiClient for a cluster: the cluster as another tenant of it sees it."""
    return look.targets.access(look.targets.resolve(cluster_id)).api_client()


def quote_outcome(state: Path, quote_id: str) -> str | None:
    """How the server's own ledger says a quote was used ('redeemed', 'declined'), or None while unused."""
    rows = Ledger(state / "ledger.sqlite3").query(
        "SELECT outcome FROM quote_redemptions WHERE quote_id = :q", {"q": quote_id}
    )
    return str(rows[0]["outcome"]) if rows else None


def live_rows(state: Path) -> list[dict[str, Any]]:
    rows = Ledger(state / "ledger.sqlite3").query(
        "SELECT kind, name, owner, state, quote_id FROM resources WHERE state NOT IN ('deleted', 'abandoned')"
    )
    return [dict(r) for r in rows]


def forge(secret: str, **payload: Any) -> str:
    """A token signed with the quote secret, as a local process that read it could make."""
    domain = b"ack-compute-mcp/quote/v1\x00"  # tools/quotes.py's signing domain
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    signature = hmac.new(secret.encode(), domain + body.encode(), hashlib.sha256).digest()
    return f"{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def cheap_claim(kind: str, plan_digest: str) -> dict[str, Any]:
    """A quote token's payload claiming a plan costs 0.01 CNY for an hour (valid ten minutes): what a forger signs."""
    now = int(time.time())
    return {
        "v": 1,
        "kind": kind,
        "region": "cn-hangzhou",
        "currency": "CNY",
        "total": "0.01",
        "hours": 1.0,
        "issued_at": now,
        "expires_at": now + 600,
        "hourly": "0.01",
        "plan_digest": plan_digest,
    }


def b64_payload(token: str) -> dict[str, Any]:
    body = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))
