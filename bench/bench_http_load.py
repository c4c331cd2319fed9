"""Load over streamable HTTP: many concurrent MCP clients calling estimate_cost on one server process.

Run: python bench/bench_http_load.py [--clients 50] [--calls 20] [--baseline-calls N] [--rounds 1] [--json]

The embedded sandbox cloud runs in this process; the server is a separate `python -m ack_compute.server serve
--transport http` process pointed at it. After a warm-up that fills the price cache, each of `--clients`
concurrent `mcp.Client(url)` sessions (one anyio task group) connects, lists the tools (as hosts do) and makes
`--calls` estimate_cost calls over a mix of cluster and ACS plans. Printed: calls, errors (is_error results,
exceptions and failed sessions counted apart, with the first error's text), wall time, throughput, latency
p50/p90/p99/max (also without each session's first call, which meets the connect burst), session connect
(initialize) and tools/list times, CPU per call of the server and of this process, the server's RSS
before/after and peak (sampled, and VmHWM), its threads and open fds, and the cloud API calls the sandbox
received (0 during the load: the price cache answered everything; every call still signs a new quote).
Baseline in the same run: the same number of calls made one after another by a single client.
The clients run in this process on the same machine, so on 2 cores the load generator (about twice the server's
CPU per call) bounds the throughput: read the server's CPU per call for its capacity. Figures only; nothing is
asserted (the machine is shared and noisy: load averages are printed).
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
from benchenv import PRO_CLUSTER_PLAN, arguments, emit, load_average, machine, machine_line, offline, stop
from mcp import Client

offline()

from ack_compute.sandbox import SandboxCloud  # noqa: E402

PLANS: list[dict[str, Any]] = [
    PRO_CLUSTER_PLAN,
    {"kind": "cluster", "edition": "basic", "instance_types": ["ecs.c7.large"], "node_count": 2, "hours": 1},
    {"kind": "acs", "replicas": 4, "vcpu": 2, "memory_gib": 4, "hours": 8},
    {"kind": "acs", "vcpu": 1, "memory_gib": 2},
]


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no samples."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int, key: str) -> int:
    """A numeric field of /proc/<pid>/status (VmRSS and VmHWM are in KiB); 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used, from /proc/<pid>/stat (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


class RssSampler:
    """Samples a process's VmRSS every `interval` seconds from a thread; keeps the highest value seen."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, proc_status(self.pid, "VmRSS"))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def http_server(
    cloud: SandboxCloud, state_dir: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes], float]]:
    """`serve --transport http` in its own process (`env` added to its environment); yields its URL, the process,
    and spawn-to-ready seconds."""
    port = free_port()
    env = {**os.environ, **cloud.server_env(state_dir, log_level="WARNING"), **(env or {})}
    with tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ack_compute.server", "serve", "--transport", "http", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        url = f"http://127.0.0.1:{port}/mcp"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(url, timeout=0.5)  # any HTTP answer (even 4xx) means it is serving
                    break
                except httpx.TransportError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        stderr.seek(0)
                        log = stderr.read().decode(errors="replace")
                        raise RuntimeError(f"the server did not come up at {url}:\n{log}") from None
                    time.sleep(0.05)
            yield url, proc, time.perf_counter() - started
        finally:
            stop(proc)
            stderr.seek(0)
            lines = stderr.read().decode(errors="replace").strip().splitlines()
            tail = [line for line in lines if not line.startswith("INFO:")][-15:]  # uvicorn's start/stop lines
            if tail:
                print("\nserver stderr (last lines):\n  " + "\n  ".join(tail), file=sys.stderr)


@dataclass
class Tally:
    """What a set of clients saw."""

    latencies_ms: list[float] = field(default_factory=list)
    later_ms: list[float] = field(default_factory=list)  # every call but each session's first
    connect_ms: list[float] = field(default_factory=list)
    tools_list_ms: list[float] = field(default_factory=list)
    ok: int = 0
    tool_errors: int = 0
    exceptions: int = 0
    connect_failures: int = 0
    first_error: str = ""
    quote_ids: set[str] = field(default_factory=set)

    @property
    def calls(self) -> int:
        return self.ok + self.tool_errors + self.exceptions

    def error(self, text: str) -> None:
        if not self.first_error:
            self.first_error = text[:500]


async def one_client(url: str, index: int, calls: int, tally: Tally, timeout: float) -> None:
    """One MCP session: connect (initialize), tools/list, then `calls` estimate_cost calls cycling through PLANS.

    tools/list is explicit, as hosts do at session start; otherwise the SDK client would make it implicitly
    inside the first call_tool (to fetch the output schema it validates results against).
    """
    started = time.perf_counter()
    try:
        with anyio.fail_after(timeout):
            async with Client(url) as client:
                tally.connect_ms.append((time.perf_counter() - started) * 1000)
                t = time.perf_counter()
                await client.list_tools()
                tally.tools_list_ms.append((time.perf_counter() - t) * 1000)
                for i in range(calls):
                    plan = PLANS[(index + i) % len(PLANS)]
                    t = time.perf_counter()
                    try:
                        result = await client.call_tool("estimate_cost", {"plan": plan})
                    except Exception as exc:  # a transport or protocol failure, not a tool error
                        tally.exceptions += 1
                        tally.error(f"exception: {type(exc).__name__}: {exc}")
                        continue
                    tally.latencies_ms.append((time.perf_counter() - t) * 1000)
                    if i:
                        tally.later_ms.append(tally.latencies_ms[-1])
                    if result.is_error:
                        tally.tool_errors += 1
                        text = " ".join(getattr(c, "text", "") for c in result.content)
                        tally.error(f"is_error result: {text}")
                    else:
                        tally.ok += 1
                        tally.quote_ids.add(str((result.structured_content or {}).get("quote_id")))
    except Exception as exc:  # connect failure, or the session died (the calls it did not make are missed)
        tally.connect_failures += 1
        tally.error(f"session: {type(exc).__name__}: {exc}")


async def run_concurrent(url: str, clients: int, calls: int, timeout: float) -> tuple[Tally, float]:
    tally = Tally()
    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for index in range(clients):
            tg.start_soon(one_client, url, index, calls, tally, timeout)
    return tally, time.perf_counter() - started


def summarise(tally: Tally, wall: float, expected: int) -> dict[str, Any]:
    lat = tally.latencies_ms
    return {
        "calls_expected": expected,
        "calls_made": tally.calls,
        "ok": tally.ok,
        "tool_errors": tally.tool_errors,
        "exceptions": tally.exceptions,
        "session_failures": tally.connect_failures,
        "first_error": tally.first_error,
        "distinct_quote_ids": len(tally.quote_ids),
        "wall_s": round(wall, 3),
        "throughput_calls_per_s": round(tally.ok / wall, 1) if wall else 0.0,
        "latency_ms": {
            "p50": round(pct(lat, 50), 2),
            "p90": round(pct(lat, 90), 2),
            "p99": round(pct(lat, 99), 2),
            "max": round(max(lat, default=0.0), 2),
            "mean": round(statistics.fmean(lat), 2) if lat else 0.0,
        },
        "latency_ms_after_first_call": {
            "p50": round(pct(tally.later_ms, 50), 2),
            "p99": round(pct(tally.later_ms, 99), 2),
        },
        "connect_ms": {"p50": round(pct(tally.connect_ms, 50), 2), "p99": round(pct(tally.connect_ms, 99), 2)},
        "tools_list_ms": {
            "p50": round(pct(tally.tools_list_ms, 50), 2),
            "p99": round(pct(tally.tools_list_ms, 99), 2),
        },
    }


def cpu_per_call(pid: int, before: tuple[float, float], calls: int, wall: float) -> dict[str, float]:
    """CPU ms per call spent by the server process and by this (client) process since `before`, and the share
    of one core each kept busy over `wall` seconds (1.0 = a whole core; the GIL caps the server near 1)."""
    server = proc_cpu_s(pid) - before[0]
    client = time.process_time() - before[1]
    n = max(calls, 1)
    return {
        "server": round(server * 1000 / n, 2),
        "client": round(client * 1000 / n, 2),
        "server_cores_busy": round(server / wall, 2) if wall else 0.0,
        "client_cores_busy": round(client / wall, 2) if wall else 0.0,
    }


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--clients", type=int, default=50, help="concurrent MCP sessions")
    parser.add_argument("--calls", type=int, default=20, help="estimate_cost calls per session")
    parser.add_argument(
        "--baseline-calls", type=int, help="calls by the single sequential client (default: clients x calls)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat the concurrent load to watch memory growth")
    parser.add_argument("--timeout", type=float, default=300, help="seconds one session may take before it fails")
    args = parser.parse_args()
    total = args.clients * args.calls
    baseline_calls = args.baseline_calls or total
    out: dict[str, Any] = {
        "machine": machine(),
        "clients": args.clients,
        "calls_per_client": args.calls,
    }

    with SandboxCloud() as cloud, tempfile.TemporaryDirectory() as state, http_server(cloud, state) as running:
        url, proc, ready_s = running
        out["server"] = {"pid": proc.pid, "spawn_to_ready_s": round(ready_s, 3), "rss_kib_idle": 0}
        out["server"]["rss_kib_idle"] = proc_status(proc.pid, "VmRSS")

        # Warm-up: one session prices every plan once (cold cache), then once more (warm), so later calls
        # measure the server rather than first-use imports and the cloud.
        cloud.reset_counts()
        warm = Tally()
        anyio.run(one_client, url, 0, 2 * len(PLANS), warm, args.timeout)
        out["warmup"] = {
            "calls": warm.calls,
            "errors": warm.tool_errors + warm.exceptions + warm.connect_failures,
            "first_error": warm.first_error,
            "cloud_api_calls": sum(cloud.counts().values()),
            "cloud_api_calls_by_action": cloud.counts(),
        }

        # Baseline: one client, one call after another.
        cloud.reset_counts()
        sequential = Tally()
        cpu = (proc_cpu_s(proc.pid), time.process_time())
        t = time.perf_counter()
        anyio.run(one_client, url, 0, baseline_calls, sequential, args.timeout)
        wall = time.perf_counter() - t
        out["sequential_1_client"] = summarise(sequential, wall, baseline_calls)
        out["sequential_1_client"]["cpu_ms_per_call"] = cpu_per_call(proc.pid, cpu, sequential.calls, wall)
        out["sequential_1_client"]["cloud_api_calls"] = sum(cloud.counts().values())

        rounds = []
        for r in range(args.rounds):
            cloud.reset_counts()
            rss_before = proc_status(proc.pid, "VmRSS")
            threads_fds_before = (proc_status(proc.pid, "Threads"), open_fds(proc.pid))
            load_before = load_average()
            cpu = (proc_cpu_s(proc.pid), time.process_time())
            with RssSampler(proc.pid) as sampler:
                tally, wall = anyio.run(run_concurrent, url, args.clients, args.calls, args.timeout)
            summary = summarise(tally, wall, total)
            summary["cpu_ms_per_call"] = cpu_per_call(proc.pid, cpu, tally.calls, wall)
            summary["round"] = r + 1
            summary["load_average_before"] = load_before
            summary["load_average_after"] = load_average()
            summary["cloud_api_calls"] = sum(cloud.counts().values())
            summary["server_rss_kib"] = {
                "before": rss_before,
                "after": proc_status(proc.pid, "VmRSS"),
                "peak_sampled": sampler.peak_kib,
                "VmHWM": proc_status(proc.pid, "VmHWM"),
            }
            summary["server_threads"] = {"before": threads_fds_before[0], "after": proc_status(proc.pid, "Threads")}
            summary["server_open_fds"] = {"before": threads_fds_before[1], "after": open_fds(proc.pid)}
            rounds.append(summary)
        out["concurrent"] = rounds
        time.sleep(1.0)
        out["server"]["rss_kib_1s_after_load"] = proc_status(proc.pid, "VmRSS")

    emit(out, args.json, report)


def _line(name: str, s: dict[str, Any]) -> str:
    lat = s["latency_ms"]
    return (
        f"  {name:30s} {s['ok']:5d} ok {s['throughput_calls_per_s']:7.1f} calls/s  "
        f"p50 {lat['p50']:7.2f}  p90 {lat['p90']:7.2f}  p99 {lat['p99']:7.2f}  max {lat['max']:7.2f} ms"
        f"   wall {s['wall_s']:.1f} s"
    )


def failed_calls(s: dict[str, Any]) -> int:
    """Every way a phase's call can fail (an is_error result, an exception, a failed session), as one count."""
    return int(s["tool_errors"] + s["exceptions"] + s["session_failures"])


def print_first_error(s: dict[str, Any]) -> None:
    """The first failure's text, when there was one: the count alone does not say what broke."""
    if s["first_error"]:
        print(f"    first error: {s['first_error']}")


def _details(s: dict[str, Any]) -> None:
    errors = failed_calls(s)
    print(
        f"    calls {s['calls_made']}/{s['calls_expected']}, errors {errors} (is_error results {s['tool_errors']}, "
        f"exceptions {s['exceptions']}, failed sessions {s['session_failures']}); "
        f"distinct quote ids {s['distinct_quote_ids']}"
    )
    print_first_error(s)
    later = s["latency_ms_after_first_call"]
    print(f"    latency without each session's first call: p50 {later['p50']:.2f} ms, p99 {later['p99']:.2f} ms")
    print(
        f"    session connect (initialize) p50 {s['connect_ms']['p50']:.1f} ms, p99 {s['connect_ms']['p99']:.1f} ms; "
        f"then tools/list p50 {s['tools_list_ms']['p50']:.1f} ms, p99 {s['tools_list_ms']['p99']:.1f} ms"
    )
    cpu = s["cpu_ms_per_call"]
    print(
        f"    CPU per call: server {cpu['server']:.2f} ms ({cpu['server_cores_busy']:.2f} core busy), "
        f"clients+sandbox (this process) {cpu['client']:.2f} ms ({cpu['client_cores_busy']:.2f} core busy)"
    )
    print(f"    cloud API calls during this phase: {s['cloud_api_calls']}")


def report(out: dict[str, Any]) -> None:
    m, srv, warm, seq = out["machine"], out["server"], out["warmup"], out["sequential_1_client"]
    mib = 1024
    print(machine_line(m))
    print(f"server: streamable HTTP, pid {srv['pid']}, spawn to first HTTP answer {srv['spawn_to_ready_s']:.2f} s")
    print(
        f"warm-up (cold price cache): {warm['calls']} calls, {warm['errors']} errors, cloud API calls "
        f"{warm['cloud_api_calls']} {warm['cloud_api_calls_by_action']}"
    )
    if warm["first_error"]:
        print(f"  first warm-up error: {warm['first_error']}")
    print(f"\nestimate_cost over streamable HTTP, {len(PLANS)} plans in turn (latency per call; target 0 errors)")
    print(_line("baseline: 1 client, sequential", seq))
    _details(seq)
    for s in out["concurrent"]:
        name = f"{out['clients']} clients x {out['calls_per_client']} calls"
        print(_line(name + (f" (round {s['round']})" if len(out["concurrent"]) > 1 else ""), s))
        _details(s)
        rss = s["server_rss_kib"]
        print(
            f"    server RSS before {rss['before'] / mib:.1f} MiB, after {rss['after'] / mib:.1f} MiB, "
            f"peak sampled {rss['peak_sampled'] / mib:.1f} MiB, VmHWM {rss['VmHWM'] / mib:.1f} MiB"
        )
        print(
            f"    server threads {s['server_threads']['before']} -> {s['server_threads']['after']}, "
            f"open fds {s['server_open_fds']['before']} -> {s['server_open_fds']['after']}"
        )
        print(f"    load average before {s['load_average_before']}, after {s['load_average_after']}")
    print(
        f"\nserver RSS idle (before any call) {srv['rss_kib_idle'] / mib:.1f} MiB, 1 s after the load "
        f"{srv['rss_kib_1s_after_load'] / mib:.1f} MiB"
    )


if __name__ == "__main__":
    main()
