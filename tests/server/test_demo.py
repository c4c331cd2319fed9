"""The README's main command: `ack-compute-mcp demo` runs the whole product on the sandbox and shows it.

The demo runs once, for real, as a subprocess (the CLI's `demo` command, which starts the server as its own
subprocess); the only addition is that the sandbox's generated AccessKey is written to a file, so the test can
check that the secret never reaches the output. Each test reads what a person watching the demo would check.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

pytestmark = pytest.mark.slow

# `ack-compute-mcp demo`, with the sandbox's credential generator wrapped to record what it generated.
RECORDING_DEMO = """
import json, sys
import ack_compute.sandbox.cloud as cloud_module
from ack_compute.server.cli import main

generate = cloud_module.generate_credentials

def recorded():
    creds = generate()
    with open(sys.argv[1], "w") as out:
        json.dump({"id": creds.access_key_id, "secret": creds.access_key_secret.get_secret_value()}, out)
    return creds

cloud_module.generate_credentials = recorded
sys.exit(main(["demo"]))
"""
BAR = re.compile(r"^  \[([#-]+)\]\s+(\d+)%  ")


@dataclass(frozen=True)
class DemoRun:
    returncode: int
    out: str
    err: str
    secret: str

    @property
    def flat(self) -> str:
        """The output with wrapped lines joined (the demo wraps long text to the terminal)."""
        return re.sub(r"\s+", " ", self.out)

    def step(self, number: int) -> str:
        """The output of step [number], up to the next step."""
        match = re.search(rf"^\[{number}\] .*?(?=^\[\d+\] |\Z)", self.out, re.M | re.S)
        assert match, f"step [{number}] is missing"
        return match.group(0)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    home = tmp_path_factory.mktemp("home")
    creds = home / "sandbox-credentials.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "ACK_COMPUTE_"))}
    done = subprocess.run(
        [sys.executable, "-c", RECORDING_DEMO, str(creds)],
        env={**env, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    secret = json.loads(creds.read_text())["secret"]
    return DemoRun(done.returncode, done.stdout, done.stderr, secret)


def _bars(out: str) -> list[list[tuple[int, int]]]:
    """Each progress bar as its (filled cells, percent) milestones; bars are runs of consecutive bar lines."""
    bars: list[list[tuple[int, int]]] = []
    previous = False
    for line in out.splitlines():
        match = BAR.match(line)
        if match and not previous:
            bars.append([])
        if match:
            bars[-1].append((match.group(1).count("#"), int(match.group(2))))
        previous = bool(match)
    return bars


def test_it_exits_zero_and_shows_no_secret(demo: DemoRun) -> None:
    assert demo.returncode == 0, demo.out[-3000:] + demo.err[-2000:]
    assert len(demo.secret) >= 20
    assert demo.secret not in demo.out and demo.secret not in demo.err, "the AccessKey secret leaked"
    assert not re.findall(r"eyJ[\w-]*", demo.out), "the demo pays by quote id; no signed token is shown"
    assert re.search(r"pay with quote_id q-[0-9a-f]{20}", demo.out)
    assert "client-key-data" not in demo.out and "BEGIN " not in demo.out, "no kubeconfig material"


def test_quotes_are_numbers_that_add_up(demo: DemoRun) -> None:
    totals = re.findall(r"Hourly total: (\d+\.\d{4}) CNY/h\s+Total for (\d+(?:\.\d+)?) h: (\d+\.\d{2}) CNY", demo.out)
    assert len(totals) >= 4, "a quote for the big cluster, the small one, the Serverless one and the ACS pods"
    for hourly, hours, total in totals:
        assert abs(float(hourly) * float(hours) - float(total)) <= 0.006, (hourly, hours, total)
    assert "ACK Pro management fee" in demo.out
    assert re.search(r"same total [\d.]+ CNY, \d+ ms, cloud API calls made: 0", demo.flat), "the repeat is cached"
    assert "No quote issued" in demo.out, "the over-cap plan gets no token"
    assert len(re.findall(r"refused \(\d+ cloud calls\)", demo.out)) == 3


def test_the_person_is_asked_the_quoted_price_and_answers(demo: DemoRun) -> None:
    flat = demo.flat
    asked = re.findall(r"server asks the person: (.*?) person: (yes|no)\b", flat)
    told = re.search(r"The person was asked (\d+) times", flat)
    assert told and len(asked) == int(told.group(1)) >= 3
    for question, _ in asked:
        # Each question states the hourly price of the quote shown just before it.
        before = flat[: flat.index(question)]
        shown = re.findall(r"Hourly total: (\d+\.\d{4}) CNY/h", before)
        assert shown and f" {shown[-1]} CNY/h" in question, question
    answers = [a for _, a in asked]
    assert answers[0] == "no" and answers.count("no") == 1
    assert re.search(r"person: no \(.*?\) status declined: .*quote is now void", flat)
    assert re.search(r"person: yes .*?status created: Cluster \S+ \(c\w+\) is running with \d+ Ready nodes", flat)


def test_progress_bars_climb_to_100_percent(demo: DemoRun) -> None:
    bars = _bars(demo.out)
    assert len(bars) >= 4, "two cluster creations and two cleanups draw a bar"
    for bar in bars:
        percents = [p for _, p in bar]
        assert percents == sorted(percents) and percents[-1] == 100, bar
        assert all(abs(filled - p * 24 / 100) <= 1 for filled, p in bar), "the bar's length matches its percent"
    lines = demo.out.splitlines()
    created = [i for i, line in enumerate(lines) if line.startswith("  status created:")]
    assert len(created) == 2
    assert all(BAR.match(lines[i - 1]) and "] 100%" in lines[i - 1] for i in created)


def test_the_python_job_output_and_the_failing_image(demo: DemoRun) -> None:
    job = demo.step(6)
    assert re.search(r"status succeeded, exit code 0, ran .* on node \S+", job)
    assert "  | mean 3.08, stdev 0.29\n" in job, "the python job's output is shown"
    failing = re.sub(r"\s+", " ", demo.step(7))
    assert re.search(r"status failed: Job acf-job-\w+ failed \((ErrImagePull|ImagePullBackOff)", failing)
    assert re.search(r"cleaned up: Job default/acf-job-\w+ \(and its pods\)", failing)
    reuse = re.sub(r"\s+", " ", demo.step(5))
    assert "acf-demo: status reused (created by this server)" in reuse and "CreateCluster calls so far: 1" in reuse


def test_deploy_acs_runs_pods_on_virtual_nodes(demo: DemoRun) -> None:
    refused = re.sub(r"\s+", " ", demo.step(8))
    assert "refused: ACS compute needs an ACK Pro cluster; this one is ACK Basic (acf-demo" in refused
    flat = re.sub(r"\s+", " ", demo.step(11))
    assert "status quote_required" in flat and "server asks the person: Deploy 'web'" in flat
    rollout = re.search(r"status deployed: Deployment web: (\d+)/(\d+) pods Running on (\S+?)[;.]", flat)
    assert rollout and rollout.group(1) == rollout.group(2)
    pods = re.findall(r"^  (web-\S+)\s+Running\s+(virtual-kubelet-\S+)\s+(acs-\w+)$", demo.step(11), re.M)
    assert len(pods) == int(rollout.group(2)) >= 1
    assert len({instance for _, _, instance in pods}) == len(pods), "one ACS instance per pod"
    assert re.search(r"service endpoint: \d+\.\d+\.\d+\.\d+:80\b", flat)


def test_cleanup_deletes_what_it_planned_and_keeps_what_is_not_ours(demo: DemoRun) -> None:
    foreign = re.search(r"already holds a running cluster someone else created: (\S+)", demo.out)
    assert foreign
    for dry, real in ((demo.step(9), demo.step(9)), (demo.step(13), demo.step(14))):
        planned = len(re.findall(r"^  delete ", dry, re.M))
        deleted = re.search(r"status done: cleanup deleted (\d+) items", re.sub(r"\s+", " ", real))
        assert planned >= 3 and deleted and int(deleted.group(1)) == planned
    assert re.search(r"hourly cost that stops: \d+\.\d{4} CNY/h", demo.step(9))
    kept = re.search(rf"^  keep\s+cluster\s+{foreign.group(1)}\n\s+reused, not created by this server", demo.out, re.M)
    assert kept, "the reused cluster is kept, with the reason"


def test_the_ledger_shows_nothing_of_ours_left(demo: DemoRun) -> None:
    ledger = demo.step(15)
    rows = re.findall(
        r"^  (cluster|vpc|vswitch|job|deployment|service|node_pool)\s+(\S+)\s+(created|reused)\s+(\S+)$", ledger, re.M
    )
    ours = [r for r in rows if r[2] == "created"]
    assert {r[0] for r in ours} >= {"cluster", "vpc", "vswitch", "job", "deployment", "service", "node_pool"}
    assert all(state == "deleted" for _, _, _, state in ours), ours
    foreign = re.search(r"already holds a running cluster someone else created: (\S+)", demo.out)
    assert foreign and [r[1] for r in rows if r[2] == "reused"] == [foreign.group(1)]
    assert f"clusters still existing: {foreign.group(1)}\n" in ledger
    assert f"nothing of ours left running: {len(ours)} ledger rows created by this server, all deleted" in ledger


def test_a_gpu_pool_on_the_team_cluster_runs_a_job_and_goes_while_the_cluster_stays(demo: DemoRun) -> None:
    step = re.sub(r"\s+", " ", demo.step(12))
    assert "Pool nodes: ecs.gn7i-c8g1.2xlarge" in step and "server asks the person: Add 1 x ecs.gn7i" in step
    assert re.search(r"pool created: Created node pool gpu \(np\w+\) on cluster team-shared: active", step)
    assert re.search(r"run_job node_pool=gpu: status succeeded on node \S+", step)
    assert re.search(
        r"list_resources: node_pool \S+/gpu: active, 1/1 nodes healthy, 1 node\(s\), \d+\.\d{4} CNY/h, accrued "
        r"\d+\.\d\d \((estimated|billed so far \d+\.\d\d; bills lag up to 24 h)\), "
        r"lease ends \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
        step,
    )
    assert re.search(
        r"spend meter \(local operator\): today \d+\.\d\d CNY, committed by running leases \d+\.\d\d", step
    )
    assert re.search(r"status done: cleanup deleted \d+ items", step)
    assert "clusters still existing: team-shared" in demo.step(15)


def test_leases_are_shown_and_one_is_extended_by_an_hour(demo: DemoRun) -> None:
    iso = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"
    created = re.sub(r"\s+", " ", demo.step(4))
    lease = re.search(rf"lease: acf-demo runs until {iso}, then is deleted unless extended", created)
    assert lease, created
    asked = re.search(
        r"server asks the person: Extend cluster 'acf-demo' \(cn-hangzhou\) by 1 h for .*? person: yes", created
    )
    assert asked, created
    extended = re.search(rf"lease extended by 1 h for [\d.]+ CNY: acf-demo now runs until {iso} \(was {iso}\)", created)
    assert extended and extended.group(2) == lease.group(1), created
    start, end = (datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ") for t in (lease.group(1), extended.group(1)))
    assert end - start == timedelta(hours=1)
    # Every question before a purchase says when the lease ends; every purchase shows its lease.
    for question, _ in re.findall(r"server asks the person: (.*?) person: (yes|no)\b", demo.flat):
        if not question.startswith("Extend "):
            assert re.search(
                r"It runs until about (\d{4}-\d\d-\d\d )?\d\d:\d\d UTC \(\d+ h\), then is deleted unless extended\.",
                question,
            )
    for step, name in ((10, "acf-demo-serverless"), (11, "web"), (12, "pool gpu")):
        assert re.search(rf"lease: {name} runs until {iso}", re.sub(r"\s+", " ", demo.step(step))), step
