"""A third-party client: the MCP Inspector CLI (Node) drives the real server over stdio and HTTP.

Needs the Inspector (scripts/install-inspector.sh, run by .ci/run); skipped when it is absent unless
ACK_COMPUTE_REQUIRE_INSPECTOR=1, which CI sets so a missing install fails loudly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ack_compute.sandbox import SandboxCloud
from tests.helpers.node import node_bin

pytestmark = pytest.mark.slow
SERVE = [sys.executable, "-m", "ack_compute.server", "serve", "--sandbox"]  # stdio: the Inspector starts it
INSPECTOR = Path(
    os.environ.get(
        "ACK_COMPUTE_INSPECTOR",
        Path.home() / ".cache/ack-compute-mcp/inspector-2.12.0/node_modules/.bin/mcp-inspector",
    )
)


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


def estimate(env: dict[str, str], target: list[str], plan: dict[str, object]) -> subprocess.CompletedProcess[str]:
    """estimate_cost called through the Inspector's CLI."""
    args = ["--method", "tools/call", "--tool-name", "estimate_cost", "--tool-args-json", json.dumps({"plan": plan})]
    return inspect(env, target, *args)


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
    done = estimate(inspector_env, target, plan)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert not result.get("isError")
    est = result["structuredContent"]
    assert est["currency"] == "CNY" and est["quote_id"] and est["hourly_total"] > 0.64


def test_inspector_sees_a_refusal_as_an_error_result(inspector_env: dict[str, str], target: list[str]) -> None:
    done = estimate(inspector_env, target, {"kind": "cluster", "node_count": 101})
    assert done.returncode == 5, (done.returncode, done.stdout, done.stderr)
    assert "node_count" in done.stdout


def test_inspector_without_the_token_is_turned_away(inspector_env: dict[str, str], http_url: str) -> None:
    """Exit 3 is the Inspector's "auth required": the server answered 401 and nothing ran."""
    done = inspect(inspector_env, [http_url, "--transport", "http"], "--method", "tools/list")
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    assert "estimate_cost" not in done.stdout


# -- the new verbs: extend_lease, list_resources, get_operation's log cursor, cancel_operation --------------------
# Both transports run against one sandbox cloud of this module's own (600x clock) through the production path (keys
# in the environment, an endpoint override), so calls chain: over stdio every Inspector call starts a new server on
# the shared state dir, which resumes what the last one left running; over HTTP one server answers them all.


@pytest.fixture(scope="module")
def verbs_cloud() -> Iterator[SandboxCloud]:
    with SandboxCloud(time_scale=600) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def verbs_http(
    inspector_env: dict[str, str], verbs_cloud: SandboxCloud, tmp_path_factory: pytest.TempPathFactory, serve_http: Any
) -> Iterator[str]:
    root = tmp_path_factory.mktemp("inspector-verbs-http")
    env = {
        **inspector_env,
        **verbs_cloud.server_env(root / "state", log_level="WARNING"),
        "ACK_COMPUTE_HTTP_TOKEN": TOKEN,
    }
    with serve_http.serving([], env, root / "server-stderr.log") as server:
        yield server.url


@pytest.fixture(params=["stdio", "http"])
def verbs_target(request: pytest.FixtureRequest, verbs_cloud: SandboxCloud, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """(transport, Inspector arguments). stdio: a host-style server config (0600: it holds keys) naming the command
    and its environment, as desktop hosts write mcp.json."""
    if request.param == "http":
        url = request.getfixturevalue("verbs_http")
        return "http", [url, "--transport", "http", "--header", f"Authorization: Bearer {TOKEN}"]
    root = tmp_path_factory.mktemp("inspector-verbs-stdio")
    env = verbs_cloud.server_env(root / "state", log_level="WARNING")
    config = root / "mcp.json"
    config.touch(mode=0o600)
    command = {"command": sys.executable, "args": ["-m", "ack_compute.server", "serve"], "env": env}
    config.write_text(json.dumps({"mcpServers": {"ack": command}}))
    return "stdio", ["--config", str(config), "--server", "ack"]


def call(env: dict[str, str], target: list[str], tool: str, **arguments: Any) -> dict[str, Any]:
    """One tools/call through the Inspector CLI; the result as the Inspector prints it (exit 5: an error result)."""
    done = inspect(
        env, target, "--method", "tools/call", "--tool-name", tool, "--tool-args-json", json.dumps(arguments)
    )
    assert done.returncode in (0, 5), (tool, done.returncode, done.stdout, done.stderr[-2000:])
    result = json.loads(done.stdout)
    assert bool(result.get("isError")) == (done.returncode == 5), result
    return result


def test_inspector_lists_what_it_pays_for_follows_a_jobs_log_and_cancels_it(
    inspector_env: dict[str, str], verbs_target: tuple[str, list[str]]
) -> None:
    transport, target = verbs_target
    plan = {"kind": "cluster", "instance_types": ["ecs.g7.xlarge"], "node_count": 1, "zone": "cn-hangzhou-h"}
    est = call(inspector_env, target, "estimate_cost", plan=plan)["structuredContent"]
    made = call(inspector_env, target, "ensure_cluster", name=f"acf-insp-{transport}", quote_id=est["quote_id"],
                wait_seconds=45)["structuredContent"]  # fmt: skip
    while made.get("status") == "creating":
        view = call(inspector_env, target, "get_operation", operation_id=made["operation_id"])["structuredContent"]
        made = view.get("result") or made
    assert made["status"] == "created", made

    # extend_lease: the lease's plan for 1 more hour (the Inspector cannot ask a person: the token policy pays).
    operation = call(inspector_env, target, "get_operation", operation_id=made["operation_id"])["structuredContent"]
    ask = call(inspector_env, target, "extend_lease", operation_id=made["operation_id"])["structuredContent"]
    assert ask["status"] == "quote_required" and ask["lease_ends_at"] == operation["lease_ends_at"], (ask, operation)
    more = call(inspector_env, target, "estimate_cost", plan=ask["plan_to_quote"])["structuredContent"]
    extended = call(inspector_env, target, "extend_lease", operation_id=made["operation_id"], quote_id=more["quote_id"])
    assert extended["structuredContent"]["status"] == "extended", extended
    assert (
        extended["structuredContent"]["hours_added"] == 1
        and extended["structuredContent"]["lease_ends_at"] > (ask["lease_ends_at"])
    )

    # list_resources: the cluster, running, at the quoted price, and a total per currency.
    listed = call(inspector_env, target, "list_resources")["structuredContent"]
    (row,) = [r for r in listed["resources"] if r["kind"] == "cluster"]
    assert (row["id"], row["state"], row["hourly"]) == (made["cluster_id"], "running", est["hourly_total"]), row
    assert [t["currency"] for t in listed["totals"]] == [est["currency"]] and listed["totals"][0]["hourly"] >= row[
        "hourly"
    ]

    # get_operation on a running job hands over the lines written since the last call, once each.
    script = "echo first\nsleep 2\necho second\nsleep 120\necho never\n"
    job = call(inspector_env, target, "run_job", cluster=made["cluster_id"], script=script, wait_seconds=0)
    operation_id = job["structuredContent"]["operation_id"]
    followed, deadline = "", time.monotonic() + 90
    while "second" not in followed and time.monotonic() < deadline:
        view = call(inspector_env, target, "get_operation", operation_id=operation_id, wait_seconds=3)
        view = view["structuredContent"]
        assert view["state"] == "running" and "outcome" not in view, view
        followed += view.get("log") or ""
    assert followed == "first\nsecond\n", followed

    # cancel_operation stops it, deletes its Job and says so; the operation then reads done / cancelled.
    cancelled = call(inspector_env, target, "cancel_operation", operation_id=operation_id)["structuredContent"]
    assert cancelled["status"] in ("cancelled", "cancelling"), cancelled
    assert cancelled["cleaned_up"][0].startswith(f"Job default/{job['structuredContent']['job_name']}"), cancelled
    final = call(inspector_env, target, "get_operation", operation_id=operation_id, wait_seconds=20)
    assert (final["structuredContent"]["state"], final["structuredContent"]["outcome"]) == ("done", "cancelled")
    again = call(inspector_env, target, "cancel_operation", operation_id=operation_id)["structuredContent"]
    assert again["status"] == "already_done", again

    unknown = call(inspector_env, target, "cancel_operation", operation_id="op-0000000000000000")
    assert unknown["isError"] and "No operation 'op-0000000000000000'" in unknown["content"][0]["text"]
