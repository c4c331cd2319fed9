"""HTTP load over two `serve --http` replicas behind a round-robin proxy, against one replica behind the same proxy.

Run: python bench/bench_replicas.py [--clients 20] [--calls 10] [--rounds 2] [--affinity none|sticky]
     [--ledger sqlite|postgresql] [--database-url URL] [--json]

Two server processes share one sandbox cloud (in this process) and one ledger: the SQLite file of a shared state
dir (default), or with `--ledger postgresql` one PostgreSQL database through ACK_COMPUTE_DATABASE_URL
(`--database-url`, else ACK_COMPUTE_TEST_DATABASE_URL, else a loopback server scripts/postgres.sh starts and
stops). bench/rr_proxy.py runs twice in processes of its own: one in front of replica 1 only (the baseline), one
in front of both. `--affinity none` (default): every request goes to the next replica; the mcp 2.x Client used
here opens no session (no Mcp-Session-Id), so its requests spread evenly. `sticky`: a request carrying an
Mcp-Session-Id goes to the replica that issued it, as legacy-handshake clients need (the sessions pinned are
printed). Each replica's price cache is warmed directly first. Then `--clients` concurrent MCP sessions x
`--calls` estimate_cost calls (bench_http_load's client) go through each proxy, `--rounds` times in ABBA order
(1, 2, 2, 1, ...): printed are calls, errors, HTTP statuses, throughput, latency p50/p90/p99, the requests each
replica got, and CPU per call of each replica and of the proxy. Everything (clients, proxy, replicas) shares this
machine's cores, so two replicas cannot show more throughput than the cores left over: read the replicas' CPU per
call and the load averages. Loopback only; bounded by --timeout per session. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
from bench_http_load import (
    PLANS,
    Tally,
    failed_calls,
    free_port,
    http_server,
    one_client,
    print_first_error,
    proc_cpu_s,
    run_concurrent,
    summarise,
)
from benchenv import arguments, emit, load_average, machine, machine_line, offline, stop

offline()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.helpers.postgres

from ack_compute.sandbox import SandboxCloud  # noqa: E402
from tests.helpers.postgres import Unavailable, masked, postgres_server  # noqa: E402

PROXY = Path(__file__).resolve().parent / "rr_proxy.py"


@contextlib.contextmanager
def proxy(backends: list[str], affinity: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """rr_proxy.py in its own process; yields its /mcp URL and the process."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(PROXY), "--port", str(port), "--affinity", affinity, *backends],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/_proxy/stats", timeout=0.5)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    raise RuntimeError(f"the proxy did not come up at {base}:\n{err}") from None
                time.sleep(0.05)
        yield f"{base}/mcp", proc
    finally:
        stop(proc)


def stats(mcp_url: str) -> dict[str, Any]:
    return dict(httpx.get(mcp_url.removesuffix("/mcp") + "/_proxy/stats", timeout=5).json())


@contextlib.contextmanager
def ledger_env(kind: str, url: str | None) -> Iterator[tuple[dict[str, str], str]]:
    """The replicas' extra environment for the ledger, and a description of it."""
    if kind == "sqlite":
        yield {}, "SQLite file in the replicas' shared state dir"
        return
    if url:
        os.environ["ACK_COMPUTE_TEST_DATABASE_URL"] = url
    try:
        with postgres_server() as server, server.database() as database:
            # Replicas on one database must share the quote secret (they refuse to start otherwise).
            shared = {"ACK_COMPUTE_DATABASE_URL": str(database), "ACK_COMPUTE_QUOTE_SECRET": secrets.token_urlsafe(32)}
            yield shared, f"PostgreSQL {masked(database)}"
    except Unavailable as exc:
        raise SystemExit(f"--ledger postgresql: {exc}") from None


def phase(
    url: str, replicas: list[subprocess.Popen[bytes]], proxy_proc: subprocess.Popen[bytes], args: argparse.Namespace
) -> dict[str, Any]:
    before_stats = stats(url)
    cpu = [proc_cpu_s(p.pid) for p in replicas] + [proc_cpu_s(proxy_proc.pid), time.process_time()]
    load_before = load_average()
    tally, wall = anyio.run(run_concurrent, url, args.clients, args.calls, args.timeout)
    after_stats = stats(url)
    n = max(tally.calls, 1)
    used = [proc_cpu_s(p.pid) - c for p, c in zip(replicas, cpu, strict=False)]
    summary = summarise(tally, wall, args.clients * args.calls)
    summary["requests_per_replica"] = [
        after_stats["sent"].get(b, 0) - before_stats["sent"].get(b, 0) for b in after_stats["sent"]
    ]
    summary["proxy_failures"] = after_stats["failures"]
    summary["http_statuses"] = {
        k: v - before_stats["statuses"].get(k, 0)
        for k, v in after_stats["statuses"].items()
        if v != before_stats["statuses"].get(k, 0)
    }
    summary["sessions_pinned"] = after_stats["sessions"]
    summary["cpu_ms_per_call"] = {
        "replicas": [round(u * 1000 / n, 2) for u in used],
        "proxy": round((proc_cpu_s(proxy_proc.pid) - cpu[-2]) * 1000 / n, 2),
        "clients": round((time.process_time() - cpu[-1]) * 1000 / n, 2),
    }
    summary["load_average_before"] = load_before
    summary["load_average_after"] = load_average()
    return summary


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--clients", type=int, default=20, help="concurrent MCP sessions per phase")
    parser.add_argument("--calls", type=int, default=10, help="estimate_cost calls per session")
    parser.add_argument("--affinity", choices=["sticky", "none"], default="none", help="the proxy's routing")
    parser.add_argument("--ledger", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--database-url", help="with --ledger postgresql: a server whose role may create databases")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of both setups, in ABBA order")
    parser.add_argument("--timeout", type=float, default=120, help="seconds one session may take before it fails")
    args = parser.parse_args()
    out: dict[str, Any] = {
        "machine": machine(),
        "clients": args.clients,
        "calls_per_client": args.calls,
        "affinity": args.affinity,
    }
    database_url = args.database_url or os.environ.get("ACK_COMPUTE_TEST_DATABASE_URL")
    with contextlib.ExitStack() as stack:
        env, out["ledger"] = stack.enter_context(ledger_env(args.ledger, database_url))
        cloud = stack.enter_context(SandboxCloud())
        state = stack.enter_context(tempfile.TemporaryDirectory())
        first_url, first, _ = stack.enter_context(http_server(cloud, state, env))
        second_url, second, _ = stack.enter_context(http_server(cloud, state, env))
        bases = [u.removesuffix("/mcp") for u in (first_url, second_url)]
        one_url, one_proxy = stack.enter_context(proxy(bases[:1], args.affinity))
        two_url, two_proxy = stack.enter_context(proxy(bases, args.affinity))

        warm = Tally()
        for url in (first_url, second_url):  # each replica prices every plan twice (cold, then warm cache)
            anyio.run(one_client, url, 0, 2 * len(PLANS), warm, args.timeout)
        out["warmup"] = {"calls": warm.calls, "errors": warm.tool_errors + warm.exceptions + warm.connect_failures}
        out["warmup"]["first_error"] = warm.first_error

        cloud.reset_counts()
        runs: list[dict[str, Any]] = []
        for r in range(args.rounds):  # ABBA order, so neither setup always runs on the warmer, fuller ledger
            order = ["one_replica", "two_replicas"] if r % 2 == 0 else ["two_replicas", "one_replica"]
            for name in order:
                if name == "one_replica":
                    runs.append({"setup": name, "round": r + 1, **phase(one_url, [first], one_proxy, args)})
                else:
                    runs.append({"setup": name, "round": r + 1, **phase(two_url, [first, second], two_proxy, args)})
        out["runs"] = runs
        for name in ("one_replica", "two_replicas"):
            mine = [run for run in runs if run["setup"] == name]
            ok, wall = sum(run["ok"] for run in mine), sum(run["wall_s"] for run in mine)
            out[name] = {"ok": ok, "wall_s": round(wall, 3), "throughput_calls_per_s": round(ok / wall, 1)}
        out["cloud_api_calls"] = sum(cloud.counts().values())
    emit(out, args.json, report)


def report(out: dict[str, Any]) -> None:
    m = out["machine"]
    print(machine_line(m))
    print(f"ledger: {out['ledger']}; proxy affinity: {out['affinity']}")
    warm = out["warmup"]
    print(f"warm-up (each replica directly): {warm['calls']} calls, {warm['errors']} errors {warm['first_error']}")
    print(f"\nestimate_cost, {out['clients']} sessions x {out['calls_per_client']} calls through the round-robin proxy")
    base = out["one_replica"]["throughput_calls_per_s"]
    for s in out["runs"]:
        name = ("1 replica (baseline)" if s["setup"] == "one_replica" else "2 replicas") + f", round {s['round']}"
        lat = s["latency_ms"]
        errors = failed_calls(s)
        print(
            f"  {name:30s} {s['ok']:5d} ok {s['throughput_calls_per_s']:7.1f} calls/s  "
            f"p50 {lat['p50']:7.2f}  p90 {lat['p90']:7.2f}  p99 {lat['p99']:7.2f} ms  errors {errors}"
            f"  wall {s['wall_s']:.1f} s"
        )
        print_first_error(s)
        cpu = s["cpu_ms_per_call"]
        print(
            f"    requests per replica {s['requests_per_replica']}; CPU ms per call: replicas {cpu['replicas']}, "
            f"proxy {cpu['proxy']}, clients+sandbox {cpu['clients']}"
        )
        print(f"    HTTP answers {s['http_statuses']}; sessions pinned by the proxy {s['sessions_pinned']}")
        if s["proxy_failures"]:
            print(f"    proxy failures: {s['proxy_failures']}")
        print(f"    load average before {s['load_average_before']}, after {s['load_average_after']}")
    two = out["two_replicas"]["throughput_calls_per_s"]
    print(
        f"over all rounds: 1 replica {base:.1f} calls/s, 2 replicas {two:.1f} calls/s "
        f"({two / base if base else 0:.2f}x the baseline)"
    )
    print(f"cloud API calls during the load: {out['cloud_api_calls']}")


if __name__ == "__main__":
    main()
