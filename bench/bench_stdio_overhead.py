"""Per-call cost of the MCP layers and of the stdio transport, for one estimate_cost with cached prices.

Run: python bench/bench_stdio_overhead.py [--calls 300] [--rounds 5] [--start-runs 5] [--json]

The same cluster estimate is made `--calls` times (after a warm-up that fills the price cache, so no call reaches
the cloud) three ways, in `--rounds` interleaved rounds so background load hits the three alike, against the
embedded sandbox cloud running in this process:
  (a) in-process: `ack_compute.tools.estimate_cost.estimate_cost(...)` with a Runtime built here (the floor);
  (b) in-memory MCP: `mcp.Client(build_server(runtime))` (MCP layers, no transport);
  (c) stdio: `mcp.Client(StdioServerParameters(python -m ack_compute.server serve))`, a real subprocess.
Printed: p50/p90/p99 per call of each, the overheads (b - a), (c - b) and (c - a) at the median, the server
process's CPU per call over stdio, a `tools/list` round trip in (b) and (c), and the stdio server's start time:
spawn to initialize done, and to the first tools/list and estimate answers (`--start-runs` fresh processes).
Figures only; nothing is asserted (the machine is shared and noisy: the load average is printed).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from benchenv import PRO_CLUSTER_PLAN, arguments, emit, load_average, machine, machine_line, offline, sandbox_runtime
from mcp import Client, StdioServerParameters

offline()

from ack_compute.sandbox import SandboxCloud  # noqa: E402
from ack_compute.server.app import build_server  # noqa: E402
from ack_compute.server.runtime import Runtime  # noqa: E402
from ack_compute.tools.estimate_cost import estimate_cost  # noqa: E402
from ack_compute.tools.plans import ClusterPlan  # noqa: E402

REGION = "cn-hangzhou"
PLAN: dict[str, Any] = PRO_CLUSTER_PLAN
WARMUP = 20
WAYS = ("a_in_process", "b_in_memory_mcp", "c_stdio")


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no samples."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def stats(samples_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(samples_ms),
        "p50": round(pct(samples_ms, 50), 3),
        "p90": round(pct(samples_ms, 90), 3),
        "p99": round(pct(samples_ms, 99), 3),
        "mean": round(statistics.fmean(samples_ms), 3) if samples_ms else 0.0,
    }


def child_cpu_s() -> float:
    """User + system CPU seconds of this process's live children (the stdio server), from /proc."""
    total = 0.0
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # fields[1] is the parent pid
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def server_env(cloud: SandboxCloud, state_dir: Path) -> dict[str, str]:
    home = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "")}
    return {**home, **cloud.server_env(state_dir, log_level="WARNING")}


def stdio_params(cloud: SandboxCloud, state_dir: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "ack_compute.server", "serve"], env=server_env(cloud, state_dir)
    )


async def time_calls(call: Callable[[], Awaitable[Any]], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - t) * 1000)
    return samples


def checked(result: Any) -> Any:
    if result.is_error:
        text = " ".join(getattr(c, "text", "") for c in result.content)
        raise RuntimeError(f"estimate_cost failed: {text}")
    return result


@dataclass
class Samples:
    estimate: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in WAYS})
    tools_list: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in WAYS[1:]})
    stdio_server_cpu_s: float = 0.0


async def measure(runtime: Runtime, cloud: SandboxCloud, state_dir: Path, calls: int, rounds: int) -> Samples:
    """The three ways in interleaved rounds (a, b, c, a, b, c, ...) so background load hits them alike."""
    plan = ClusterPlan.model_validate(PLAN)
    out = Samples()
    async with Client(build_server(runtime)) as memory, Client(stdio_params(cloud, state_dir)) as stdio:

        async def direct() -> None:
            estimate_cost(plan, default_region=REGION, pricer=runtime.pricer, quotes=runtime.quotes)

        async def via_memory() -> None:
            checked(await memory.call_tool("estimate_cost", {"plan": PLAN}))

        async def via_stdio() -> None:
            checked(await stdio.call_tool("estimate_cost", {"plan": PLAN}))

        ways: dict[str, Callable[[], Awaitable[Any]]] = {WAYS[0]: direct, WAYS[1]: via_memory, WAYS[2]: via_stdio}
        lists: dict[str, Callable[[], Awaitable[Any]]] = {WAYS[1]: memory.list_tools, WAYS[2]: stdio.list_tools}
        for call in [*ways.values(), *lists.values()]:  # fills the price caches, imports, SDK schema caches
            await time_calls(call, WARMUP)
        per_round = max(calls // rounds, 1)
        for _ in range(rounds):
            for name, call in ways.items():
                cpu = child_cpu_s() if name == WAYS[2] else 0.0
                out.estimate[name] += await time_calls(call, per_round)
                if name == WAYS[2]:
                    out.stdio_server_cpu_s += child_cpu_s() - cpu
            for name, call in lists.items():
                out.tools_list[name] += await time_calls(call, max(per_round // 5, 2))
    return out


async def payload_sizes(runtime: Runtime) -> dict[str, int]:
    """JSON sizes of a tools/list result and of one estimate_cost result, as they cross the transport."""
    async with Client(build_server(runtime)) as client:
        listed = await client.list_tools()
        result = checked(await client.call_tool("estimate_cost", {"plan": PLAN}))
    return {
        "tools_list": len(listed.model_dump_json(by_alias=True, exclude_none=True)),
        "estimate_result": len(result.model_dump_json(by_alias=True, exclude_none=True)),
    }


async def start_once(cloud: SandboxCloud, state_dir: Path) -> dict[str, float]:
    """Spawn -> initialize done -> first tools/list -> first estimate (cold price cache in the new process)."""
    t0 = time.perf_counter()
    async with Client(stdio_params(cloud, state_dir)) as client:
        t1 = time.perf_counter()
        await client.list_tools()
        t2 = time.perf_counter()
        checked(await client.call_tool("estimate_cost", {"plan": PLAN}))
        t3 = time.perf_counter()
    return {"initialized": t1 - t0, "tools_list": t2 - t0, "first_estimate": t3 - t0}


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--calls", type=int, default=300, help="timed estimate_cost calls per way (after a warm-up)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds the calls are split into")
    parser.add_argument("--start-runs", type=int, default=5, help="fresh stdio server processes to time")
    args = parser.parse_args()
    out: dict[str, Any] = {
        "machine": machine(),
        "calls": args.calls,
    }
    with SandboxCloud() as cloud, tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        runtime = sandbox_runtime(cloud, state / "inproc", region=REGION)
        cloud.reset_counts()
        samples = anyio.run(measure, runtime, cloud, state / "stdio", args.calls, args.rounds)
        out["cloud_api_calls"] = sum(cloud.counts().values())  # the two warm-ups' cold estimates only
        a, b, c = (samples.estimate[k] for k in WAYS)
        out["calls"] = len(a)
        out["estimate_ms"] = {k: stats(v) for k, v in samples.estimate.items()}
        out["overhead_p50_ms"] = {
            "mcp_layers_b_minus_a": round(pct(b, 50) - pct(a, 50), 3),
            "stdio_transport_c_minus_b": round(pct(c, 50) - pct(b, 50), 3),
            "total_c_minus_a": round(pct(c, 50) - pct(a, 50), 3),
        }
        out["stdio_server_cpu_ms_per_call"] = round(samples.stdio_server_cpu_s * 1000 / max(len(c), 1), 3)
        out["tools_list_ms"] = {k: stats(v) for k, v in samples.tools_list.items()}
        out["payload_bytes"] = anyio.run(payload_sizes, runtime)
        out["load_average_after_calls"] = load_average()

        starts = [anyio.run(start_once, cloud, state / f"start{i}") for i in range(args.start_runs)]
        out["stdio_start_s"] = {
            key: {
                "median": round(statistics.median(s[key] for s in starts), 3),
                "min": round(min(s[key] for s in starts), 3),
            }
            for key in ("initialized", "tools_list", "first_estimate")
        }
        out["load_average_end"] = load_average()

    emit(out, args.json, report)


def report(out: dict[str, Any]) -> None:
    m = out["machine"]
    print(machine_line(m))
    print(
        f"\nestimate_cost, same cluster plan, cached prices ({out['calls']} timed calls each after {WARMUP} warm-up; "
        f"cloud API calls in all: {out['cloud_api_calls']})"
    )
    names = {
        "a_in_process": "(a) in-process function (floor)",
        "b_in_memory_mcp": "(b) MCP Client, in memory",
        "c_stdio": "(c) MCP Client, stdio subprocess",
    }
    for key, name in names.items():
        s = out["estimate_ms"][key]
        print(f"  {name:36s} p50 {s['p50']:7.3f}  p90 {s['p90']:7.3f}  p99 {s['p99']:7.3f}  mean {s['mean']:7.3f} ms")
    o = out["overhead_p50_ms"]
    print(
        f"  overhead per call at p50: MCP layers (b-a) {o['mcp_layers_b_minus_a']:.3f} ms, stdio transport (c-b) "
        f"{o['stdio_transport_c_minus_b']:.3f} ms, total stdio vs in-process (c-a) {o['total_c_minus_a']:.3f} ms"
    )
    print(f"  stdio server process CPU per call: {out['stdio_server_cpu_ms_per_call']:.2f} ms")
    sizes = out["payload_bytes"]
    print(
        f"\ntools/list round trip ({sizes['tools_list'] / 1024:.0f} KiB of JSON; an estimate result is "
        f"{sizes['estimate_result'] / 1024:.1f} KiB)"
    )
    for key in ("b_in_memory_mcp", "c_stdio"):
        s = out["tools_list_ms"][key]
        print(f"  {names[key]:36s} p50 {s['p50']:7.3f}  p90 {s['p90']:7.3f}  p99 {s['p99']:7.3f} ms")
    st = out["stdio_start_s"]
    print("\nstdio server start (spawn -> ...; median and min of fresh processes)")
    print(f"  initialize done        {st['initialized']['median']:.3f} s   min {st['initialized']['min']:.3f} s")
    print(f"  first tools/list       {st['tools_list']['median']:.3f} s   min {st['tools_list']['min']:.3f} s")
    print(f"  first estimate (cold)  {st['first_estimate']['median']:.3f} s   min {st['first_estimate']['min']:.3f} s")
    print(f"\nload average after the calls {out['load_average_after_calls']}, at the end {out['load_average_end']}")


if __name__ == "__main__":
    main()
