"""Server cold start, estimate_cost latency and API calls per repeated estimate, with baselines.

Run: python bench/bench_estimate.py [--runs N]
Prints figures; asserts nothing (these machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from benchenv import PRO_CLUSTER_PLAN, offline, sandbox_runtime
from mcp import Client, StdioServerParameters

offline()

from ack_compute.sandbox import SandboxCloud  # noqa: E402
from ack_compute.server.app import build_server  # noqa: E402
from ack_compute.tools.estimate_cost import estimate_cost  # noqa: E402
from ack_compute.tools.plans import ClusterPlan  # noqa: E402

# The Pro cluster plan without its disks.
PLAN: dict[str, Any] = {k: v for k, v in PRO_CLUSTER_PLAN.items() if k not in ("system_disk", "data_disks")}
BARE = (
    "from mcp.server import MCPServer\n"
    "s = MCPServer(name='bare')\n"
    "@s.tool()\n"
    "def ping() -> str:\n"
    "    return 'pong'\n"
    "s.run('stdio')\n"
)
EAGER = (
    "import alibabacloud_cs20151215.client, alibabacloud_ecs20140526.client, alibabacloud_vpc20160428.client; "
    "from ack_compute.server.cli import main; main(['serve'])"
)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def time_to_tools_list(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    async with Client(StdioServerParameters(command=sys.executable, args=args, env=env)) as client:
        await client.list_tools()
        return time.perf_counter() - started


def cold_start(cloud: SandboxCloud, state: str, runs: int) -> None:
    env = cloud.server_env(state, log_level="WARNING")
    cases = {
        "python -c pass (interpreter floor)": None,
        "floor: bare one-tool MCPServer (mcp 2.x import)": ["-c", BARE],
        "ack-compute-mcp serve (lazy SDK imports)": ["-m", "ack_compute.server", "serve"],
        "baseline: same, SDKs imported eagerly": ["-c", EAGER],
    }
    print(f"\nCold start to a tools/list answer over stdio ({runs} runs each; target < 0.6 s)")
    for name, args in cases.items():
        samples = []
        for _ in range(runs):
            if args is None:
                t = time.perf_counter()
                os.spawnv(os.P_WAIT, sys.executable, [sys.executable, "-c", "pass"])
                samples.append(time.perf_counter() - t)
            else:
                samples.append(anyio.run(time_to_tools_list, args, env))
        print(f"  {name:48s} median {statistics.median(samples):.3f} s   min {min(samples):.3f} s")


def warm_latency(cloud: SandboxCloud, state: str, runs: int) -> None:
    runtime = sandbox_runtime(cloud, Path(state) / "inproc")
    plan = ClusterPlan.model_validate(PLAN)
    cloud.reset_counts()
    first = time.perf_counter()
    estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
    cold_ms = (time.perf_counter() - first) * 1000
    cold_calls = sum(cloud.counts().values())
    cloud.reset_counts()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes)
        samples.append((time.perf_counter() - t) * 1000)
    warm_calls = sum(cloud.counts().values())

    async def via_mcp() -> list[float]:
        out = []
        async with Client(build_server(runtime)) as client:
            for _ in range(runs):
                t = time.perf_counter()
                await client.call_tool("estimate_cost", {"plan": PLAN})
                out.append((time.perf_counter() - t) * 1000)
        return out

    mcp_samples = anyio.run(via_mcp)
    print(f"\nestimate_cost, cluster plan with 2 instance types and a zone ({runs} warm runs; target p50 < 5 ms)")
    print(f"  first (cold cache)             {cold_ms:8.2f} ms   cloud API calls: {cold_calls}")
    print(f"  warm, in-process function      p50 {pct(samples, 50):6.2f} ms   p95 {pct(samples, 95):6.2f} ms")
    print(f"  warm, through MCP (in memory)  p50 {pct(mcp_samples, 50):6.2f} ms   p95 {pct(mcp_samples, 95):6.2f} ms")
    print(
        f"  cloud API calls for {runs} repeated estimates: {warm_calls} "
        f"(baseline without the cache: {cold_calls} per estimate = {cold_calls * runs})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--start-runs", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    with SandboxCloud() as cloud, tempfile.TemporaryDirectory() as state:
        cold_start(cloud, state, args.start_runs)
        warm_latency(cloud, state, args.runs)


if __name__ == "__main__":
    main()
