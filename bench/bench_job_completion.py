"""How soon run_job returns after the job's pod terminates, against the seed's 10 s status polling; and 20
concurrent runs on one cluster.

Run: python bench/bench_job_completion.py [--runs 20] [--baseline-runs 10]
An independent watch on the cluster's pods timestamps the moment each pod's terminated status reaches the API;
the gap is the time from then until the caller has the result (exit code and log) in hand. Both designs run in
the same process against the same sandbox cluster. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from benchenv import offline, sandbox_runtime

offline()

from kubernetes import client, watch  # noqa: E402

from ack_compute.sandbox import SandboxCloud  # noqa: E402
from ack_compute.server.runtime import Runtime  # noqa: E402
from ack_compute.tools.job_spec import RUN_LABEL, JobRequest  # noqa: E402

POLL_SECONDS = 10.0


class TerminationClock:
    """Records when each run's pod first shows a terminated phase, keyed by the run label."""

    def __init__(self, api: client.ApiClient) -> None:
        self.seen: dict[str, float] = {}
        self._watch = watch.Watch()
        self._core = client.CoreV1Api(api)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        time.sleep(0.5)

    def _run(self) -> None:
        with contextlib.suppress(Exception):  # the sandbox going away at the end ends the stream
            self._observe()

    def _observe(self) -> None:
        for event in self._watch.stream(self._core.list_namespaced_pod, "default", timeout_seconds=3600):
            pod = event["raw_object"]
            run = (pod["metadata"].get("labels") or {}).get(RUN_LABEL) or pod["metadata"].get("labels", {}).get(
                "bench-run"
            )
            phase = (pod.get("status") or {}).get("phase")
            if run and phase in ("Succeeded", "Failed") and run not in self.seen:
                self.seen[run] = time.monotonic()

    def wait_for(self, run: str, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while run not in self.seen and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.seen[run]

    def stop(self) -> None:
        self._watch.stop()


def ours(runtime: Runtime, cluster: str, clock: TerminationClock, seconds: float) -> tuple[float, bool]:
    started = runtime.jobs.start(JobRequest(cluster=cluster, script=f"sleep {seconds:.2f}; echo done"))
    op = started.operation_id or ""
    status = runtime.operations.get(op)
    while not status.done:
        status = runtime.operations.wait(op, 2.0)
    returned = time.monotonic()
    result = status.result or {}
    return returned - clock.wait_for(started.job_name or ""), result.get("status") == "succeeded"


def seed_style(api: client.ApiClient, clock: TerminationClock, name: str, seconds: float) -> float:
    """The seed's design: create the Job, then read its status every 10 s; read the log when it is done."""
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    body = {
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"bench-run": name}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", f"sleep {seconds:.2f}"]}],
                },
            },
        },
    }
    batch.create_namespaced_job("default", body)
    while True:
        time.sleep(POLL_SECONDS)
        job = batch.read_namespaced_job_status(name, "default")
        if job.status.succeeded or job.status.failed:
            break
    pod = core.list_namespaced_pod("default", label_selector=f"bench-run={name}").items[0]
    core.read_namespaced_pod_log(pod.metadata.name, "default")
    return time.monotonic() - clock.wait_for(name)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def spread(seconds: list[float], digits: int) -> str:
    """`p50 .. ms, p95 .. ms, max .. ms` of gaps given in seconds."""
    return ", ".join(
        f"{label} {value * 1000:.{digits}f} ms"
        for label, value in (("p50", statistics.median(seconds)), ("p95", pct(seconds, 0.95)), ("max", max(seconds)))
    )


def at_once(work: Callable[[int], None], count: int) -> None:
    """Run work(0) .. work(count - 1) on threads of their own and wait for all."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--baseline-runs", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(7)
    with SandboxCloud(time_scale=100) as cloud, tempfile.TemporaryDirectory() as state:
        runtime = sandbox_runtime(cloud, Path(state))
        cluster = cloud.plant_cluster("acf-bench", nodes=3)
        api = runtime.targets.access(runtime.targets.resolve(cluster)).api_client()
        clock = TerminationClock(api)
        runtime.jobs.start(JobRequest(cluster=cluster, script="true"))  # warm: kubeconfig, image prefix, imports
        time.sleep(1)

        gaps, ok = [], 0
        for _ in range(args.runs):
            gap, succeeded = ours(runtime, cluster, clock, rng.uniform(0.2, 1.0))
            gaps.append(gap)
            ok += succeeded
        print(f"run_job (watch), {args.runs} sequential runs, {ok} succeeded:")
        print(f"  gap pod terminated -> result in hand: {spread(gaps, 1)}")

        baseline: list[float] = []
        lock = threading.Lock()

        def one(i: int) -> None:
            gap = seed_style(api, clock, f"seed-{i}", rng.uniform(0.2, 1.0))
            with lock:
                baseline.append(gap)

        at_once(one, args.baseline_runs)
        print(f"seed-style polling every {POLL_SECONDS:g} s, {args.baseline_runs} runs (concurrent):")
        print(f"  gap: {spread(baseline, 0)}")

        results: list[bool] = []
        started = time.monotonic()

        def concurrent(i: int) -> None:
            results.append(ours(runtime, cluster, clock, 0.5)[1])

        at_once(concurrent, 20)
        wall = time.monotonic() - started
        print(f"20 concurrent run_job calls on one cluster: {sum(results)}/20 succeeded in {wall:.1f} s wall time")
        clock.stop()


if __name__ == "__main__":
    main()
