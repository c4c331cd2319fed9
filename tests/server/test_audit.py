"""`ack-compute-mcp audit`: after a real purchase on the sandbox (an MCP client whose person says yes), the real CLI
prints the consent and purchase receipts as JSON lines, with who, which quote, the plan, the price, the lease, how
and when, and no secret; a bad --since is a plain error with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.app import build_server
from ack_compute.server.runtime import Runtime
from ack_compute.tools.quotes import SECRET_FILE
from tests.helpers.agent import accept, cluster_plan

pytestmark = pytest.mark.anyio
PLAN: dict[str, Any] = cluster_plan()


def audit(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "ACK_COMPUTE_"))}
    return subprocess.run(
        [sys.executable, "-m", "ack_compute.server", "audit", "--state-dir", str(state_dir), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_audit_exports_the_consent_and_purchase_of_a_real_purchase_without_secrets(
    world: SandboxCloud, runtime_on: Callable[..., Runtime], tmp_path: Path
) -> None:
    runtime = runtime_on(world)
    async with Client(build_server(runtime), elicitation_callback=accept) as client:
        est = await client.call_tool("estimate_cost", {"plan": PLAN})
        token = (est.structured_content or {})["quote_id"]
        created = await client.call_tool(
            "ensure_cluster", {"name": "audited", "plan": PLAN, "quote_id": token, "wait_seconds": 40}
        )
    assert not created.is_error, created.content

    done = audit(tmp_path, "--since", "24h")

    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    events = [line["event"] for line in lines]
    assert events == ["consent", "purchase"], lines
    consent, purchase = lines
    hourly = str((est.structured_content or {})["hourly_total"])
    assert consent["caller"] == purchase["caller"] == "local operator", "stdio: the person running the server"
    assert consent["quote_id"] == purchase["quote_id"] == token, "the quote's id: no secret (the signature stays put)"
    assert consent["answer"] == "accepted" and "elicitation" in consent["how"]
    assert consent["plan"]["instance_types"] == ["ecs.g7.xlarge"] and consent["kind"] == "cluster"
    assert (consent["currency"], consent["hourly"]) == (purchase["currency"], purchase["hourly"])
    assert float(consent["hourly"]) == pytest.approx(float(hourly))
    assert consent["at"].endswith("Z") and consent["at"] <= purchase["at"]
    (lease,) = consent["leases"]
    assert lease["ends_at"] == purchase["lease_ends_at"] and lease["state"] == "active"
    assert purchase["operation_id"] and purchase["resource_id"] == lease["resource_id"]

    secrets = [
        world.access_key_secret,
        world.access_key_id,
        "-----BEGIN",  # any PEM: a kubeconfig's client key or certificate
        "client-key-data",
        (tmp_path / SECRET_FILE).read_bytes().hex(),
        (tmp_path / SECRET_FILE).read_text(errors="ignore").strip(),
    ]
    assert not [s for s in secrets if s and s in done.stdout + done.stderr]

    assert audit(tmp_path, "--since", "2999-01-01T00:00:00Z").stdout == "", "nothing after a future time"
    assert audit(tmp_path, "--since", "2020-01-01").stdout.count("\n") == 2


def test_a_bad_since_is_a_plain_error_with_exit_2(tmp_path: Path) -> None:
    done = audit(tmp_path, "--since", "yesterday-ish")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == (
        "ack-compute-mcp audit: --since 'yesterday-ish' is neither an ISO 8601 time (e.g. 2026-12-03T09:00:00Z) nor "
        "a duration (e.g. 24h, 30m, 7d)."
    )


def test_a_state_dir_without_a_ledger_is_a_plain_error(tmp_path: Path) -> None:
    done = audit(tmp_path / "nowhere")
    assert done.returncode == 2 and "no ledger at" in done.stderr and "--state-dir" in done.stderr
    assert not (tmp_path / "nowhere").exists(), "auditing changes nothing"
