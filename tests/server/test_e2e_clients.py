"""End to end: the real server as a separate process, driven by the SDK's `Client` over stdio and streamable HTTP.

Each transport gets one sandbox cloud (600x clock) and one state dir for the whole module; over HTTP one server
process per confirmation policy serves every client, over stdio each client starts its own server on the shared
state dir (two servers sharing a ledger is a supported setup). Every scenario uses its own cluster names. Clients
connect in both protocol modes: "auto" negotiates the 2026 protocol (elicitation as input-required rounds,
cancellation by aborting the request), "legacy" the 2025 handshake (elicitation pushed as a request, cancellation as
notifications/cancelled), the one today's desktop hosts speak.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import anyio
import pytest
from mcp import Client, StdioServerParameters, types
from mcp.client.stdio import stdio_client

from ack_compute.sandbox import Fault, SandboxCloud
from tests.helpers.agent import Elicit, answering, cluster_plan
from tests.helpers.waiting import operation_view

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PLAN: dict[str, Any] = cluster_plan(hours=1)
MODES = ["auto", "legacy"]
FAST = 600  # a 6-minute cluster in well under a second of sandbox time
SERVE = [sys.executable, "-m", "ack_compute.server", "serve"]
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (DEBUG|INFO|WARNING|ERROR) [\w.]+: ", re.MULTILINE)  # server/logs.py


class Stack:
    """One transport's world: a sandbox cloud, the servers' state dir and stderr, and clients on demand."""

    def __init__(self, transport: str, cloud: SandboxCloud, root: Path, launcher: Any) -> None:
        self.transport = transport
        self._launcher = launcher
        self.cloud = cloud
        self.root = root
        self.stderr_path = root / "server-stderr.log"
        self._stderr: TextIO = self.stderr_path.open("a")
        self._http: dict[str, Any] = {}  # policy -> the HTTP server serving it
        self.transport_errors: list[Exception] = []  # what a client could not parse (stdout noise, broken frames)
        self.texts: list[str] = []  # every tool result and resource this module saw

    def env(self, policy: str) -> dict[str, str]:
        """A production-like environment: the default credentials chain plus an endpoint override."""
        # DEBUG: the most a log can say, to catch a secret in it.
        return self.cloud.server_env(self.root / f"state-{policy}", confirmation=policy, log_level="DEBUG")

    def name(self, scenario: str, mode: str = "") -> str:
        return "-".join(p for p in ("acf-e2e", self.transport[:4], scenario, mode) if p)

    def client(self, *, elicit: Elicit | None = None, policy: str = "token", mode: str = "auto") -> Client:
        async def on_message(message: object) -> None:
            if isinstance(message, Exception):
                self.transport_errors.append(message)

        if self.transport == "stdio":
            params = StdioServerParameters(command=SERVE[0], args=SERVE[1:], env=self.env(policy))
            target: Any = stdio_client(params, errlog=self._stderr)
        else:
            target = self._http_url(policy)
        return Client(target, elicitation_callback=elicit, message_handler=on_message, mode=mode)

    def _http_url(self, policy: str) -> str:
        if policy not in self._http:
            env = {**os.environ, **self.env(policy)}
            self._http[policy] = self._launcher.start([], env, self._stderr, self.stderr_path)
        return self._http[policy].url

    def stderr_tail(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text()[-3000:]

    def stderr_text(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text()

    def seen(self, text: str) -> str:
        assert self.cloud.access_key_secret not in text, "the AccessKey secret reached a client"
        self.texts.append(text)
        return text

    async def call(self, client: Client, tool: str, arguments: dict[str, Any], **kw: Any) -> types.CallToolResult:
        result = await client.call_tool(tool, arguments, **kw)
        self.seen(result.model_dump_json())
        return result

    async def ledger(self, client: Client) -> list[dict[str, Any]]:
        read = await client.read_resource("ledger://resources", cache_mode="bypass")
        text = self.seen(read.contents[0].text)  # type: ignore[union-attr]
        return list(json.loads(text)["resources"])

    def close(self) -> None:
        for server in self._http.values():
            self._launcher.stop(server)
        self._stderr.close()


@pytest.fixture(scope="module", params=["stdio", "http"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, serve_http: Any) -> Iterator[Stack]:
    # A cloud of this module's own (not the session's shared `cloud`): the module changes its clock, and its
    # final "nothing of ours is left" is about this cloud alone.
    with SandboxCloud(time_scale=FAST) as cloud:
        world = Stack(request.param, cloud, tmp_path_factory.mktemp(f"e2e-{request.param}"), serve_http)
        try:
            yield world
        finally:
            world.close()


@pytest.fixture
def e2e(stack: Stack) -> Iterator[Stack]:
    """The transport's stack with fresh request counts, no faults and the fast clock."""
    stack.cloud.clear_faults()
    stack.cloud.reset_counts()
    stack.cloud.time_scale = FAST
    yield stack
    stack.cloud.clear_faults()
    stack.cloud.time_scale = FAST


async def quote(e2e: Stack, client: Client) -> dict[str, Any]:
    est = await e2e.call(client, "estimate_cost", {"plan": PLAN})
    assert not est.is_error, est.content
    return est.structured_content or {}


async def settle(e2e: Stack, client: Client, result: types.CallToolResult) -> dict[str, Any]:
    """The cluster outcome, following the operation when the bounded wait handed one back."""
    assert not result.is_error, result.content
    out = result.structured_content or {}
    deadline = time.monotonic() + 90
    while out.get("status") in ("creating", "waiting") and time.monotonic() < deadline:
        polled = await e2e.call(client, "get_operation", {"operation_id": out["operation_id"], "wait_seconds": 20})
        view = polled.structured_content or {}
        assert not polled.is_error and view["outcome"] in (None, "succeeded"), view
        if view["outcome"] == "succeeded":
            out = view["result"]
    return out


async def clean(e2e: Stack, client: Client, **target: str) -> dict[str, Any]:
    """Run cleanup for real (all, or one target) and return its final report."""
    cleaned = await e2e.call(client, "cleanup", {**target, "dry_run": False, "wait_seconds": 50})
    assert not cleaned.is_error, cleaned.content
    report = cleaned.structured_content or {}
    deadline = time.monotonic() + 90
    while report.get("status") == "running" and time.monotonic() < deadline:
        polled = await e2e.call(client, "get_operation", {"operation_id": report["operation_id"], "wait_seconds": 20})
        view = polled.structured_content or {}
        assert view.get("outcome") in (None, "succeeded"), view
        report = view["result"] if view.get("outcome") == "succeeded" else report
    return report


async def remove(e2e: Stack, client: Client, cluster_id: str) -> None:
    """A scenario deletes the cluster it made (with its network): acf-vpc has pod/service ranges for four clusters."""
    report = await clean(e2e, client, target="cluster", cluster=cluster_id)
    assert report["status"] == "done", report
    assert e2e.cloud.cluster(cluster_id).state == "deleted"


def clusters_named(cloud: SandboxCloud, name: str) -> list[str]:
    return [c.cluster_id for c in cloud.clusters() if c.name == name]


def live(cloud: SandboxCloud) -> dict[str, set[str]]:
    return {
        "clusters": {c.cluster_id for c in cloud.clusters() if c.state != "deleted"},
        "vpcs": {v.vpc_id for v in cloud.vpcs() if v.deleted is None},
        "vswitches": {s.vswitch_id for s in cloud.vswitches() if s.deleted is None},
    }


def text_of(result: types.CallToolResult) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


# -- elicitation -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_person_accepts_the_price_and_the_cluster_is_created(e2e: Stack, mode: str) -> None:
    name = e2e.name("yes", mode)
    asked: list[str] = []
    async with e2e.client(elicit=answering("accept", asked), mode=mode) as client:
        first = await e2e.call(client, "ensure_cluster", {"name": name})
        assert (first.structured_content or {})["status"] == "quote_required", first.content
        est = await quote(e2e, client)
        created = await e2e.call(
            client,
            "ensure_cluster",
            {"name": name, "plan": PLAN, "quote_id": est["quote_id"], "wait_seconds": 45},
        )
        out = await settle(e2e, client, created)
        assert out["status"] == "created" and out["ready_nodes"] == 1, out
        await remove(e2e, client, out["cluster_id"])
    assert len(asked) == 1, asked
    question = asked[0]
    price = re.search(r"for ([0-9.]+) CNY/h", question)
    assert price and Decimal(price.group(1)) == Decimal(str(est["hourly_total"])), question
    assert f"'{name}'" in question and est["quote_id"] in question, question
    assert e2e.cloud.counts().get("CreateCluster", 0) == 1
    assert clusters_named(e2e.cloud, name) == [out["cluster_id"]]


@pytest.mark.parametrize("mode", MODES)
async def test_person_declines_and_the_quote_is_void(e2e: Stack, mode: str) -> None:
    name = e2e.name("no", mode)
    asked: list[str] = []
    async with e2e.client(elicit=answering("decline", asked), mode=mode) as client:
        token = (await quote(e2e, client))["quote_id"]
        args = {"name": name, "plan": PLAN, "quote_id": token, "wait_seconds": 10}
        declined = await e2e.call(client, "ensure_cluster", args)
        again = await e2e.call(client, "ensure_cluster", args)
    assert not declined.is_error and (declined.structured_content or {})["status"] == "declined", declined.content
    assert len(asked) == 1, "a void quote has nobody to ask"
    assert again.is_error and "declined" in text_of(again), again.content
    assert e2e.cloud.counts().get("CreateCluster", 0) == 0
    assert clusters_named(e2e.cloud, name) == []


@pytest.mark.parametrize("mode", MODES)
async def test_client_without_elicitation_pays_with_the_signed_quote(e2e: Stack, mode: str) -> None:
    name = e2e.name("tok", mode)
    async with e2e.client(mode=mode) as client:  # declares no elicitation capability
        token = (await quote(e2e, client))["quote_id"]
        created = await e2e.call(
            client, "ensure_cluster", {"name": name, "plan": PLAN, "quote_id": token, "wait_seconds": 45}
        )
        out = await settle(e2e, client, created)
        assert out["status"] == "created", out
        await remove(e2e, client, out["cluster_id"])
    assert e2e.cloud.counts().get("CreateCluster", 0) == 1
    assert clusters_named(e2e.cloud, name) == [out["cluster_id"]]


@pytest.mark.parametrize("mode", MODES)
async def test_human_policy_refuses_a_client_that_cannot_ask(e2e: Stack, mode: str) -> None:
    name = e2e.name("hum", mode)
    async with e2e.client(policy="human", mode=mode) as client:
        token = (await quote(e2e, client))["quote_id"]
        refused = await e2e.call(client, "ensure_cluster", {"name": name, "plan": PLAN, "quote_id": token})
    text = text_of(refused)
    assert refused.is_error and "person" in text and "elicitation" in text, refused.content
    assert e2e.cloud.counts().get("CreateCluster", 0) == 0
    assert clusters_named(e2e.cloud, name) == []


# -- progress and cancellation -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_progress_rises_to_100_with_meaningful_messages(e2e: Stack, mode: str) -> None:
    name = e2e.name("prog", mode)
    reports: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append((progress, total, message))

    async with e2e.client(mode=mode) as client:
        token = (await quote(e2e, client))["quote_id"]
        created = await e2e.call(
            client,
            "ensure_cluster",
            {"name": name, "plan": PLAN, "quote_id": token, "wait_seconds": 45},
            progress_callback=on_progress,
        )
        out = created.structured_content or {}
        assert not created.is_error and out["status"] == "created", created.content
        await remove(e2e, client, out["cluster_id"])
    values = [p for p, _, _ in reports]
    assert len(values) >= 3, reports
    assert all(b > a for a, b in itertools.pairwise(values)), f"progress must increase: {reports}"
    assert values[-1] == 100 and all(total == 100 for _, total, _ in reports), reports
    messages = [m or "" for _, _, m in reports]
    assert all(re.match(r"^[a-z_]+: \S", m) for m in messages), messages  # "stage: what is happening"
    assert len({m.split(":")[0] for m in messages}) >= 2, messages
    assert "Ready" in messages[-1], messages


@pytest.mark.parametrize("mode", MODES)
async def test_cancelled_call_keeps_the_session_and_the_operation(e2e: Stack, mode: str) -> None:
    name = e2e.name("cxl", mode)
    e2e.cloud.plant_cluster(e2e.name("theirs", mode), nodes=1)  # someone else's: never touched
    reports: list[str] = []
    cancelled: list[str] = []
    async with e2e.client(mode=mode) as client:
        token = (await quote(e2e, client))["quote_id"]
        e2e.cloud.time_scale = 60  # about 6 s for the control plane: the call is still waiting when cancelled
        with anyio.move_on_after(60) as call_scope:

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                reports.append(message or "")
                if (message or "").startswith("create: cluster") and not cancelled:  # the cloud is at work
                    cancelled.append(message or "")
                    call_scope.cancel()  # as a host does: the SDK tells the server the request is cancelled

            await e2e.call(
                client,
                "ensure_cluster",
                {"name": name, "plan": PLAN, "quote_id": token, "wait_seconds": 50},
                progress_callback=on_progress,
            )
            pytest.fail(f"the call finished before it could be cancelled: {reports}")
        assert cancelled and call_scope.cancelled_caught, reports
        e2e.cloud.time_scale = FAST

        # The session is still usable.
        still = await e2e.call(client, "estimate_cost", {"plan": {**PLAN, "node_count": 2}})
        assert not still.is_error, still.content
        # The create was not torn down: its cluster is in the ledger, and the operation runs on to success.
        rows = [r for r in await e2e.ledger(client) if r["kind"] == "cluster" and r["name"] == name]
        assert len(rows) == 1 and rows[0]["state"] != "deleted", rows
        operation_id = rows[0]["operation_id"]
        view = await operation_view(lambda tool, args: e2e.call(client, tool, args), operation_id)
        assert view["state"] == "done" and view["outcome"] == "succeeded", view
        cluster_id = view["result"]["cluster_id"]
        assert e2e.cloud.cluster(cluster_id).state == "running"
        assert e2e.cloud.counts().get("CreateCluster", 0) == 1 and "DeleteCluster" not in e2e.cloud.counts()

        # Cleanup removes everything this server created; nothing of ours is left, the foreign cluster stays.
        report = await clean(e2e, client)
        rows = await e2e.ledger(client)
    assert report["status"] == "done", report
    created = [r for r in rows if r["origin"] == "created"]
    assert created and {r["state"] for r in created} <= {"deleted", "abandoned"}, created  # none live
    assert [r["state"] for r in created if r["operation_id"] == operation_id and r["kind"] == "cluster"] == ["deleted"]
    planted = [c for c in e2e.cloud.clusters() if c.planted]
    theirs = {
        "clusters": {c.cluster_id for c in planted},
        "vpcs": {c.vpc_id for c in planted},
        "vswitches": {v for c in planted for v in c.vswitch_ids},
    }
    assert live(e2e.cloud) == theirs, "only what this server did not create is left"


async def test_a_second_cluster_can_run_beside_the_first(e2e: Stack) -> None:
    """Two clusters of this server in one region share the acf-vpc VPC, so their pod/service CIDRs must differ
    (CreateCluster refuses "overlaps the CIDR of another cluster in the VPC", as real ACK does)."""
    async with e2e.client() as client:
        try:
            made = []
            for which in ("one", "two"):
                token = (await quote(e2e, client))["quote_id"]
                created = await e2e.call(
                    client,
                    "ensure_cluster",
                    {"name": e2e.name(f"pair-{which}"), "plan": PLAN, "quote_id": token, "wait_seconds": 45},
                )
                made.append(await settle(e2e, client, created))
            assert [m["status"] for m in made] == ["created", "created"], made
            assert made[0]["cluster_id"] != made[1]["cluster_id"]
        finally:
            report = await clean(e2e, client)
            assert report["status"] == "done", report


# -- the verbs an agent reaches for -----------------------------------------------------------------------------------


async def test_list_resources_follow_a_jobs_log_and_cancel_it(e2e: Stack) -> None:
    """list_resources prices what the quote bought; get_operation hands over a running job's new log lines;
    cancel_operation deletes the Job and the operation reads done/cancelled."""
    async with e2e.client() as client:
        tools = {t.name: t.annotations for t in (await client.list_tools()).tools}
        assert tools["list_resources"] and tools["list_resources"].read_only_hint is True
        assert tools["cancel_operation"] and tools["cancel_operation"].destructive_hint is True
        est = await quote(e2e, client)
        created = await e2e.call(
            client,
            "ensure_cluster",
            {"name": e2e.name("verbs"), "plan": PLAN, "quote_id": est["quote_id"], "wait_seconds": 45},
        )
        out = await settle(e2e, client, created)
        try:
            listed = (await e2e.call(client, "list_resources", {})).structured_content or {}
            (row,) = [r for r in listed["resources"] if r["kind"] == "cluster" and r["id"] == out["cluster_id"]]
            assert row["state"] == "running" and Decimal(str(row["hourly"])) == Decimal(str(est["hourly_total"]))
            assert any(t["currency"] == est["currency"] for t in listed["totals"]), listed

            started = await e2e.call(
                client,
                "run_job",
                {"cluster": out["cluster_id"], "script": "echo first\nsleep 40\necho never\n", "wait_seconds": 0},
            )
            operation_id = (started.structured_content or {})["operation_id"]
            followed, view = "", {}
            deadline = time.monotonic() + 40
            while "first" not in followed and time.monotonic() < deadline:
                polled = await e2e.call(client, "get_operation", {"operation_id": operation_id, "wait_seconds": 2})
                view = polled.structured_content or {}
                assert view["state"] == "running" and view.get("outcome") is None, view
                followed += view.get("log") or ""
            assert followed == "first\n", view
            assert view["seconds_left"] > 0 and view["poll_after_seconds"] >= 5 and " of 3)" in view["stage"]

            cancelled = await e2e.call(client, "cancel_operation", {"operation_id": operation_id})
            outcome = cancelled.structured_content or {}
            assert outcome["status"] == "cancelled", cancelled.content
            assert outcome["cleaned_up"][0].startswith("Job default/acf-job-"), outcome
            polled = await e2e.call(client, "get_operation", {"operation_id": operation_id, "wait_seconds": 0})
            final = polled.structured_content or {}
            assert (final["state"], final["outcome"]) == ("done", "cancelled"), final
        finally:
            await remove(e2e, client, out["cluster_id"])


GPU_POOL: dict[str, Any] = {"kind": "node_pool", "instance_types": ["ecs.gn7i-c8g1.2xlarge"], "node_count": 1}


async def test_a_gpu_pool_on_a_team_cluster_is_bought_used_listed_and_cleaned_up(e2e: Stack) -> None:
    """Issue 15's done-when: on a cluster someone else created, the agent prices a GPU pool, adds it paying by
    quote_id with the person's yes, runs a job on it, sees it in list_resources; cleanup removes the pool and keeps
    the cluster."""
    name = e2e.name("team")
    vpc_id = e2e.cloud.plant_vpc(f"{name}-vpc", cidr_block="192.168.0.0/16")
    vswitch_id = e2e.cloud.plant_vswitch(vpc_id, zone_id="cn-hangzhou-i", cidr_block="192.168.8.0/24")
    cluster_id = e2e.cloud.plant_cluster(name, nodes=1, vswitch_id=vswitch_id)
    asked: list[str] = []
    async with e2e.client(elicit=answering("accept", asked)) as client:
        priced = await e2e.call(client, "estimate_cost", {"plan": {**GPU_POOL, "cluster": name}})
        est = priced.structured_content or {}
        assert est["quote_id"] and f"ensure_node_pool on cluster {name}" in est["next_step"], est
        assert est["line_items"][0]["item"].startswith("Pool nodes: ecs.gn7i-c8g1.2xlarge"), est
        added = await e2e.call(
            client,
            "ensure_node_pool",
            {"cluster": name, "name": "gpu", "quote_id": est["quote_id"], "wait_seconds": 45},
        )
        pool = await settle(e2e, client, added)
        assert (pool["status"], pool["pool_state"], pool["nodes"], pool["ready_nodes"]) == ("created", "active", 1, 1)
        assert Decimal(str(pool["hourly"])) == Decimal(str(est["hourly_total"]))
        assert len(asked) == 1 and est["quote_id"] in asked[0] and f"cluster '{name}'" in asked[0], asked
        gpu_nodes = {n.name for n in e2e.cloud.cluster(cluster_id).live_nodes() if n.nodepool_id == pool["nodepool_id"]}

        ran = await e2e.call(
            client, "run_job", {"cluster": name, "script": "echo on-gpu\n", "node_pool": "gpu", "wait_seconds": 45}
        )
        job = ran.structured_content or {}
        assert job["status"] == "succeeded" and "on-gpu" in job["log"] and job["node"] in gpu_nodes, job
        missing = await e2e.call(client, "run_job", {"cluster": name, "script": "true", "node_pool": "nope"})
        assert missing.is_error and f"Cluster {name} has no node pool named nope" in text_of(missing)

        listed = (await e2e.call(client, "list_resources", {})).structured_content or {}
        (row,) = [r for r in listed["resources"] if r["kind"] == "node_pool" and r["id"] == pool["nodepool_id"]]
        assert row["nodes"] == 1 and row["state"].startswith("active") and row["hourly"] == pool["hourly"], row
        assert any(
            r["kind"] == "cluster" and r["id"] == cluster_id and r["origin"] == "reused" for r in listed["resources"]
        )

        report = await clean(e2e, client, target="cluster", cluster=cluster_id)
        assert report["status"] == "done", report
        assert [(i["kind"], i["action"]) for i in report["items"] if i["kind"] in ("node_pool", "cluster")] == [
            ("node_pool", "delete"),
            ("cluster", "keep"),
        ], report
    assert e2e.cloud.cluster(cluster_id).state == "running"
    assert [p.name for p in e2e.cloud.cluster(cluster_id).nodepools if p.state != "deleted"] == ["default-nodepool"]


# -- ack-virtual-node on a cluster this server created; ACK Basic ----------------------------------------------------

ACS_PLAN: dict[str, Any] = {"kind": "acs", "replicas": 2, "vcpu": 1, "memory_gib": 2, "hours": 1}


async def test_deploy_acs_on_a_fresh_pro_cluster_installs_the_free_addon_first(e2e: Stack) -> None:
    """No add-on on the new cluster: deploy_acs says it installs it (free) in the question and the result, the pods
    end on virtual nodes, and list_resources prices exactly the cluster and the pods."""
    asked: list[str] = []
    async with e2e.client(elicit=answering("accept", asked)) as client:
        pro = {**PLAN, "edition": "pro"}
        est = (await e2e.call(client, "estimate_cost", {"plan": pro})).structured_content or {}
        created = await e2e.call(
            client, "ensure_cluster", {"name": e2e.name("addon"), "quote_id": est["quote_id"], "wait_seconds": 45}
        )
        out = await settle(e2e, client, created)
        cluster_id = out["cluster_id"]
        try:
            assert "ack-virtual-node" not in e2e.cloud.addons(cluster_id)
            pods = (await e2e.call(client, "estimate_cost", {"plan": ACS_PLAN})).structured_content or {}
            args = {"cluster": cluster_id, "name": "web", "image": "nginx:1.27", "quote_id": pods["quote_id"]}
            result = await e2e.call(client, "deploy_acs", {**args, "wait_seconds": 45})
            assert not result.is_error, result.content
            deployed = result.structured_content or {}
            while deployed.get("status") == "preparing":
                polled = await e2e.call(client, "get_operation", {"operation_id": deployed["operation_id"]})
                view = polled.structured_content or {}
                assert view.get("outcome") in (None, "succeeded"), view
                deployed = view["result"] if view.get("outcome") else deployed
            assert deployed["status"] == "deployed" and deployed["ready_replicas"] == 2, deployed
            assert all(p["node"].startswith("virtual-kubelet-") and p["instance_id"] for p in deployed["pods"])
            assert any("installed the free ack-virtual-node add-on" in n for n in deployed["notes"]), deployed
            question = asked[-1]
            assert question.startswith(f"On cluster '{cluster_id}', installing the free ack-virtual-node add-on first")
            assert pods["quote_id"] in question, question
            assert e2e.cloud.counts()["InstallClusterAddons"] == 1
            listed = (await e2e.call(client, "list_resources", {})).structured_content or {}
            priced = {r["kind"]: Decimal(str(r["hourly"])) for r in listed["resources"] if "hourly" in r}
            assert priced == {
                "cluster": Decimal(str(est["hourly_total"])),
                "deployment": Decimal(str(pods["hourly_total"])),
            }, listed
            total = next(t for t in listed["totals"] if t["currency"] == est["currency"])
            assert Decimal(str(total["hourly"])) == sum(priced.values())
        finally:
            await remove(e2e, client, cluster_id)


async def test_deploy_acs_on_ack_basic_says_acs_needs_pro_and_asks_nobody(e2e: Stack) -> None:
    basic = e2e.cloud.plant_cluster(e2e.name("basic"), nodes=1, addons={"ack-virtual-node": None})
    asked: list[str] = []
    async with e2e.client(elicit=answering("accept", asked)) as client:
        pods = (await e2e.call(client, "estimate_cost", {"plan": ACS_PLAN})).structured_content or {}
        args = {"cluster": basic, "name": "web", "image": "nginx:1.27", "quote_id": pods["quote_id"]}
        refused = await e2e.call(client, "deploy_acs", args)
        ledger = await e2e.ledger(client)
    assert refused.is_error
    assert text_of(refused) == (
        f"ACS compute needs an ACK Pro cluster; this one is ACK Basic "
        f"({e2e.name('basic')}, cluster_spec ack.standard). Use an ACK Pro or ACK Serverless cluster (estimate_cost "
        "a plan with edition pro, or kind serverless, then ensure_cluster with a new name and that quote_id), or run "
        "on this cluster's own nodes (run_job compute=nodes). Nothing was created and no quote was spent."
    )
    assert asked == [] and not [r for r in ledger if r.get("cloud_id") == basic or basic in r.get("name", "")]
    assert "InstallClusterAddons" not in e2e.cloud.counts()


# -- hygiene -------------------------------------------------------------------------------------------------------


async def test_logs_go_to_stderr_and_no_secret_reaches_anyone(e2e: Stack) -> None:
    e2e.cloud.inject("DescribeClustersForRegion", Fault.server_error(status=500, code="InternalError"), times=20)
    async with e2e.client() as client:
        failed = await e2e.call(client, "ensure_cluster", {"name": e2e.name("err")})
    assert failed.is_error and "InternalError" in text_of(failed), failed.content
    e2e.cloud.clear_faults()

    if e2e.transport == "stdio":
        # A raw exchange, startup to exit: every stdout line is a JSON-RPC message, every log line is on stderr.
        requests = [
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "raw", "version": "0"},
                },
            },
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "estimate_cost", "arguments": {"plan": PLAN}},
            },
        ]
        raw_err = (e2e.root / "raw-stderr.log").open("w")  # a file: a full stderr pipe would stall the server
        proc = subprocess.Popen(
            SERVE,
            env={**os.environ, **e2e.env("token")},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=raw_err,
            text=True,
        )
        assert proc.stdin and proc.stdout
        watchdog = threading.Timer(60, proc.kill)  # a silent server fails the test instead of hanging it
        watchdog.start()
        for message in requests:
            proc.stdin.write(json.dumps(message) + "\n")
            proc.stdin.flush()
        answered: dict[int, dict[str, Any]] = {}
        lines: list[str] = []
        while len(answered) < 2 and (line := proc.stdout.readline()):
            lines.append(line)
            frame = json.loads(line)
            assert frame.get("jsonrpc") == "2.0", line
            if "id" in frame:
                answered[frame["id"]] = frame
        rest, _ = proc.communicate(timeout=30)  # closes stdin: the server ends at EOF
        watchdog.cancel()
        raw_err.close()
        stderr = (e2e.root / "raw-stderr.log").read_text()
        assert proc.returncode == 0, stderr[-2000:]
        assert rest.strip() == "", f"stdout after the last answer: {rest!r}"
        assert all(json.loads(line)["jsonrpc"] == "2.0" for line in lines)
        assert answered[2]["result"]["structuredContent"]["quote_id"], answered[2]
        assert LOG_LINE.search(stderr), stderr[-2000:]
        e2e.seen("".join(lines))
        assert e2e.cloud.access_key_secret not in stderr

    assert e2e.transport_errors == [], e2e.transport_errors  # no client ever saw a frame it could not parse
    log = e2e.stderr_text()
    assert LOG_LINE.search(log) and "ack_compute" in log, log[-2000:]
    assert e2e.cloud.access_key_secret not in log, "the AccessKey secret is in the server's log"
    assert e2e.texts and not any(e2e.cloud.access_key_secret in t for t in e2e.texts)
