"""Issue 13, attacks 3, 7 and 8, replayed against real server processes (stdio and `serve --http`).

3. Any caller named any kubeconfig context (`context:prod-admin@prod`, kube-system) and the server used the
   operator's credentials; an exec credential plugin ran on the server; an unknown context's error listed every
   context and the file's path. Now: only contexts in ACK_COMPUTE_ALLOWED_CONTEXTS, over HTTP only those granted to
   the caller (admins: all allowed), no exec plugins unless allowed, and refusals name only what the caller may use.
7. A server killed mid-create and restarted with --read-only resumed the create. Now it resumes nothing and says
   which operations wait for a full server.
8. The state dir was 0755 and the ledger 0644, and a sandbox job (run as root) read the quote secret. Now the dir
   is 0700 and every file 0600 whatever the umask, and the sandbox runs pods' commands as nobody.

Every refusal is checked word for word as the agent sees it, and checked to have created nothing.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as kube

from ack_compute.cloud.config import StaticCredentials
from ack_compute.sandbox import Fault, SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.server.settings import Settings
from tests.helpers.waiting import eventually, operation_view
from tests.security import access_helpers as helpers
from tests.server import conftest as launcher  # the one `serve --http` launcher

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

FAST = 600
PLAN = {"edition": "basic", "instance_types": ["ecs.g7.xlarge"], "node_count": 1, "zone": "cn-hangzhou-h", "hours": 1}
ALICE, BOB, ADMIN = ("alice-" + "a" * 40, "bob-" + "b" * 40, "admin-" + "c" * 40)
NEXT_NOT_ALLOWED = "Use an ACK cluster id or name, or one of the allowed contexts; nothing was created."
NEXT_NOT_GRANTED = (
    "Use an ACK cluster id or name, or ask the operator to grant the context (`contexts` in the tokens file, or the "
    "OAuth scope ack-compute:context:<name>)."
)


@dataclass
class Sky:
    """This module's cloud: two planted clusters (dev, prod) and a kubeconfig naming them as the operator would."""

    cloud: SandboxCloud
    root: Path
    dev: str
    prod: str
    kubeconfig: Path
    prod_kubeconfig: dict[str, Any]
    exec_marker: Path

    def env(self, name: str, **settings: str) -> dict[str, str]:
        return self.cloud.server_env(self.root / name, kubeconfig=str(self.kubeconfig), log_level="DEBUG", **settings)

    def prod_objects(self) -> tuple[list[str], list[str]]:
        """Every ConfigMap and Job in prod's kube-system: what a job sent there would leave."""
        from kubernetes import config

        api = config.new_client_from_config_dict(self.prod_kubeconfig)
        try:
            maps = kube.CoreV1Api(api).list_namespaced_config_map("kube-system").items
            jobs = kube.BatchV1Api(api).list_namespaced_job("kube-system").items
        finally:
            api.close()
        return sorted(m.metadata.name for m in maps), sorted(j.metadata.name for j in jobs)

    def created_in_cloud(self) -> list[str]:
        """What anything (a server process) created in this cloud: every non-planted VPC, vSwitch and cluster."""
        return (
            [v.vpc_id for v in self.cloud.vpcs() if not v.planted]
            + [s.vswitch_id for s in self.cloud.vswitches() if not s.planted]
            + [c.cluster_id for c in self.cloud.clusters() if not c.planted]
        )


@pytest.fixture(scope="module")
def sky(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sky]:
    root = tmp_path_factory.mktemp("access")
    # Real time, except where a test speeds the clock: a kubeconfig from ACK expires in cloud time.
    with SandboxCloud() as cloud:
        dev = cloud.plant_cluster("acf-dev", nodes=1)
        prod = cloud.plant_cluster("prod", nodes=1)
        observer = Runtime.build(
            Settings(
                region="cn-hangzhou",
                state_dir=root / "observer",
                endpoint=cloud.endpoint,
                protocol="http",
                kubeconfig_minutes=4320,
            ),
            StaticCredentials(access_key_id=cloud.access_key_id, access_key_secret=cloud.access_key_secret),
        )
        dev_config = yaml.safe_load(observer.clusters.kubeconfigs.get(dev).config.get_secret_value())
        prod_config = yaml.safe_load(observer.clusters.kubeconfigs.get(prod).config.get_secret_value())
        marker = root / "exec-plugin-ran"
        kubeconfig = helpers.write_kubeconfig(
            root / "kubeconfig",
            {
                "dev": dev_config,
                "staging": dev_config,
                "prod-admin@prod": prod_config,
                "exec-ctx": {"kubeconfig": dev_config, "user": helpers.exec_plugin_user(marker)},
            },
        )
        yield Sky(cloud, root, dev, prod, kubeconfig, prod_config, marker)


def refusal(result: Any) -> str:
    """The refusal the agent reads, after checking it sees it as an error."""
    assert result.is_error, result.content
    return str(helpers.text_of(result))


async def run(client: Any, cluster: str, script: str, **extra: Any) -> Any:
    return await client.call_tool("run_job", {"cluster": cluster, "script": script, "wait_seconds": 30, **extra})


# -- attack 3: kubeconfig contexts ---------------------------------------------------------------------------------


async def test_stdio_only_allowed_contexts_and_no_exec_plugins(sky: Sky) -> None:
    before = sky.prod_objects()
    env = sky.env("stdio-contexts", allowed_contexts="dev,exec-ctx")
    with (sky.root / "stdio-contexts.log").open("w") as errlog:
        async with helpers.connected(helpers.stdio(env, errlog)) as client:
            prod = await run(client, "context:prod-admin@prod", "echo pwned", namespace="kube-system")
            unknown = await run(client, "context:nope", "echo")
            plugin = await run(client, "context:exec-ctx", "echo")
            dev = await run(client, "context:dev", "echo via-dev")

    assert refusal(prod) == (
        "context prod-admin@prod is not allowed on this server; allowed contexts: dev, exec-ctx (setting "
        f"ACK_COMPUTE_ALLOWED_CONTEXTS). {NEXT_NOT_ALLOWED}"
    )
    assert refusal(unknown) == (
        "context nope is not allowed on this server; allowed contexts: dev, exec-ctx (setting "
        f"ACK_COMPUTE_ALLOWED_CONTEXTS). {NEXT_NOT_ALLOWED}"
    )
    assert refusal(plugin) == (
        "Cannot use context exec-ctx: context exec-ctx authenticates with an exec credential plugin or "
        "auth-provider, which would run a program on the server. Ask the operator to switch the context to a token "
        "or client certificate, or to set ACK_COMPUTE_ALLOW_EXEC_CREDENTIALS=true."
    )
    assert not sky.exec_marker.exists(), "the exec credential plugin never ran"
    assert sky.prod_objects() == before, "no ConfigMap and no Job reached prod's kube-system"
    for text in (refusal(prod), refusal(unknown), refusal(plugin)):
        assert str(sky.kubeconfig) not in text and "staging" not in text
    out = dev.structured_content or {}
    assert not dev.is_error and out["status"] == "succeeded" and out["log"].strip() == "via-dev", dev.content


async def test_http_contexts_per_caller(sky: Sky) -> None:
    before = sky.prod_objects()
    tokens = helpers.write_tokens(
        sky.root / "tokens.json",
        [
            {"subject": "alice", "token": ALICE, "contexts": ["dev"]},
            {"subject": "bob", "token": BOB},
            {"subject": "ops", "token": ADMIN, "admin": True},
        ],
    )
    env = {**os.environ, **sky.env("http-contexts", allowed_contexts="dev,staging", http_tokens_file=str(tokens))}
    with launcher.serving_http([], env, sky.root / "http-contexts.log") as server:
        async with helpers.connected(helpers.over_http(server.url, BOB)) as bob:
            bob_dev = await run(bob, "context:dev", "echo")
        async with helpers.connected(helpers.over_http(server.url, ALICE)) as alice:
            alice_staging = await run(alice, "context:staging", "echo")
            alice_prod = await run(alice, "context:prod-admin@prod", "echo pwned", namespace="kube-system")
            alice_dev = await run(alice, "context:dev", "echo as-alice")
        async with helpers.connected(helpers.over_http(server.url, ADMIN)) as admin:
            admin_prod = await run(admin, "context:prod-admin@prod", "echo pwned", namespace="kube-system")

    assert refusal(bob_dev) == f"context dev is not allowed for bob; contexts bob may use: none. {NEXT_NOT_GRANTED}"
    assert refusal(alice_staging) == (
        f"context staging is not allowed for alice; contexts alice may use: dev. {NEXT_NOT_GRANTED}"
    )
    assert refusal(alice_prod) == (
        "context prod-admin@prod is not allowed on this server; allowed contexts: dev (setting "
        f"ACK_COMPUTE_ALLOWED_CONTEXTS). {NEXT_NOT_ALLOWED}"
    ), "alice is told only of the contexts she may use"
    assert refusal(admin_prod) == (
        "context prod-admin@prod is not allowed on this server; allowed contexts: dev, staging (setting "
        f"ACK_COMPUTE_ALLOWED_CONTEXTS). {NEXT_NOT_ALLOWED}"
    )
    assert sky.prod_objects() == before
    out = alice_dev.structured_content or {}
    assert not alice_dev.is_error and out["status"] == "succeeded" and out["log"].strip() == "as-alice"


# -- attack 7: a read-only server resumes nothing ------------------------------------------------------------------


@pytest.fixture
def fast_clock(sky: Sky) -> Iterator[None]:
    """A 6-minute create in well under a second, once something resumes it."""
    sky.cloud.time_scale = FAST
    try:
        yield
    finally:
        sky.cloud.time_scale = 1.0
        sky.cloud.clear_faults()


async def test_read_only_restart_after_kill_creates_nothing(sky: Sky, fast_clock: None) -> None:
    cloud, state = sky.cloud, sky.root / "crashed"
    keys = {k: v for k, v in sky.env("crashed").items() if k.startswith("ALIBABA_CLOUD_")}
    driver_env = {"PATH": os.environ["PATH"], "HOME": str(sky.root), "PYTHONUNBUFFERED": "1", **keys}
    assert sky.created_in_cloud() == []
    # The operation's first look at the network is held; the server dies there, before any create call.
    cloud.inject("DescribeVpcs", Fault.delay(20))
    args = ["create", "--state-dir", str(state), "--endpoint", cloud.endpoint, "--name", "acf-crashed"]
    driver = helpers.Driver([*args, "--plan", json.dumps({"kind": "cluster", **PLAN})], driver_env, sky.root / "d.log")
    try:
        op = driver.event("cluster")["operation_id"]
        eventually(lambda: cloud.counts().get("DescribeVpcs", 0) >= 1, what="the held DescribeVpcs")
        driver.sigkill()
    finally:
        driver.close()
    creates = ("CreateVpc", "CreateVSwitch", "CreateCluster")

    errlog_path = sky.root / "read-only.log"
    with errlog_path.open("w") as errlog:
        async with helpers.connected(helpers.stdio(sky.env("crashed", read_only="true"), errlog)) as client:
            instructions = client.instructions or ""
            seen = await client.call_tool("get_operation", {"operation_id": op, "wait_seconds": 5})
            time.sleep(2)  # at 600x the resumed create would have made the VPC, the vSwitch and the cluster by now
    view = seen.structured_content or {}
    assert not seen.is_error and view["state"] == "running", seen.content
    assert view["message"] == (
        "Waiting for a full server: this server is read-only and continues nothing that creates or deletes; a server "
        "without --read-only on the same state dir resumes it when it starts."
    )
    assert view["next_step"] == (
        "Ask the operator to start ack-compute-mcp without --read-only; this server cannot continue it."
    )
    assert f"Operations {op} were left unfinished by a stopped server" in instructions
    assert (
        f"read-only: 1 unfinished operation(s) wait for a full server (resuming them could create or delete): {op}; "
        "start the server without --read-only on this state dir to continue them"
    ) in errlog_path.read_text()
    assert [a for a in creates if cloud.counts().get(a)] == [] and sky.created_in_cloud() == []

    # The same state dir under a full server: the operation was resumable all along, and now it resumes.
    with (sky.root / "full.log").open("w") as errlog:
        async with helpers.connected(helpers.stdio(sky.env("crashed"), errlog)) as client:
            view = await operation_view(client.call_tool, op)
    assert view.get("state") == "done" and view.get("outcome") == "succeeded", view
    assert all(cloud.counts().get(a) for a in creates)


# -- attack 8: the state dir and sandbox jobs ------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


async def test_state_dir_is_private_and_a_sandbox_job_cannot_read_it(sky: Sky, open_umask: None) -> None:
    base = Path(tempfile.mkdtemp(prefix="ack-state-"))  # under /tmp: reachable by anyone, so the modes decide
    base.chmod(0o755)
    state = base / "state"
    state.mkdir()
    state.chmod(0o755)
    secret = b"S" * 40
    (state / "quote-secret").write_bytes(secret)
    (state / "quote-secret").chmod(0o644)  # left loose by an older version
    script = (
        f"id -u; ls {state} 2>&1 | head -1; cat {state}/quote-secret 2>&1; "
        f"head -c 16 {state}/ledger.sqlite3 2>&1; echo; echo done"
    )
    env = sky.cloud.server_env(state, log_level="DEBUG")
    with (sky.root / "state.log").open("w") as errlog:
        async with helpers.connected(helpers.stdio(env, errlog)) as client:
            job = await run(client, sky.dev, script)
            modes = {p.name: mode(p) for p in state.iterdir()}
            state_mode = mode(state)
    assert state_mode == 0o700
    assert set(modes) >= {"ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm", "quote-secret"}
    assert set(modes.values()) == {0o600}, modes
    out = job.structured_content or {}
    assert not job.is_error and out["status"] == "succeeded", job.content
    log = out["log"]
    assert secret.decode() not in log and "SQLite format" not in log
    if os.geteuid() == 0:
        uid, listing, read_secret, read_ledger, *_ = log.strip().split("\n")
        assert uid == "65534", "the sandbox ran the job as nobody, not root"
        assert listing == f"ls: cannot open directory '{state}': Permission denied"
        assert read_secret == f"cat: {state}/quote-secret: Permission denied"
        assert read_ledger == f"head: cannot open '{state}/ledger.sqlite3' for reading: Permission denied"
