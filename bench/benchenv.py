"""What the benchmarks share: an offline environment, the machine's load, and the cluster plan most of them price.

Imported by the bench scripts as `python bench/<script>.py` runs them (their folder is on sys.path).
"""

from __future__ import annotations

import os
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
