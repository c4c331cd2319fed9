"""`ack-compute-mcp demo`: every flow that exists, on the sandbox, through a real MCP client over stdio.

The server runs as a subprocess configured exactly like a real deployment (credentials in its
environment, an endpoint override), so the demo exercises the real credentials chain and SDKs.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from typing import Any

import anyio
from mcp import Client, StdioServerParameters, types

from ack_compute.server.settings import Settings

CLUSTER_PLAN: dict[str, Any] = {
    "kind": "cluster",
    "edition": "pro",
    "instance_types": ["ecs.g7.xlarge", "ecs.c7.xlarge"],
    "node_count": 3,
    "zone": "cn-hangzhou-h",
    "system_disk": {"category": "cloud_essd", "size_gib": 120, "performance_level": "PL0"},
    "data_disks": [{"category": "cloud_essd", "size_gib": 200}],
    "hours": 4,
}
ACS_PLAN: dict[str, Any] = {"kind": "acs", "replicas": 4, "vcpu": 2, "memory_gib": 4, "hours": 8}
BIG_PLAN: dict[str, Any] = {"kind": "cluster", "instance_types": ["ecs.gn7i-c16g1.4xlarge"], "node_count": 20}
BUDGET_CAP_PER_HOUR = "60"


def _say(text: str = "") -> None:
    print(text, flush=True)


def quote_table(est: dict[str, Any]) -> str:
    """The quote as a person wants to read it."""
    cur = est["currency"]
    rows = [
        (i["item"], f"{i['unit_price']:.4f}/{i['unit']}", f"{i['quantity']:g}", f"{i['hourly']:.4f}")
        for i in est["line_items"]
    ]
    head = ("Item", f"Unit price ({cur})", "Qty", f"{cur}/h")
    widths = [max(len(r[c]) for r in [head, *rows]) for c in range(4)]
    line = "  ".join("-" * w for w in widths)
    out = [
        "  ".join(h.ljust(w) if c == 0 else h.rjust(w) for c, (h, w) in enumerate(zip(head, widths, strict=True))),
        line,
    ]
    out += [
        "  ".join(v.ljust(w) if c == 0 else v.rjust(w) for c, (v, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
    out += [
        line,
        f"Hourly total: {est['hourly_total']:.4f} {cur}/h   Total for {est['hours']:g} h: {est['total']:.2f} {cur}",
    ]
    out += [f"  assumes: {a}" for a in est["assumptions"]]
    out += [f"  excludes: {e}" for e in est["exclusions"]]
    if est.get("quote_id"):
        out.append(f"Quote {est['quote_id']} valid until {est['expires_at']} (token {est['quote_token'][:16]}...)")
    else:
        out.append(f"No quote issued: {est['budget']['message']}")
    return "\n".join(out)


async def _estimate(client: Client, plan: dict[str, Any]) -> tuple[bool, Any, float]:
    started = time.perf_counter()
    result = await client.call_tool("estimate_cost", {"plan": plan})
    elapsed = (time.perf_counter() - started) * 1000
    if result.is_error:
        return False, result.content[0].text, elapsed  # type: ignore[union-attr]
    return True, result.structured_content, elapsed


async def _person(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    """The demo plays the person: it reads the server's question aloud and accepts."""
    _say(f"    server asks the person: {params.message}")
    _say("    person: yes")
    return types.ElicitResult(action="accept", content={"accept": True})


async def _clusters(client: Client, cloud: Any) -> None:
    name = "acf-demo"
    plan = {
        "kind": "cluster",
        "instance_types": ["ecs.g7.xlarge"],
        "node_count": 2,
        "zone": "cn-hangzhou-h",
        "hours": 2,
    }
    _say(f"\n[6] ensure_cluster {name}: no such cluster yet, so the server asks for a quote and creates nothing")
    first = (await client.call_tool("ensure_cluster", {"name": name})).structured_content or {}
    _say(f"  status {first['status']}: {first['message']}")
    _, est, _ = await _estimate(client, plan)
    _say(quote_table(est))
    _say(f"\n[7] ensure_cluster {name} with the plan and quote_token (waits at most 5 s, then hands back an operation)")
    started = await client.call_tool(
        "ensure_cluster", {"name": name, "plan": plan, "quote_token": est["quote_token"], "wait_seconds": 5}
    )
    out = started.structured_content or {}
    _say(f"  status {out['status']}: {out['message']}")
    operation = out.get("operation_id")
    while operation and out.get("status") in ("creating", "waiting"):
        view = await client.call_tool("get_operation", {"operation_id": operation, "wait_seconds": 10})
        data = view.structured_content or {}
        _say(f"  get_operation: {data['state']} {data['progress']:.0%} {data['stage']} {data['message']}")
        if data["state"] != "running":
            out = data.get("result") or {"status": "failed", "message": data.get("error")}
    _say(f"  result: {out.get('status')}: {out.get('message')}")
    _say(f"\n[8] ensure_cluster {name} again: reused by name, no quote, nothing new")
    again = (await client.call_tool("ensure_cluster", {"name": name})).structured_content or {}
    _say(f"  status {again['status']}: {again['message']}")
    _say(f"  CreateCluster calls in the whole demo: {cloud.counts().get('CreateCluster', 0)}")
    await _jobs(client, name)


DEMO_SCRIPT = """import platform, statistics
samples = [3.1, 2.7, 3.4, 2.9, 3.3]
print(f"mean {statistics.mean(samples):.2f}, stdev {statistics.stdev(samples):.2f}")
print("ran with python", platform.python_version())
"""


async def _jobs(client: Client, cluster: str) -> None:
    _say(f"\n[9] run_job on {cluster}: a python script (the sandbox runs it as a local process; see the README)")
    result = await client.call_tool(
        "run_job", {"cluster": cluster, "script": DEMO_SCRIPT, "script_type": "python", "wait_seconds": 30}
    )
    out = result.structured_content or {}
    if result.is_error:
        _say(f"  refused: {result.content[0].text}")  # type: ignore[union-attr]
        return
    took = out["duration_seconds"] or 0
    took_text = f"{took:g} s" if took >= 1 else "under 1 s"
    _say(f"  status {out['status']}, exit code {out['exit_code']}, ran {took_text} on node {out['node']}")
    _say(f"  job {out['job_name']}, image {out['image']}")
    for line in out["log"].splitlines():
        _say(f"  | {line}")
    _say("\n[10] run_job with an image nobody can pull: fails fast with the reason and deletes the Job")
    result = await client.call_tool(
        "run_job", {"cluster": cluster, "script": "echo never", "image": "registry.example.com/missing/tool:1"}
    )
    out = result.structured_content or {}
    _say(f"  status {out.get('status')}: {out.get('message')}")
    _say(f"  cleaned up: {', '.join(out.get('cleaned_up') or []) or 'nothing'}")


async def _drive(cloud: Any, env: dict[str, str]) -> int:
    params = StdioServerParameters(command=sys.executable, args=["-m", "ack_compute.server", "serve"], env=env)
    async with Client(params, elicitation_callback=_person) as client:
        tools = await client.list_tools()
        _say("Tools offered by the server:")
        for tool in tools.tools:
            ro = tool.annotations.read_only_hint if tool.annotations else None
            _say(f"  - {tool.name}{' (read-only)' if ro else ''}: {tool.title or ''}")

        _say("\n[1] estimate_cost: ACK Pro cluster, 3 nodes, preferred ecs.g7.xlarge then ecs.c7.xlarge, 4 h")
        ok, est, ms = await _estimate(client, CLUSTER_PLAN)
        if not ok:
            _say(f"unexpected refusal: {est}")
            return 1
        _say(quote_table(est))
        _say(f"({ms:.0f} ms; cloud API calls so far: {sum(cloud.counts().values())})")

        _say("\n[2] the same estimate again: prices come from the quote-TTL cache")
        before = sum(cloud.counts().values())
        ok, again, ms = await _estimate(client, CLUSTER_PLAN)
        _say(
            f"new quote {again['quote_id']}, same total {again['total']:.2f} {again['currency']}, "
            f"{ms:.0f} ms, cloud API calls made: {sum(cloud.counts().values()) - before}"
        )

        _say("\n[3] estimate_cost: ACS serverless pods, 4 x (2 vCPU, 4 GiB), 8 h")
        ok, est, _ = await _estimate(client, ACS_PLAN)
        _say(quote_table(est) if ok else f"refused: {est}")

        _say(f"\n[4] a plan over the operator's cap ({BUDGET_CAP_PER_HOUR} CNY/h): priced, but no quote")
        ok, est, _ = await _estimate(client, BIG_PLAN)
        _say(quote_table(est) if ok else f"refused: {est}")

        _say("\n[5] bad input is refused with what to fix; nothing is created")
        for bad in (
            {**CLUSTER_PLAN, "node_count": 150},
            {**CLUSTER_PLAN, "instance_types": ["ecs.g7.huge"]},
            {**CLUSTER_PLAN, "zone": "cn-shanghai-b"},
        ):
            before = sum(cloud.counts().values())
            ok, text, _ = await _estimate(client, bad)
            first = str(text).splitlines()[0:3]
            _say(f"  refused ({sum(cloud.counts().values()) - before} cloud calls): {' | '.join(first)[:300]}")
        await _clusters(client, cloud)
        _say("\nDone. The sandbox cloud and the temporary ledger are discarded; nothing here was billed.")
    return 0


def run_demo(settings: Settings) -> int:
    from ack_compute.sandbox import SandboxCloud

    # Unless asked otherwise, run the sandbox clock 120x fast: a 6-minute cluster takes 3 s.
    scale = settings.sandbox_time_scale if "sandbox_time_scale" in settings.model_fields_set else 120.0
    with SandboxCloud(time_scale=scale) as cloud, tempfile.TemporaryDirectory() as state:
        _say(f"ack-compute-mcp demo: sandbox cloud at {cloud.endpoint} (no account, no network)\n")
        env = {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": cloud.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": cloud.access_key_secret,
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "ACK_COMPUTE_ENDPOINT": cloud.endpoint,
            "ACK_COMPUTE_PROTOCOL": "http",
            "ACK_COMPUTE_STATE_DIR": state,
            "ACK_COMPUTE_REGION": settings.region,
            "ACK_COMPUTE_MAX_HOURLY": BUDGET_CAP_PER_HOUR,
            "ACK_COMPUTE_LOG_LEVEL": "WARNING",
        }
        if "PYTHONPATH" in os.environ:
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        return anyio.run(_drive, cloud, env)
