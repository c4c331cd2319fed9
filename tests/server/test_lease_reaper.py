"""The lease reaper inside real `serve` processes on a sandbox cloud they reach like a real one: a cluster quoted for
0.01 h is deleted by its lease without anyone asking; a lease that ends while no server runs is ended by the next
server on start; two servers on one state dir start one end operation per lease; a read-only server reaps nothing.

The sandbox runs 30x here: a cluster takes 18 s to create and 6 s to delete, both shorter than the 36 s lease, so
the lease (counted in real seconds from the purchase) ends on a running cluster.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from ack_compute.cloud.config import StaticCredentials
from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.server.settings import Settings
from ack_compute.tools import receipts
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.leases import Lease, Leases
from ack_compute.tools.ledger import Ledger
from ack_compute.tools.plans import ClusterPlan
from tests.helpers.agent import cluster_plan
from tests.helpers.waiting import eventually, finished
from tests.server.conftest import SERVE, crashing_http

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SCALE = 30.0
PLAN: dict[str, Any] = cluster_plan(hours=0.01)
REAPING = {"lease_grace_seconds": "0", "lease_check_seconds": "1", "log_level": "INFO"}


@pytest.fixture(scope="module")
def cloud30() -> Iterator[SandboxCloud]:
    with SandboxCloud(time_scale=SCALE) as cloud:
        yield cloud


def observer(cloud: SandboxCloud, state_dir: Path) -> Runtime:
    """The test's own view of the cloud, through the real SDKs (its own state dir: it buys nothing)."""
    settings = Settings(region="cn-hangzhou", state_dir=state_dir, endpoint=cloud.endpoint, protocol="http")
    keys = StaticCredentials(access_key_id=cloud.access_key_id, access_key_secret=cloud.access_key_secret)
    return Runtime.build(settings, keys)


def listed(view: Runtime, cluster_id: str) -> bool:
    """Whether DescribeClustersForRegion still lists the cluster as anything but deleted."""
    return any(c.cluster_id == cluster_id and c.state != "deleted" for c in view.cs.list_clusters())


def lease_of(state_dir: Path, cluster_id: str) -> Lease:
    ledger = Ledger(state_dir / "ledger.sqlite3")
    (row,) = ledger.query(
        "SELECT resource_id FROM resources WHERE kind = 'cluster' AND cloud_id = :id", {"id": cluster_id}
    )
    lease = Leases(ledger).get(row["resource_id"])
    assert lease is not None
    return lease


def lease_ends(state_dir: Path, cluster_id: str) -> list[receipts.Receipt]:
    ledger = Ledger(state_dir / "ledger.sqlite3")
    lease = lease_of(state_dir, cluster_id)
    return [r for r in receipts.since(ledger) if r.event == "lease_end" and r.resource_id == lease.resource_id]


def reaping(cloud: SandboxCloud, tmp_path: Path) -> tuple[Path, dict[str, str], Runtime]:
    """The servers' state dir, their environment (reaping every second, no grace), and an observer's view."""
    state = tmp_path / "state"
    return state, {**os.environ, **cloud.server_env(state, **REAPING)}, observer(cloud, tmp_path / "observer")


async def create_through(url: str, name: str, hours: float) -> str:
    """estimate_cost and ensure_cluster through a real MCP client, followed until the cluster is ready."""
    async with Client(url) as client:
        est = await client.call_tool("estimate_cost", {"plan": {**PLAN, "hours": hours}})
        assert not est.is_error, est.content
        quote_id = (est.structured_content or {})["quote_id"]
        arguments = {"name": name, "plan": {**PLAN, "hours": hours}, "quote_id": quote_id, "wait_seconds": 45}
        created = await client.call_tool("ensure_cluster", arguments)
        assert not created.is_error, created.content
        out = created.structured_content or {}
        deadline = time.monotonic() + 120
        while out.get("status") in ("creating", "waiting") and time.monotonic() < deadline:
            polled = await client.call_tool("get_operation", {"operation_id": out["operation_id"], "wait_seconds": 20})
            view = polled.structured_content or {}
            assert view.get("outcome") in (None, "succeeded"), view
            if view.get("outcome") == "succeeded":
                out = view["result"]
    assert out.get("status") == "created", out
    return str(out["cluster_id"])


async def test_a_cluster_quoted_for_a_hundredth_of_an_hour_is_deleted_by_its_lease_within_a_minute(
    cloud30: SandboxCloud, tmp_path: Path, serve_http: Any
) -> None:
    state, env, view = reaping(cloud30, tmp_path)
    with serve_http.serving([], env, tmp_path / "server.log") as server:
        cluster_id = await create_through(server.url, "acf-lease-done-when", 0.01)
        lease = lease_of(state, cluster_id)
        assert lease.ends_at - lease.starts_at == pytest.approx(36) and lease.state in ("active", "ending")
        assert cloud30.cluster(cluster_id).state in ("running", "deleting", "deleted")
        # From here nobody asks anything: the server ends the lease by itself.
        eventually(
            lambda: not listed(view, cluster_id),
            timeout=max(1.0, lease.ends_at + 60 - time.time()),
            interval=0.5,
            what="DescribeClustersForRegion to stop listing the cluster within a minute of its lease's end",
        )
        gone_at = time.time()
        eventually(lambda: lease_of(state, cluster_id).state == "ended", timeout=10, interval=0.2, what="ended")
    assert gone_at <= lease.ends_at + 60
    (receipt,) = lease_ends(state, cluster_id)
    assert receipt.body["why"] == f"lease ended at {lease.ends_iso()} + grace 0 s"
    assert ("cluster", cluster_id) in {(d["kind"], d["cloud_id"]) for d in receipt.body["deleting"]}
    log = (tmp_path / "server.log").read_text()
    assert "lease reaper: policy delete, grace 0 s, every 1 s" in log
    assert f"deleting cluster {cluster_id}" in log


async def test_a_lease_that_ends_while_no_server_runs_is_ended_by_the_next_one_on_start(
    cloud30: SandboxCloud, tmp_path: Path, serve_http: Any
) -> None:
    state, env, view = reaping(cloud30, tmp_path)
    with crashing_http([], env, tmp_path / "first.log") as first:  # kill -9, before the lease ends
        cluster_id = await create_through(first.url, "acf-lease-crash", 0.02)  # 72 s
    lease = lease_of(state, cluster_id)
    assert lease.state == "active" and time.time() < lease.ends_at, "killed while the lease still ran"
    eventually(lambda: time.time() > lease.ends_at, timeout=lease.ends_at - time.time() + 5, interval=0.5)
    assert listed(view, cluster_id), "nobody ended it while no server ran"

    # The next server looks once at start and then only hourly: what it does, it does on start. Over stdio, kept
    # open by an idle client.
    slow_checks = {**env, "ACK_COMPUTE_LEASE_CHECK_SECONDS": "3600"}
    with (tmp_path / "second.log").open("w") as stderr:
        second = subprocess.Popen(
            SERVE, env=slow_checks, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr
        )
        try:
            taken = eventually(
                lambda: (found := lease_of(state, cluster_id)).end_operation_id and found,
                timeout=30,
                interval=0.2,
                what="the new server to start ending the lease",
            )
            ledger = Ledger(state / "ledger.sqlite3")
            (op,) = ledger.query(
                "SELECT owner_pid, kind FROM operations WHERE operation_id = :op", {"op": taken.end_operation_id}
            )
            assert (op["kind"], op["owner_pid"]) == ("cleanup", second.pid)
            eventually(lambda: not listed(view, cluster_id), timeout=60, interval=0.5, what="the cluster gone")
            eventually(lambda: lease_of(state, cluster_id).state == "ended", timeout=15, interval=0.2, what="ended")
        finally:
            assert second.stdin is not None
            second.stdin.close()  # the client leaves: the server stops, and its reaper with it
            assert second.wait(20) == 0, (tmp_path / "second.log").read_text()[-3000:]
    assert len(lease_ends(state, cluster_id)) == 1


async def test_a_server_killed_while_ending_a_lease_leaves_it_to_the_next_one(
    cloud30: SandboxCloud, tmp_path: Path, serve_http: Any
) -> None:
    state, env, view = reaping(cloud30, tmp_path)
    # kill -9 while its cleanup deletes the cluster (6 s at 30x)
    with crashing_http([], env, tmp_path / "first.log") as first:
        cluster_id = await create_through(first.url, "acf-lease-kill-ending", 0.01)
        taken = eventually(
            lambda: (found := lease_of(state, cluster_id)).end_operation_id and found,
            timeout=90,
            interval=0.1,
            what="the first server to start ending the lease",
        )
    assert lease_of(state, cluster_id).state == "ending" or not listed(view, cluster_id)
    slow_checks = {**env, "ACK_COMPUTE_LEASE_CHECK_SECONDS": "3600"}
    with serve_http.serving([], slow_checks, tmp_path / "second.log"):
        eventually(lambda: lease_of(state, cluster_id).state == "ended", timeout=60, interval=0.2, what="ended")
    assert not listed(view, cluster_id)
    assert lease_of(state, cluster_id).end_operation_id == taken.end_operation_id, "resumed, not started again"
    assert len(lease_ends(state, cluster_id)) == 1


def test_two_servers_on_one_state_dir_start_one_end_operation_per_lease(tmp_path: Path, serve_http: Any) -> None:
    state = tmp_path / "state"
    with SandboxCloud(time_scale=300) as cloud:  # clusters in 2 s: the 11 s leases end on running clusters
        view = observer(cloud, state)  # the buyer: this test's own services on the servers' state dir
        plan = ClusterPlan.model_validate({**PLAN, "hours": 0.003})
        ids = []
        for name in ("acf-lease-pair-1", "acf-lease-pair-2"):
            est = estimate_cost(plan, default_region="cn-hangzhou", pricer=view.pricer, quotes=view.quotes)
            out = view.clusters.ensure(name, plan=plan, quote_token=est.quote_token)
            ids.append(str((finished(view, out.operation_id or "").result or {})["cluster_id"]))
        env = {**os.environ, **cloud.server_env(state, **REAPING)}
        with (
            serve_http.serving([], env, tmp_path / "a.log") as a,
            serve_http.serving([], env, tmp_path / "b.log") as b,
        ):
            for cluster_id in ids:
                eventually(lambda c=cluster_id: lease_of(state, c).state == "ended", timeout=60, interval=0.2)
            pids = {a.process.pid, b.process.pid}
        ledger = Ledger(state / "ledger.sqlite3")
        ends = [lease_of(state, c).end_operation_id for c in ids]
        cleanups = ledger.query("SELECT operation_id, owner_pid FROM operations WHERE kind = 'cleanup'")
        assert sorted(r["operation_id"] for r in cleanups) == sorted(ends), "exactly one end operation per lease"
        assert {r["owner_pid"] for r in cleanups} <= pids
        assert all(len(lease_ends(state, c)) == 1 for c in ids)
        assert not any(listed(view, c) for c in ids)


def test_a_read_only_server_reaps_nothing_and_says_so(tmp_path: Path, serve_http: Any) -> None:
    with SandboxCloud() as cloud:
        env = {**os.environ, **cloud.server_env(tmp_path / "state", **REAPING)}
        with serve_http.serving(["--read-only"], env, tmp_path / "ro.log"):
            pass
    assert "lease reaper off: read-only" in (tmp_path / "ro.log").read_text()
