"""What the benchmarks share: an offline environment, the machine's load, and the cluster plan most of them price.

Imported by the bench scripts as `python bench/<script>.py` runs them (their folder is on sys.path).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# A multi-type Pro cluster with disks: the plan the estimate, HTTP load and stdio benchmarks price.
PRO_CLUSTER_PLAN: dict[str, Any] = {
    "kind": "cluster",
    "edition": "pro",
    "instance_types": ["ecs.g7.xlarge", "ecs.c7.xlarge"],
    "node_count": 3,
    "zone": "cn-hangzhou-h",
    "system_disk": {"category": "cloud_essd", "size_gib": 120, "performance_level": "PL0"},
    "data_disks": [{"category": "cloud_essd", "size_gib": 200}],
    "hours": 4,
}


def offline() -> None:
    """No ECS metadata lookups and no proxies: every call goes to the sandbox on loopback. Call before importing
    the SDKs."""
    os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        os.environ.pop(var, None)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> dict[str, Any]:
    """What a result needs to be read against: cores, Python, and the load when the run started."""
    return {"cores": os.cpu_count(), "python": sys.version.split()[0], "load_average_start": load_average()}


def machine_line(m: dict[str, Any]) -> str:
    return f"machine: {m['cores']} cores, python {m['python']}, load average at start {m['load_average_start']}"


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """A bench's command line: the first paragraph of its docstring, and the --json switch that `emit` reads."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    return parser


def emit(out: dict[str, Any], as_json: bool, report: Callable[[dict[str, Any]], None]) -> None:
    """The result as JSON (--json) or as the script's human report."""
    if as_json:
        print(json.dumps(out, indent=2))
    else:
        report(out)


def stop(proc: subprocess.Popen[Any]) -> None:
    """End a child process: SIGTERM, then SIGKILL if it has not exited within 10 seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def sandbox_runtime(cloud: Any, state_dir: Path, region: str = "cn-hangzhou", **settings: Any) -> Any:
    """A Runtime against the sandbox `cloud` over plain HTTP, with its keys and `settings` overrides."""
    from ack_compute.cloud.config import StaticCredentials
    from ack_compute.server.runtime import Runtime
    from ack_compute.server.settings import Settings

    config = Settings(region=region, state_dir=state_dir, endpoint=cloud.endpoint, protocol="http", **settings)
    keys = StaticCredentials(access_key_id=cloud.access_key_id, access_key_secret=cloud.access_key_secret)
    return Runtime.build(config, keys)
