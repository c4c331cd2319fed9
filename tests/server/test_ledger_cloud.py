"""`serve --sandbox` and a real `serve` never share a ledger, whatever ACK_COMPUTE_STATE_DIR or
ACK_COMPUTE_DATABASE_URL say: the second to start on the first one's ledger stops with exit code 2, a line that says
what to do (never a password), and the ledger exactly as it was. A sandbox on a state dir of its own keeps it across
restarts."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from ack_compute.sandbox import SandboxCloud
from ack_compute.tools.ledger import Ledger
from tests.helpers.processes import serve_once

PLAN = {"kind": "acs", "vcpu": 1, "memory_gib": 2, "hours": 1}
SECRET = "q" * 40
NOT_SERVING = "ack-compute-mcp: not serving: the ledger at "
REAL_REFUSED = (
    "belongs to the embedded sandbox cloud, and this server serves the real Alibaba Cloud: the sandbox's clusters, "
    "leases and spend would count as real ones"
)
SANDBOX_REFUSED = "belongs to the real Alibaba Cloud, and this server serves the embedded sandbox cloud"
SANDBOX_FIX = "unset ACK_COMPUTE_STATE_DIR and ACK_COMPUTE_DATABASE_URL for it"


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """No operator settings, no keys, no ECS metadata: only what each case sets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "ACK_COMPUTE_"))}
    return {**env, "HOME": str(home), "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true", **extra}


async def quote_through(args: list[str], env: dict[str, str], log: Path) -> str:
    """A server process as an MCP client starts it; one estimate, whose quote the server records in its ledger."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "ack_compute.server", "serve", *args], env=env)
    with log.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            result = await client.call_tool("estimate_cost", {"plan": PLAN})
    assert not result.is_error, result.content
    return str((result.structured_content or {})["quote_id"])


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a SQLite ledger, read-only."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}


def refusal(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2 and done.stdout == "", done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(NOT_SERVING), done.stderr
    assert "Traceback" not in done.stderr
    return last


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_real_server_refuses_the_ledger_a_sandbox_server_wrote(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = clean_env(tmp_path, ACK_COMPUTE_STATE_DIR=str(state))  # as an MCP client's config sets it
    quote_id = await quote_through(["--sandbox"], env, tmp_path / "sandbox.log")
    ledger = state / "ledger.sqlite3"
    before = dump(ledger)
    assert [row[0] for row in before["quotes"]] == [quote_id]

    last = refusal(serve_once(env=env))
    assert last.startswith(f"{NOT_SERVING}{ledger} {REAL_REFUSED}")
    assert dump(ledger) == before

    again = serve_once("--sandbox", env=env)  # the sandbox itself keeps its state dir across restarts
    assert again.returncode == 0, again.stderr
    assert [row[0] for row in dump(ledger)["quotes"]] == [quote_id]


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_sandbox_server_refuses_a_real_servers_ledger_and_keeps_a_throwaway_one_without_it(
    tmp_path: Path, cloud: SandboxCloud
) -> None:
    state = tmp_path / "state"
    # Configured as a real deployment is (keys, endpoint, state dir): a server of the real cloud as far as it knows.
    real_env = {**clean_env(tmp_path), **cloud.server_env(state)}
    quote_id = await quote_through([], real_env, tmp_path / "real.log")
    ledger = state / "ledger.sqlite3"
    before = dump(ledger)
    assert [row[0] for row in before["quotes"]] == [quote_id]

    last = refusal(serve_once("--sandbox", env=clean_env(tmp_path, ACK_COMPUTE_STATE_DIR=str(state))))
    assert last.startswith(f"{NOT_SERVING}{ledger} {SANDBOX_REFUSED}") and SANDBOX_FIX in last
    assert dump(ledger) == before

    throwaway = serve_once("--sandbox", env=clean_env(tmp_path))  # what the message says to do
    assert throwaway.returncode == 0, throwaway.stderr
    assert dump(ledger) == before


def test_a_sandbox_server_refuses_a_shared_real_ledger_without_showing_its_password(
    tmp_path: Path, postgres_url: str
) -> None:
    url = sa.make_url(str(postgres_url))  # the test role logs in with a password
    assert url.password
    real = Ledger(str(postgres_url))
    real.belong_to("alibaba-cloud")
    before = real.query("SELECT name, value, updated_at FROM ledger_facts")

    done = serve_once(
        "--sandbox",
        env=clean_env(
            tmp_path,
            ACK_COMPUTE_STATE_DIR=str(tmp_path / "state"),
            ACK_COMPUTE_DATABASE_URL=str(postgres_url),
            ACK_COMPUTE_QUOTE_SECRET=SECRET,
        ),
    )
    last = refusal(done)
    assert last.startswith(f"{NOT_SERVING}{url.render_as_string(hide_password=True)} {SANDBOX_REFUSED}")
    assert str(url.password) not in done.stderr
    assert real.query("SELECT name, value, updated_at FROM ledger_facts") == before  # not even the secret's mark
