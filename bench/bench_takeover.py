"""Takeover after a replica dies mid-create: two `serve --http` replicas share one state dir and one sandbox cloud;
replica 1 starts a cluster's create (estimate_cost + ensure_cluster through a real MCP client) and dies while the
cluster is `initial`. Measured from the death: until replica 2 holds the operation, and until it succeeded.

Two deaths: `kill -9` (the pid is gone; a replica on the same machine sees that at once) and a freeze (SIGSTOP: the
pid lives on, as a dead pod's looks from another machine; the hold must lapse). Baseline in the same run: the same
create with nobody dying, from the same point (the cluster `initial`) to succeeded.

Run: python bench/bench_takeover.py [--runs 3] [--time-scale 20] [--lease 4] [--beat 1]
(--lease 30 --beat 10 are the defaults a team runs with: expect about lease + beat for a freeze.)
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from benchenv import load_average, offline

offline()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.helpers.agent

from mcp import Client  # noqa: E402

from ack_compute.sandbox import SandboxCloud  # noqa: E402
from ack_compute.tools.ledger import Ledger  # noqa: E402
from tests.helpers.agent import cluster_plan, say_yes  # noqa: E402

SERVE = [sys.executable, "-m", "ack_compute.server", "serve", "--http"]
PLAN = cluster_plan(hours=1)  # the plan tests/server/test_takeover.py buys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def replica(env: dict[str, str], log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    with log.open("w") as stderr:
        proc = subprocess.Popen([*SERVE, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                return f"{base}/mcp", proc
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"replica did not come up: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def buy(url: str, name: str) -> str:
    async with Client(url, elicitation_callback=say_yes) as client:
        est = await client.call_tool("estimate_cost", {"plan": PLAN})
        quote_id = (est.structured_content or {})["quote_id"]
        args = {"name": name, "plan": PLAN, "quote_id": quote_id, "wait_seconds": 1}
        out = await client.call_tool("ensure_cluster", args)
    return str((out.structured_content or {})["operation_id"])


def holder_pid(ledger: Ledger, operation_id: str) -> int | None:
    rows = ledger.query(
        "SELECT r.pid FROM operations o JOIN replicas r ON r.replica_id = o.holder WHERE o.operation_id = :op",
        {"op": operation_id},
    )
    return int(rows[0]["pid"]) if rows else None


def state_of(ledger: Ledger, operation_id: str) -> str:
    rows = ledger.query("SELECT state FROM operations WHERE operation_id = :op", {"op": operation_id})
    return str(rows[0]["state"]) if rows else "?"


def one_run(cloud: SandboxCloud, root: Path, name: str, death: str, lease: float, beat: float) -> dict[str, float]:
    state = root / name
    env = {
        **os.environ,
        **cloud.server_env(
            state, operation_lease_seconds=str(lease), operation_heartbeat_seconds=str(beat), log_level="WARNING"
        ),
    }
    with ExitStack() as stack:
        url1, first = replica(env, root / f"{name}-1.log")
        stack.callback(stop, first)
        _url2, second = replica(env, root / f"{name}-2.log")
        stack.callback(stop, second)
        ledger = Ledger(state / "ledger.sqlite3")
        creates = cloud.counts().get("CreateCluster", 0)
        op = asyncio.run(buy(url1, name))
        while not [c for c in cloud.clusters() if c.name == name and c.state == "initial"]:
            time.sleep(0.02)
        if death == "kill -9":
            first.send_signal(signal.SIGKILL)
        elif death == "freeze":
            first.send_signal(signal.SIGSTOP)
        t0 = time.monotonic()
        held = float("nan")
        deadline = t0 + 300
        while state_of(ledger, op) == "running" and time.monotonic() < deadline:
            if held != held and death != "none" and holder_pid(ledger, op) == second.pid:
                held = time.monotonic() - t0
            time.sleep(0.05)
        done = time.monotonic() - t0
        ok = state_of(ledger, op) == "succeeded"
        creates = cloud.counts().get("CreateCluster", 0) - creates
    return {"held": held, "done": done if ok else float("nan"), "creates": creates}


def summary(values: list[float]) -> str:
    values = [v for v in values if v == v]
    if not values:
        return "n/a"
    return f"median {statistics.median(values):6.2f} s, max {max(values):6.2f} s (n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--time-scale", type=float, default=20.0)
    parser.add_argument("--lease", type=float, default=4.0, help="operation_lease_seconds")
    parser.add_argument("--beat", type=float, default=1.0, help="operation_heartbeat_seconds")
    args = parser.parse_args()
    print(f"load average before: {load_average()}")
    print(
        f"sandbox {args.time_scale:g}x (cluster create {360 / args.time_scale:.0f} s + node {120 / args.time_scale:.0f}"
        f" s), hold {args.lease:g} s renewed every {args.beat:g} s, {args.runs} run(s) each"
    )
    results: dict[str, list[dict[str, float]]] = {"none": [], "kill -9": [], "freeze": []}
    scale = args.time_scale
    with tempfile.TemporaryDirectory(prefix="bench-takeover-") as tmp, SandboxCloud(time_scale=scale) as cloud:
        for i in range(args.runs):
            for death in results:
                name = f"acf-tko-{death.split()[0]}-{i}"
                results[death].append(one_run(cloud, Path(tmp), name, death, args.lease, args.beat))
    base = [r["done"] for r in results["none"]]
    print(f"baseline (nobody dies)      cluster initial -> succeeded: {summary(base)}")
    for death in ("kill -9", "freeze"):
        runs = results[death]
        print(f"{death:8s} replica 1   death -> held by replica 2:      {summary([r['held'] for r in runs])}")
        print(f"{'':8s}             death -> succeeded:               {summary([r['done'] for r in runs])}")
        extra = [r["done"] - b for r, b in zip(runs, base, strict=False) if r["done"] == r["done"]]
        print(f"{'':8s}             cost over baseline:               {summary(extra)}")
    creates = {d: sorted({int(r["creates"]) for r in rs}) for d, rs in results.items()}
    print(f"CreateCluster calls per create: {creates}")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
