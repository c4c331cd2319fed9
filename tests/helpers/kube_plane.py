"""The real Kubernetes control plane (scripts/kube-control-plane.sh) for tests: built or not, started, stopped.

ACK_COMPUTE_REQUIRE_REAL_KUBE=1 (CI) makes a missing build a failure for every user of it, not a skip.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kube-control-plane.sh"


def required() -> bool:
    return os.environ.get("ACK_COMPUTE_REQUIRE_REAL_KUBE") == "1"


def _env() -> dict[str, str]:
    return dict(os.environ)  # ACK_COMPUTE_KUBE_CACHE, when set, points the script at another cache


def built() -> bool:
    """The cached binaries are all there."""
    return subprocess.run([str(SCRIPT), "check"], env=_env(), capture_output=True).returncode == 0


class NotStarted(Exception):
    """The control plane did not come up; the message ends with the script's stderr."""


@contextlib.contextmanager
def running(directory: Path) -> Iterator[dict[str, str]]:
    """Start it with its state in `directory` (a `client-ca.crt` put there first becomes --client-ca-file) and
    yield DIR/env (KUBE_SERVER, KUBE_CA_FILE, KUBE_ADMIN_TOKEN, ...); stopped on exit, whatever happened."""
    try:
        started = subprocess.run(
            [str(SCRIPT), "start", str(directory)], env=_env(), capture_output=True, text=True, timeout=180
        )
        if started.returncode != 0:
            raise NotStarted(f"the real kube control plane did not start:\n{started.stderr[-4000:]}")
        lines = (directory / "env").read_text().splitlines()
        yield dict(line.split("=", 1) for line in lines if "=" in line)
    finally:
        subprocess.run([str(SCRIPT), "stop", str(directory)], env=_env(), capture_output=True)
