"""The README's main command: `ack-compute-mcp demo` runs every flow on the sandbox and says so."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_runs_every_flow(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "ACK_COMPUTE_"))}
    done = subprocess.run(
        [sys.executable, "-m", "ack_compute.server", "demo"],
        env={**env, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Hourly total:" in out and "ACK Pro management fee" in out
    assert "cloud API calls made: 0" in out, "the repeated estimate is served from the cache"
    assert "No quote issued" in out, "the over-cap plan gets no token"
    assert len(re.findall(r"refused \(\d+ cloud calls\)", out)) == 3
    assert "status quote_required" in out and "server asks the person" in out
    assert re.search(r"status created: .* with 2 Ready nodes", out) or "result: created" in out
    assert "status reused" in out and "CreateCluster calls in the whole demo: 1" in out
    assert "| mean 3.08, stdev 0.29" in out, "the python job's output is shown"
    assert re.search(r"status failed: Job acf-job-\w+ failed \((ErrImagePull|ImagePullBackOff)", out)
    assert re.search(r"cleaned up: Job default/acf-job-\w+ \(and its pods\)", out)
    shown = re.search(r"token (\S+)\.\.\.", out)
    assert shown and len(shown.group(1)) <= 16, "quote tokens are shown truncated"
