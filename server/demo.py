"""`ack-compute-mcp demo`: the whole product on the sandbox, through a real MCP client session over stdio.

estimate -> the person's confirmation (one no, then a yes) -> ensure_cluster with a progress bar, its lease extended
once -> run_job -> deploy_acs on an ACK Serverless cluster -> a GPU node pool on a team's cluster, a job on it, then the
pool removed -> cleanup (dry run, then for real) -> the ledger, with nothing of ours left.

The server runs as a subprocess configured exactly like a real deployment (credentials in its environment, an
endpoint override), so the demo exercises the real credentials chain and SDKs. The demo plays both the agent (it
calls the tools) and the person (it answers the server's confirmation questions, and prints them).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import textwrap
import time
from typing import Any

import anyio
from mcp import Client, StdioServerParameters, types

from ack_compute.server.settings import SANDBOX_HANDS_ON_SCALE, Settings

ZONE = "cn-hangzhou-h"
CLUSTER_PLAN: dict[str, Any] = {
    "kind": "cluster",
    "edition": "pro",
    "instance_types": ["ecs.g7.xlarge", "ecs.c7.xlarge"],
    "node_count": 3,
    "zone": ZONE,
    "system_disk": {"category": "cloud_essd", "size_gib": 120, "performance_level": "PL0"},
    "data_disks": [{"category": "cloud_essd", "size_gib": 200}],
    "hours": 4,
}
SMALL_PLAN: dict[str, Any] = {
    "kind": "cluster",
    "instance_types": ["ecs.g7.xlarge"],
    "node_count": 2,
    "zone": ZONE,
    "hours": 2,
}
SERVERLESS_PLAN: dict[str, Any] = {"kind": "serverless", "zone": ZONE, "hours": 2}
WEB_PLAN: dict[str, Any] = {"kind": "acs", "replicas": 2, "vcpu": 1, "memory_gib": 2, "hours": 2}
GPU_POOL_PLAN: dict[str, Any] = {
    "kind": "node_pool",
    "cluster": "team-shared",
    "instance_types": ["ecs.gn7i-c8g1.2xlarge"],
    "node_count": 1,
    "hours": 2,
}
GPU_ZONE = "cn-hangzhou-i"  # a zone of the region that sells the gn7i family
BIG_PLAN: dict[str, Any] = {"kind": "cluster", "instance_types": ["ecs.gn7i-c16g1.4xlarge"], "node_count": 20}
BUDGET_CAP_PER_HOUR = "60"
JOB_CLUSTER = "acf-demo"
SERVERLESS_CLUSTER = "acf-demo-serverless"
FOREIGN_CLUSTER = "team-shared"
WEB_IMAGE = "registry-cn-hangzhou-vpc.ack.aliyuncs.com/acs/nginx:1.27"
FOLLOW_WAIT = 40  # seconds a call may wait before handing back an operation id (the server's cap is 50)
DONE_STATES = ("deleted", "abandoned")

DEMO_SCRIPT = """import platform, statistics
samples = [3.1, 2.7, 3.4, 2.9, 3.3]
print(f"mean {statistics.mean(samples):.2f}, stdev {statistics.stdev(samples):.2f}")
print("ran with python", platform.python_version())
"""


class DemoFailed(Exception):
    """Something the demo relies on did not happen; the message says what."""


def _say(text: str = "") -> None:
    print(text, flush=True)


def _wrapped(text: str, indent: str) -> str:
    width = max(60, min(shutil.get_terminal_size((110, 24)).columns, 110))
    return textwrap.fill(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def _meter(row: dict[str, Any]) -> str:
    """How the accrued figure stands: an estimate, or beside what the cloud billed so far (bills lag up to a day)."""
    if row.get("billed") is None:
        return "estimated"
    return f"billed so far {row['billed']:.2f}; bills lag up to 24 h"


def _money(value: Any) -> str:
    return f"{float(value):.4f}"


def quote_table(est: dict[str, Any]) -> str:
    """The quote as a person wants to read it."""
    cur = est["currency"]
    rows = [
        (i["item"], f"{i['unit_price']:.4f}/{i['unit']}", f"{i['quantity']:g}", f"{i['hourly']:.4f}")
        for i in est.get("line_items", [])
    ]
    head = ("Item", f"Unit price ({cur})", "Qty", f"{cur}/h")
    widths = [max(len(r[c]) for r in [head, *rows]) for c in range(4)]
    line = "  ".join("-" * w for w in widths)

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            v.ljust(w) if c == 0 else v.rjust(w) for c, (v, w) in enumerate(zip(cells, widths, strict=True))
        )

    out = [fmt(head), line, *(fmt(r) for r in rows)] if rows else ["(no billed line items)"]
    out += [
        line if rows else "",
        f"Hourly total: {est['hourly_total']:.4f} {cur}/h   Total for {est['hours']:g} h: {est['total']:.2f} {cur}",
    ]
    out += [_wrapped(f"assumes: {a}", "  ") for a in est.get("assumptions", [])]
    out += [_wrapped(f"excludes: {e}", "  ") for e in est.get("exclusions", [])]
    if est.get("quote_id"):
        out.append(f"Quote {est['quote_id']} valid until {est['expires_at']} (pay with quote_id {est['quote_id']})")
    else:
        out.append(f"No quote issued: {est['budget']['message']}")
    return textwrap.indent("\n".join(x for x in out if x), "  ")


class Person:
    """The person at the keyboard: reads the server's question aloud and answers it (yes, unless told otherwise)."""

    def __init__(self) -> None:
        self.answers: list[tuple[bool, str]] = []
        self.asked = 0

    def will_decline(self, why: str) -> None:
        self.answers.append((False, why))

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked += 1
        accept, why = self.answers.pop(0) if self.answers else (True, "")
        _say(_wrapped(f"server asks the person: {params.message}", "    "))
        _say(f"    person: {'yes' if accept else 'no'}{f' ({why})' if why else ''}")
        if accept:
            return types.ElicitResult(action="accept", content={"accept": True})
        return types.ElicitResult(action="decline")


class ProgressBar:
    """The server's progress notifications as one line redrawn in place on a terminal, or, when stdout is not a
    terminal (a log, a test), as plain lines at increasing milestones (the first report, every 25%, and 100%)."""

    WIDTH = 24
    STEP = 25.0

    def __init__(self, tty: bool | None = None) -> None:
        self.tty = sys.stdout.isatty() if tty is None else tty
        self.next_milestone = 0.0
        self.drawn = False

    def render(self, pct: float, message: str) -> str:
        filled = int(self.WIDTH * pct / 100)
        return f"  [{'#' * filled}{'-' * (self.WIDTH - filled)}] {pct:3.0f}%  {message}"

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        pct = max(0.0, min(100.0, 100.0 * progress / total if total else progress))
        text = self.render(pct, message or "")
        if self.tty:
            width = shutil.get_terminal_size((100, 24)).columns - 1
            sys.stdout.write("\r" + text[:width].ljust(width))
            sys.stdout.flush()
            self.drawn = True
        elif pct >= self.next_milestone:
            _say(text)
            self.next_milestone = 101.0 if pct >= 100 else (pct // self.STEP + 1) * self.STEP

    def close(self) -> None:
        if self.drawn:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.drawn = False


def _error_text(result: types.CallToolResult) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content).strip()


async def _call(client: Client, name: str, args: dict[str, Any], bar: ProgressBar | None = None) -> dict[str, Any]:
    """A tool call that must succeed; its structured result."""
    try:
        result = await client.call_tool(name, args, progress_callback=bar)
    finally:
        if bar is not None:
            bar.close()
    if result.is_error:
        raise DemoFailed(f"{name} failed: {_error_text(result)}")
    return result.structured_content or {}


async def _refused(client: Client, name: str, args: dict[str, Any]) -> str:
    """A tool call that must be refused; the text the agent reads."""
    result = await client.call_tool(name, args)
    if not result.is_error:
        raise DemoFailed(f"{name} was expected to refuse, and returned {result.structured_content}")
    return _error_text(result)


async def _estimate(client: Client, plan: dict[str, Any]) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    est = await _call(client, "estimate_cost", {"plan": plan})
    return est, (time.perf_counter() - started) * 1000


async def _follow(client: Client, out: dict[str, Any], bar: ProgressBar) -> dict[str, Any]:
    """When a call handed back an operation id before the work ended, follow it with get_operation (same bar)."""
    operation = out.get("operation_id")
    if operation and out.get("status") in ("creating", "waiting"):
        _say(f"  (the call returned operation {operation} while it runs; following it with get_operation)")
    while operation and out.get("status") in ("creating", "waiting"):
        view = await _call(client, "get_operation", {"operation_id": operation, "wait_seconds": FOLLOW_WAIT}, bar)
        if view.get("outcome") == "failed":
            raise DemoFailed(f"operation {operation} failed: {view.get('error')}")
        if view["state"] == "done":
            return {**(view.get("result") or {}), "operation_id": operation, "lease_ends_at": view.get("lease_ends_at")}
    return out


def _lease(name: str, out: dict[str, Any]) -> None:
    """The lease a purchase holds, as the result shows it."""
    if not out.get("lease_ends_at"):
        raise DemoFailed(f"{name} shows no lease: {out}")
    _say(f"  lease: {name} runs until {out['lease_ends_at']}, then is deleted unless extended")


async def _extend(client: Client, name: str, operation: str) -> None:
    """extend_lease once: the lease's plan (plan_to_quote) quoted for 1 more hour, accepted, the new end shown."""
    _say(f"  extend_lease {operation}: the agent quotes the lease's own plan for 1 more hour")
    ask = await _call(client, "extend_lease", {"operation_id": operation})
    est, _ = await _estimate(client, {**ask["plan_to_quote"], "hours": 1})
    _say(quote_table(est))
    out = await _call(client, "extend_lease", {"operation_id": operation, "quote_id": est["quote_id"]})
    if out.get("status") != "extended":
        raise DemoFailed(f"extend_lease ended {out.get('status')}: {out.get('message')}")
    text = (
        f"lease extended by {out['hours_added']:g} h for {_money(out['cost'])} {out['currency']}: {name} now runs "
        f"until {out['lease_ends_at']} (was {ask['lease_ends_at']})"
    )
    _say(_wrapped(text, "  "))


def _api_calls(cloud: Any) -> int:
    return sum(cloud.counts().values())


async def _estimates(client: Client, cloud: Any) -> str:
    """[1]-[2]: pricing and the cache, then what is refused. Returns the unused quote id of the repeat."""
    _say("\n[1] estimate_cost: ACK Pro cluster, 3 nodes, preferred ecs.g7.xlarge then ecs.c7.xlarge, 4 h")
    est, ms = await _estimate(client, CLUSTER_PLAN)
    _say(quote_table(est))
    _say(f"  ({ms:.0f} ms; cloud API calls so far: {_api_calls(cloud)})")
    before = _api_calls(cloud)
    again, ms = await _estimate(client, CLUSTER_PLAN)
    text = (
        f"The same estimate again is served from the quote-TTL cache: new quote {again['quote_id']}, same total "
        f"{again['total']:.2f} {again['currency']}, {ms:.0f} ms, cloud API calls made: {_api_calls(cloud) - before}"
    )
    _say(_wrapped(text, "  "))

    _say(f"\n[2] what is refused: a plan over the operator's cap ({BUDGET_CAP_PER_HOUR} CNY/h), and bad input")
    big, _ = await _estimate(client, BIG_PLAN)
    verdict = f"No quote issued: {big['budget']['message']}" if not big.get("quote_id") else "A quote was issued!"
    what = f"{BIG_PLAN['node_count']} x {BIG_PLAN['instance_types'][0]}"
    _say(_wrapped(f"{what} is priced at {big['hourly_total']:.4f} {big['currency']}/h. {verdict}", "  "))
    for bad in (
        {**CLUSTER_PLAN, "node_count": 150},
        {**CLUSTER_PLAN, "instance_types": ["ecs.g7.huge"]},
        {**CLUSTER_PLAN, "zone": "cn-shanghai-b"},
    ):
        before = _api_calls(cloud)
        text = await _refused(client, "estimate_cost", {"plan": bad})
        shown = " | ".join(line.strip() for line in text.splitlines()[:3])
        _say(_wrapped(f"refused ({_api_calls(cloud) - before} cloud calls): {shown[:240]}", "  "))
    return str(again["quote_id"])


async def _create(client: Client, name: str, quote_id: str) -> dict[str, Any]:
    """ensure_cluster paid by quote id (the quote holds the plan), drawing the server's progress as a bar, followed
    to its end."""
    bar = ProgressBar()
    args = {"name": name, "quote_id": quote_id, "wait_seconds": FOLLOW_WAIT}
    out = await _follow(client, await _call(client, "ensure_cluster", args, bar), bar)
    if out.get("status") != "created":
        raise DemoFailed(f"ensure_cluster ended {out.get('status')}: {out.get('message')}")
    _say(_wrapped(f"status {out['status']}: {out['message']}", "  "))
    _lease(name, out)
    return out


async def _job_cluster(client: Client, cloud: Any, person: Person, pro_token: str) -> str:
    """[3]-[8]: the person declines the big cluster and accepts a small one; it is created, reused and runs jobs;
    deploy_acs is refused there. Returns the cluster id."""
    _say(f"\n[3] ensure_cluster {JOB_CLUSTER}: no such cluster yet, so the server asks for a quote and creates nothing")
    first = await _call(client, "ensure_cluster", {"name": JOB_CLUSTER})
    _say(_wrapped(f"status {first['status']}: {first['message']}", "  "))
    _say("  The agent offers the ACK Pro quote from [1]; the server asks the person before anything is bought:")
    person.will_decline("3 Pro nodes for 4 h is more than a test job needs")
    args = {"name": JOB_CLUSTER, "quote_id": pro_token}
    declined = await _call(client, "ensure_cluster", args)
    _say(_wrapped(f"status {declined['status']}: {declined['message']}", "  "))

    _say(f"\n[4] a smaller plan for {JOB_CLUSTER}: ACK Basic, 2 x ecs.g7.xlarge, 2 h; quoted, accepted, created")
    est, _ = await _estimate(client, SMALL_PLAN)
    _say(quote_table(est))
    created = await _create(client, JOB_CLUSTER, est["quote_id"])
    await _extend(client, JOB_CLUSTER, created["operation_id"])

    _say("\n[5] ensure_cluster by name again: reused, no quote, nothing new (also for a cluster someone else made)")
    for name in (JOB_CLUSTER, FOREIGN_CLUSTER):
        again = await _call(client, "ensure_cluster", {"name": name})
        whose = "created by this server" if again["origin"] == "created" else "not ours: cleanup never deletes it"
        _say(_wrapped(f"{name}: status {again['status']} ({whose}): {again['message']}", "  "))
    _say(f"  CreateCluster calls so far: {cloud.counts().get('CreateCluster', 0)}")

    _say(f"\n[6] run_job on {JOB_CLUSTER}: a python script (the sandbox runs it as a local process; see the README)")
    job_args = {"cluster": JOB_CLUSTER, "script": DEMO_SCRIPT, "script_type": "python", "wait_seconds": 30}
    job = await _call(client, "run_job", job_args)
    took = job.get("duration_seconds") or 0
    took_text = f"{took:g} s" if took >= 1 else "under 1 s"
    _say(f"  status {job['status']}, exit code {job['exit_code']}, ran {took_text} on node {job.get('node', '-')}")
    _say(f"  job {job['job_name']}, image {job['image']}")
    for line in job.get("log", "").splitlines():
        _say(f"  | {line}")

    _say("\n[7] run_job with an image nobody can pull: fails fast with the reason and deletes the Job")
    bad_args = {"cluster": JOB_CLUSTER, "script": "echo never", "image": "registry.example.com/missing/tool:1"}
    bad = await _call(client, "run_job", bad_args)
    _say(_wrapped(f"status {bad.get('status')}: {bad.get('message')}", "  "))
    _say(f"  cleaned up: {', '.join(bad.get('cleaned_up') or []) or 'nothing'}")

    _say(f"\n[8] deploy_acs on {JOB_CLUSTER}: before any quote, the server checks that ACS pods can run there")
    refusal = await _refused(
        client, "deploy_acs", {"cluster": JOB_CLUSTER, "name": "web", "image": WEB_IMAGE, "plan": WEB_PLAN}
    )
    _say(_wrapped(f"refused: {refusal}", "  "))
    return str(created["cluster_id"])


async def _serverless(client: Client) -> None:
    """[10]-[11]: an ACK Serverless cluster (virtual nodes built in), then deploy_acs there."""
    _say(f"\n[10] ensure_cluster {SERVERLESS_CLUSTER}: ACK Serverless, no worker nodes, virtual nodes built in")
    est, _ = await _estimate(client, SERVERLESS_PLAN)
    _say(quote_table(est))
    await _create(client, SERVERLESS_CLUSTER, est["quote_id"])

    what = f"{WEB_PLAN['replicas']} ACS pods ({WEB_PLAN['vcpu']} vCPU, {WEB_PLAN['memory_gib']} GiB each)"
    _say(f"\n[11] deploy_acs web on {SERVERLESS_CLUSTER}: {what} behind a service on port 80")
    args = {"cluster": SERVERLESS_CLUSTER, "name": "web", "image": WEB_IMAGE, "plan": WEB_PLAN, "ports": [80]}
    first = await _call(client, "deploy_acs", args)
    _say(_wrapped(f"without a quote: status {first['status']}: {first['message']}", "  "))
    plan = first.get("plan_to_quote") or WEB_PLAN  # the plan exactly as the server will bill it
    est, _ = await _estimate(client, plan)
    _say(quote_table(est))
    paid = {k: v for k, v in args.items() if k != "plan"}
    deployed = await _call(client, "deploy_acs", {**paid, "quote_id": est["quote_id"]})
    _say(_wrapped(f"status {deployed['status']}: {deployed['message']}", "  "))
    pods = deployed.get("pods", [])
    cols = [("pod", "pod"), ("phase", "phase"), ("node", "node"), ("ACS instance", "instance_id")]
    cells = [tuple(h for h, _ in cols), *(tuple(str(p.get(k) or "-") for _, k in cols) for p in pods)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    for c in cells:
        _say("  " + "  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())
    _say(f"  service endpoint: {deployed.get('endpoint') or 'none'}")
    _lease("web", deployed)
    for note in deployed.get("notes", []):
        _say(_wrapped(f"note: {note}", "  "))
    if deployed["status"] not in ("deployed", "updated", "unchanged"):
        raise DemoFailed(f"deploy_acs ended {deployed['status']}: {deployed['message']}")


async def _gpu_pool(client: Client) -> None:
    """[12]: a GPU node pool on the cluster someone else made, paid by quote; a job sent there; the pool in
    list_resources; cleanup removes the pool and keeps their cluster."""
    _say(f"\n[12] a GPU node pool on {FOREIGN_CLUSTER} (not ours): 1 x ecs.gn7i-c8g1.2xlarge, 2 h; a job on it")
    est, _ = await _estimate(client, GPU_POOL_PLAN)
    _say(quote_table(est))
    bar = ProgressBar()
    args = {"cluster": FOREIGN_CLUSTER, "name": "gpu", "quote_id": est["quote_id"], "wait_seconds": FOLLOW_WAIT}
    out = await _follow(client, await _call(client, "ensure_node_pool", args, bar), bar)
    if out.get("status") != "created":
        raise DemoFailed(f"ensure_node_pool ended {out.get('status')}: {out.get('message')}")
    _say(_wrapped(f"pool {out['status']}: {out['message']}", "  "))
    _lease("pool gpu", out)
    job_args = {
        "cluster": FOREIGN_CLUSTER,
        "node_pool": "gpu",
        "script": "echo training on $(hostname)",
        "wait_seconds": 30,
    }
    job = await _call(client, "run_job", job_args)
    _say(f"  run_job node_pool=gpu: status {job['status']} on node {job.get('node', '-')}")
    listed = await _call(client, "list_resources", {})
    for row in listed.get("resources", []):
        if row["kind"] == "node_pool":
            _say(
                f"  list_resources: node_pool {row['name']}: {row['state']}, {row.get('nodes')} node(s), "
                f"{_money(row.get('hourly') or 0)} {row.get('currency', '')}/h, accrued {row.get('accrued', 0):.2f} "
                f"({_meter(row)}), lease ends {row.get('lease_ends_at', '-')}"
            )
    for line in listed.get("callers", []):
        _say(
            f"  spend meter ({line['caller']}): today {line.get('today', 0):.2f} {line['currency']}, "
            f"committed by running leases {line.get('committed', 0):.2f} {line['currency']}"
        )
    _say(f"  cleanup target=cluster cluster={FOREIGN_CLUSTER}: the pool goes, their cluster stays")
    await _cleanup(client, {"target": "cluster", "cluster": out["cluster_id"]})


def _show_plan(plan: dict[str, Any]) -> None:
    currency = plan.get("currency", "")
    for item in plan.get("items", []):
        hourly = f"  ({_money(item['hourly'])} {currency}/h)" if item.get("hourly") is not None else ""
        _say(f"  {item['action']:6} {item['kind']:10} {item['name']}{hourly}")
        _say(f"         {item.get('reason', '')}")
    kept = [i for i in plan.get("items", []) if i["action"] in ("keep", "blocked")]
    _say(f"  kept: {len(kept)}; hourly cost that stops: {_money(plan.get('hourly_stops', 0))} {currency}/h")


async def _cleanup(client: Client, selection: dict[str, Any]) -> int:
    """cleanup for real, followed to its end with a progress bar; returns how many items went."""
    bar = ProgressBar()
    done = await _call(client, "cleanup", {**selection, "dry_run": False, "wait_seconds": FOLLOW_WAIT}, bar)
    operation = done.get("operation_id")
    if operation and done.get("status") == "running":
        _say(f"  (cleanup {operation} is still running; following it with get_operation)")
    while operation and done.get("status") == "running":
        view = await _call(client, "get_operation", {"operation_id": operation, "wait_seconds": FOLLOW_WAIT}, bar)
        if view["state"] == "done" and view.get("outcome") != "succeeded":
            raise DemoFailed(f"cleanup {operation} ended {view.get('outcome')}: {view.get('error')}")
        if view["state"] == "done":
            done = view.get("result") or {}
    gone = [i for i in done.get("items", []) if i.get("outcome") in ("deleted", "already gone")]
    deleted = sum(i.get("outcome") == "deleted" for i in gone)
    text = (
        f"status {done.get('status')}: cleanup deleted {deleted} items"
        + (f" ({len(gone) - deleted} more found already gone)" if len(gone) > deleted else "")
        + f", operation {operation}. {done.get('message', '')}"
    )
    _say(_wrapped(text, "  "))
    return len(gone)


async def _retire(client: Client, cluster_id: str) -> None:
    """[9]: the node cluster has done its jobs and cannot host ACS pods: remove it (and only it) now."""
    _say(f"\n[9] the jobs are done and {JOB_CLUSTER} has no virtual nodes: cleanup removes it with its network")
    selection = {"target": "cluster", "cluster": cluster_id}
    _say(f"  dry run (target=cluster, cluster={cluster_id}):")
    _show_plan(await _call(client, "cleanup", selection))
    _say("  then with dry_run=false:")
    await _cleanup(client, selection)


async def _clean_everything(client: Client) -> None:
    """[13]-[14]: the plan for everything, shown first, then the deletion."""
    _say("\n[13] cleanup, dry run (the default): the plan, what is kept and why, and the hourly cost that stops")
    plan = await _call(client, "cleanup", {})
    _show_plan(plan)
    _say(f"  {plan.get('message', '')}")
    _say("\n[14] cleanup with dry_run=false: newest first, each cluster deletion awaited")
    await _cleanup(client, {})


async def _ledger(client: Client, cloud: Any) -> bool:
    """The ledger as the server shows it, and whether anything this server created is still there."""
    result = await client.read_resource("ledger://resources")
    rows = json.loads(getattr(result.contents[0], "text", "") or "{}")["resources"]
    head = ("kind", "name", "origin", "state")
    cells = [head, *((r["kind"], r["name"], r["origin"], r["state"]) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    for c in [cells[0], tuple("-" * w for w in widths), *cells[1:]]:
        _say("  " + "  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())
    created = [r for r in rows if r["origin"] == "created"]
    live = [r for r in created if r["state"] not in DONE_STATES]
    reused = sorted({r["name"] for r in rows if r["origin"] == "reused"})
    standing = sorted(c.name for c in cloud.clusters() if c.state != "deleted")
    _say(f"  the sandbox cloud's own view: clusters still existing: {', '.join(standing) or 'none'}")
    if live:
        _say(f"\nSTILL LIVE: {len(live)} of the {len(created)} resources this server created: ")
        _say("  " + ", ".join(f"{r['kind']} {r['name']} ({r['state']})" for r in live))
        return False
    kept = f"; kept, not ours: {', '.join(reused)}" if reused else ""
    _say(f"\nnothing of ours left running: {len(created)} ledger rows created by this server, all deleted{kept}")
    return True


async def _drive(cloud: Any, env: dict[str, str]) -> int:
    params = StdioServerParameters(command=sys.executable, args=["-m", "ack_compute.server", "serve"], env=env)
    person = Person()
    async with Client(params, elicitation_callback=person) as client:
        tools = await client.list_tools()
        _say("Tools offered by the server:")
        for tool in tools.tools:
            ro = tool.annotations.read_only_hint if tool.annotations else None
            _say(f"  - {tool.name}{' (read-only)' if ro else ''}: {tool.title or ''}")
        try:
            pro_token = await _estimates(client, cloud)
            cluster_id = await _job_cluster(client, cloud, person, pro_token)

            await _retire(client, cluster_id)
            await _serverless(client)
            await _gpu_pool(client)
            # The spend meter (list_resources: hourly, accrued, totals per caller and day) is shown here, while
            # everything still runs and before [13] cleans it up.
            await _clean_everything(client)
        except DemoFailed as exc:
            _say(f"\ndemo step failed: {exc}\ncleaning up what was created so far")
            try:
                await _cleanup(client, {})
            except DemoFailed as again:
                _say(f"cleanup failed too: {again}")
            await _ledger(client, cloud)
            return 1
        _say("\n[15] ledger://resources: everything this server created or reused, as the server reports it")
        clean = await _ledger(client, cloud)
        _say(f"The person was asked {person.asked} times. The sandbox and the temporary ledger are discarded now.")
    return 0 if clean else 1


def run_demo(settings: Settings) -> int:
    from ack_compute.sandbox import SandboxCloud

    # Unless asked otherwise, run the sandbox clock 120x fast: a 6-minute cluster takes 3 s.
    scale = settings.sandbox_time_scale if "sandbox_time_scale" in settings.model_fields_set else SANDBOX_HANDS_ON_SCALE
    with (
        SandboxCloud(time_scale=scale, run_containers=settings.sandbox_run_containers) as cloud,
        tempfile.TemporaryDirectory() as state,
    ):
        _say(f"ack-compute-mcp demo: sandbox cloud at {cloud.endpoint} (no account, no network; clock {scale:g}x)")
        vpc_id = cloud.plant_vpc(f"{FOREIGN_CLUSTER}-vpc", cidr_block="192.168.0.0/16")
        vswitch_id = cloud.plant_vswitch(vpc_id, zone_id=GPU_ZONE, cidr_block="192.168.8.0/24")
        cloud.plant_cluster(FOREIGN_CLUSTER, nodes=1, vswitch_id=vswitch_id)
        _say(f"The sandbox account already holds a running cluster someone else created: {FOREIGN_CLUSTER}\n")
        env = cloud.server_env(state, region=settings.region, max_hourly=BUDGET_CAP_PER_HOUR, log_level="WARNING")
        if "PYTHONPATH" in os.environ:
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        return anyio.run(_drive, cloud, env)
