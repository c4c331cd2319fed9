"""What the agent's surface costs a model, in cl100k tokens, for this tree and a baseline ref in the same run.

Three figures: tools/list as the model sees it (name + description + inputSchema; in all and per tool), the same
with outputSchema, and the main job (price, create a cluster, run a script, a Serverless cluster with 2 ACS pods,
cleanup) as arguments + results through a real MCP client over stdio against the sandbox. A result counts as the
text the model reads (the text content; hosts that read structured content see the same JSON).

    .venv/bin/python bench/bench_tokens.py              # this tree against `main` (or --base REF)
    .venv/bin/python bench/bench_tokens.py --json       # this tree only, as JSON (what the baseline run prints)

The baseline is `git worktree add`ed into a temp dir and measured by this same script in a subprocess whose
PYTHONPATH maps `ack_compute.*` onto that tree's folders; it adapts to the surface it finds (quote_token + plan
on an old surface, quote_id on the new one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio

PACKAGES = ("server", "tools", "cloud", "sandbox", "references")
ZONE = "cn-hangzhou-h"
CLUSTER_PLAN = {"kind": "cluster", "instance_types": ["ecs.g7.xlarge"], "node_count": 2, "zone": ZONE, "hours": 2}
SERVERLESS_PLAN = {"kind": "serverless", "zone": ZONE, "hours": 2}
PODS_PLAN = {"kind": "acs", "replicas": 2, "vcpu": 1, "memory_gib": 2, "hours": 2}
IMAGE = "registry-cn-hangzhou-vpc.ack.aliyuncs.com/acs/nginx:1.27"
SCRIPT = "import statistics\nprint(statistics.mean([3.1, 2.7, 3.4]))\n"


def encoder() -> Any:
    # cl100k_base offline: bpe-openai ships the vocabulary in its wheel (tiktoken downloads it at run time).
    try:
        import bpe_openai
    except ImportError:
        raise SystemExit("bench_tokens needs the bench extra: pip install -e '.[bench]'") from None
    return bpe_openai.get_encoding("cl100k_base")


def count(enc: Any, value: Any) -> int:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(enc.encode(text))


def _result_text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


async def _measure(enc: Any) -> dict[str, Any]:
    from mcp import Client, StdioServerParameters, types

    from ack_compute.sandbox import SandboxCloud

    async def accept(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"accept": True})

    with SandboxCloud(time_scale=300.0) as cloud, tempfile.TemporaryDirectory() as state:
        env = cloud.server_env(state, region="cn-hangzhou", log_level="WARNING")
        if "PYTHONPATH" in os.environ:
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        params = StdioServerParameters(command=sys.executable, args=["-m", "ack_compute.server", "serve"], env=env)
        async with Client(params, elicitation_callback=accept) as client:
            tools = (await client.list_tools()).tools
            per_tool = {
                t.name: count(enc, {"name": t.name, "description": t.description, "inputSchema": t.input_schema})
                for t in tools
            }
            with_output = sum(
                count(
                    enc,
                    {
                        "name": t.name,
                        "description": t.description,
                        "inputSchema": t.input_schema,
                        **({"outputSchema": t.output_schema} if t.output_schema else {}),
                    },
                )
                for t in tools
            )
            schemas = {t.name: t.input_schema.get("properties", {}) for t in tools}
            by_id = "quote_id" in schemas["ensure_cluster"]
            calls: list[dict[str, Any]] = []

            async def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
                result = await client.call_tool(name, args)
                text = _result_text(result)
                calls.append({"tool": name, "arguments": count(enc, args), "result": count(enc, text)})
                if result.is_error:
                    raise RuntimeError(f"{name} failed: {text}")
                return result.structured_content or json.loads(text)

            async def follow(out: dict[str, Any]) -> dict[str, Any]:
                operation = out.get("operation_id")
                while operation and out.get("status") in ("creating", "waiting", "running"):
                    view = await call("get_operation", {"operation_id": operation, "wait_seconds": 40})
                    if view.get("state") in ("succeeded", "failed", "done"):
                        return view.get("result") or view
                return out

            def pay(plan: dict[str, Any], estimate: dict[str, Any], plan_key: str = "plan") -> dict[str, Any]:
                if by_id:
                    return {"quote_id": estimate["quote_id"]}
                return {plan_key: plan, "quote_token": estimate["quote_token"]}

            est = await call("estimate_cost", {"plan": CLUSTER_PLAN})
            await follow(
                await call("ensure_cluster", {"name": "acf-bench", **pay(CLUSTER_PLAN, est), "wait_seconds": 40})
            )
            await follow(await call("run_job", {"cluster": "acf-bench", "script": SCRIPT, "script_type": "python"}))
            est = await call("estimate_cost", {"plan": SERVERLESS_PLAN})
            await follow(
                await call("ensure_cluster", {"name": "acf-bench-sl", **pay(SERVERLESS_PLAN, est), "wait_seconds": 40})
            )
            est = await call("estimate_cost", {"plan": PODS_PLAN})
            deploy = {"cluster": "acf-bench-sl", "name": "web", "image": IMAGE, "ports": [80]}
            await call("deploy_acs", {**deploy, **pay(PODS_PLAN, est)})
            await call("cleanup", {})
            await follow(await call("cleanup", {"dry_run": False, "wait_seconds": 40}))
    return {
        "tools_list": sum(per_tool.values()),
        "per_tool": per_tool,
        "with_output_schema": with_output,
        "main_job": sum(c["arguments"] + c["result"] for c in calls),
        "main_job_calls": len(calls),
        "calls": calls,
    }


def measure() -> dict[str, Any]:
    return anyio.run(_measure, encoder())


def measure_ref(ref: str, repo: Path) -> dict[str, Any]:
    """The same measurement on another commit: its tree in a temp worktree, imported through a PYTHONPATH shim."""
    with tempfile.TemporaryDirectory() as tmp:
        tree, shim = Path(tmp) / "tree", Path(tmp) / "shim" / "ack_compute"
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", "-q", str(tree), ref], check=True)
        try:
            shim.mkdir(parents=True)
            for name in PACKAGES:
                (shim / name).symlink_to(tree / name)
            env = {**os.environ, "PYTHONPATH": str(shim.parent)}
            out = subprocess.run(
                [sys.executable, __file__, "--json"], env=env, capture_output=True, text=True, check=False
            )
            if out.returncode:
                raise SystemExit(f"measuring {ref} failed:\n{out.stderr[-3000:]}")
            return dict(json.loads(out.stdout))
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], check=False)


def report(now: dict[str, Any], base: dict[str, Any], ref: str) -> str:
    def row(label: str, a: int, b: int) -> str:
        change = f"{(b - a) / a:+.0%}" if a else ""
        return f"{label:<34}{a:>9}{b:>9}  {change}"

    lines = [
        f"{'cl100k tokens':<34}{ref:>9}{'this':>9}",
        row("tools/list (name+desc+input)", base["tools_list"], now["tools_list"]),
    ]
    for name in sorted(set(base["per_tool"]) | set(now["per_tool"])):
        lines.append(row(f"  {name}", base["per_tool"].get(name, 0), now["per_tool"].get(name, 0)))
    lines.append(row("tools/list with outputSchema", base["with_output_schema"], now["with_output_schema"]))
    lines.append(row("main job: arguments + results", base["main_job"], now["main_job"]))
    lines.append(f"{'  calls':<34}{base['main_job_calls']:>9}{now['main_job_calls']:>9}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="the baseline git ref (default: main)")
    parser.add_argument("--json", action="store_true", help="measure this tree only and print JSON")
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure()))
        return
    repo = Path(__file__).resolve().parent.parent
    base = measure_ref(args.base, repo)
    now = measure()
    print(report(now, base, args.base))
    for call in now["calls"]:
        print(f"  {call['tool']:<16} arguments {call['arguments']:>5}  result {call['result']:>5}")


if __name__ == "__main__":
    main()
