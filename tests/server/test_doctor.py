"""`ack-compute-mcp doctor` against the real sandbox: the table, its fixes, the exit code, and no secret in any
output. The default credentials chain reads its environment once per process, so the cases that need the chain
run the real CLI as a subprocess; the rest call the CLI or `run_doctor` in process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ack_compute.cloud.config import StaticCredentials
from ack_compute.sandbox import Fault, SandboxCloud
from ack_compute.server.cli import main
from ack_compute.server.doctor import policy_document, run_doctor
from ack_compute.server.settings import Settings
from ack_compute.tools.ledger import Ledger

QUOTE_SECRET = "doctor-test-quote-secret-0123456789-abcdef"
CREATING = {"CreateCluster", "CreateVpc", "CreateVSwitch"}


class Row(dict[str, str]):
    """One table row; its cells joined across the lines the row wraps onto."""


def parse_table(text: str) -> dict[str, Row]:
    """Split the fixed-width table by the header's column offsets."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("CHECK"))
    starts = [lines[header].index(name) for name in ("CHECK", "STATUS", "DETAIL", "FIX")]
    rows: dict[str, Row] = {}
    current: Row | None = None
    for line in lines[header + 2 :]:
        if not line.strip():
            break
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        if cells[0]:
            current = rows.setdefault(cells[0], Row(status=cells[1], detail="", fix=""))
        assert current is not None
        for key, cell in (("detail", cells[2]), ("fix", cells[3])):
            current[key] = f"{current[key]} {cell}".strip() if cell else current[key]
    return rows


@pytest.fixture(autouse=True)
def _wide_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Columns wide enough that no path is longer than its cell, so a cell's lines join back with spaces; and no
    ACK_COMPUTE_* variable of the shell or the test harness (doctor reports the ones that are no setting)."""
    monkeypatch.setenv("COLUMNS", "280")
    for name in [n for n in os.environ if n.startswith("ACK_COMPUTE_")]:
        monkeypatch.delenv(name)


def doctor_in_process(
    cloud: SandboxCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str], **overrides: Any
) -> tuple[int, dict[str, Row], str]:
    """run_doctor on the shared sandbox with its static keys (the path `--sandbox` takes)."""
    fields: dict[str, Any] = {
        "region": "cn-hangzhou",
        "state_dir": tmp_path / "state",
        "endpoint": cloud.endpoint,
        "protocol": "http",
        "kubeconfig": None,
        "quote_secret": QUOTE_SECRET,
    }
    settings = Settings(**{**fields, **overrides})
    credentials = StaticCredentials(access_key_id=cloud.access_key_id, access_key_secret=cloud.access_key_secret)
    code = run_doctor(settings, credentials)
    out = capsys.readouterr().out
    return code, parse_table(out), out


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no operator settings, no keys, no proxies, no ECS metadata, an empty HOME."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALIBABA_CLOUD_", "ACK_COMPUTE_")) and k.lower() not in ("http_proxy", "https_proxy")
    }
    env.update(
        HOME=str(tmp_path / "home"),
        KUBECONFIG=str(tmp_path / "no-kubeconfig"),
        ALIBABA_CLOUD_ECS_METADATA_DISABLED="true",
        ACK_COMPUTE_STATE_DIR=str(tmp_path / "state"),
        ACK_COMPUTE_QUOTE_SECRET=QUOTE_SECRET,
    )
    env.update(extra)
    return env


def doctor_cli(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, str]]]:
    """The real entry point, JSON output, parsed by check name."""
    done = subprocess.run(
        [sys.executable, "-m", "ack_compute.server", "doctor", "--format", "json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stdout)
    assert report["exit_code"] == done.returncode
    return done, {c["check"]: c for c in report["checks"]}


# ------------------------------------------------------------------------------------------------ sandbox


def ok_row(detail: str) -> dict[str, str]:
    """A check that passed, as doctor reports it: nothing to fix."""
    return {"status": "ok", "detail": detail, "fix": ""}


@pytest.mark.usefixtures("restore_logging")
def test_sandbox_doctor_is_all_ok_and_prints_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[SandboxCloud] = []
    start = SandboxCloud.start

    def recording_start(self: SandboxCloud) -> None:  # only to learn the sandbox's own secret
        start(self)
        started.append(self)

    monkeypatch.setattr(SandboxCloud, "start", recording_start)
    monkeypatch.setenv("ACK_COMPUTE_QUOTE_SECRET", QUOTE_SECRET)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))

    code = main(["doctor", "--sandbox", "--log-level", "DEBUG"])

    out, err = capsys.readouterr()
    rows = parse_table(out)
    assert code == 0, out
    assert {r["status"] for r in rows.values()} <= {"ok", "skip"}
    assert [name for name, r in rows.items() if r["status"] == "skip"] == [
        "ram cs:CreateCluster",
        "ram vpc:CreateVpc",
        "ram vpc:CreateVSwitch",
        "ram cs:CreateClusterNodePool",
        "ram cs:ModifyClusterNodePool",
        "ram cs:InstallClusterAddons",
        "ram cs:UpgradeClusterAddons",
        "kubeconfig (context:)",
    ]
    assert rows["cloud"]["detail"].startswith("embedded sandbox at 127.0.0.1:")
    assert "static AccessKey" in rows["credentials"]["detail"]
    assert rows["region"]["status"] == "ok"
    assert all(rows[f"endpoint {p}"]["status"] == "ok" for p in ("cs", "ecs", "vpc", "eci", "bss"))
    assert rows["ram bss:DescribeInstanceBill"]["status"] == "ok"
    assert "not shown" in rows["quote secret"]["detail"]
    assert f"doctor: {len(rows) - 8} ok, 0 warn, 0 FAIL, 8 skip" in out
    (sandbox,) = started
    for secret in (sandbox.access_key_secret, QUOTE_SECRET):
        assert secret not in out and secret not in err
    assert sandbox.access_key_id not in out, "the AccessKey id is shown masked"


def test_denied_actions_fail_with_the_grant_in_the_fix(
    cloud: SandboxCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.inject("DescribeClustersForRegion", Fault.denied())
    cloud.inject("DeleteCluster", Fault.denied("StatusForbidden"))

    code, rows, out = doctor_in_process(cloud, tmp_path, capsys)

    assert code == 1
    listing = rows["ram cs:DescribeClustersForRegion"]
    assert listing["status"] == "FAIL" and listing["detail"] == "denied: Forbidden.RAM (HTTP 403)"
    assert listing["fix"].startswith("grant cs:DescribeClustersForRegion (used by ensure_cluster, run_job")
    assert "references/ram-policy.md" in listing["fix"]
    assert rows["ram cs:DeleteCluster"]["status"] == "FAIL"
    assert rows["ram cs:DeleteCluster"]["fix"].startswith("grant cs:DeleteCluster (used by cleanup)")
    assert rows["ram vpc:DescribeVpcs"]["status"] == "ok"
    assert "2 FAIL" in out and "(exit 1)" in out
    assert not CREATING & set(cloud.counts()), "doctor never sends a creating call"


def test_denied_bills_warn_that_the_meter_shows_estimates_and_never_fail(
    cloud: SandboxCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.deny_bills()
    try:
        code, rows, out = doctor_in_process(cloud, tmp_path, capsys)
    finally:
        cloud.deny_bills(False)

    assert code == 0, out
    bills = rows["ram bss:DescribeInstanceBill"]
    assert bills["status"] == "warn"
    assert bills["detail"] == "bills unavailable: meter shows estimates (NoPermission (HTTP 403))"
    assert bills["fix"].startswith("optional: grant bss:DescribeInstanceBill")
    assert rows["endpoint bss"]["status"] == "ok", "it answered: the endpoint is reachable"
    assert "0 FAIL" in out and "(exit 0)" in out


def test_state_dir_that_cannot_be_created_fails(
    cloud: SandboxCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a directory cannot be made under a file, whoever runs the test (root included)

    code, rows, _ = doctor_in_process(cloud, tmp_path, capsys, state_dir=blocker / "state", quote_secret=None)

    assert code == 1
    assert rows["state dir"]["status"] == "FAIL" and "cannot be created" in rows["state dir"]["detail"]
    assert "ACK_COMPUTE_STATE_DIR" in rows["state dir"]["fix"]
    assert rows["ledger"]["status"] == rows["quote secret"]["status"] == "skip"


def test_a_ledger_of_the_other_cloud_fails_as_serve_would_refuse_it_and_doctor_marks_none(
    cloud: SandboxCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = Ledger(tmp_path / "state" / "ledger.sqlite3")
    code, rows, _ = doctor_in_process(cloud, tmp_path, capsys, sandbox=True)
    assert code == 0 and rows["ledger"]["status"] == "ok"
    assert ledger.query("SELECT name FROM ledger_facts") == [], "doctor changes nothing, the mark included"

    ledger.belong_to("alibaba-cloud")  # a real server started on it
    code, rows, _ = doctor_in_process(cloud, tmp_path, capsys, sandbox=True)
    assert code == 1
    detail = rows["ledger"]["detail"]
    assert rows["ledger"]["status"] == "FAIL"
    assert "belongs to the real Alibaba Cloud, and this server serves the embedded sandbox cloud" in detail
    assert "unset ACK_COMPUTE_STATE_DIR and ACK_COMPUTE_DATABASE_URL for it" in rows["ledger"]["fix"]
    code, rows, _ = doctor_in_process(cloud, tmp_path, capsys)
    assert code == 0 and rows["ledger"]["status"] == "ok"


def test_local_files_loose_modes_and_kubeconfig_contexts(
    cloud: SandboxCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    secret_file = state / "quote-secret"
    secret_file.write_bytes(b"s" * 32)
    secret_file.chmod(0o644)
    token = "kube-token-that-must-never-be-printed"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: dev\n"
        "contexts:\n- name: dev\n  context: {cluster: c, user: u}\n- name: prod\n  context: {cluster: c, user: u}\n"
        "clusters:\n- name: c\n  cluster: {server: 'https://10.0.0.1:6443'}\n"
        f"users:\n- name: u\n  user: {{token: {token}}}\n"
    )
    kubeconfig.chmod(0o600)

    code, rows, out = doctor_in_process(cloud, tmp_path, capsys, quote_secret=None, kubeconfig=kubeconfig)

    assert code == 1
    assert rows["state dir"]["status"] == "warn" and rows["state dir"]["fix"] == f"chmod 700 {state}"
    assert rows["quote secret"]["status"] == "FAIL" and "mode 0644" in rows["quote secret"]["detail"]
    assert rows["quote secret"]["fix"].startswith(f"chmod 600 {secret_file}")
    assert rows["kubeconfig (context:)"] == ok_row(f"{kubeconfig}: contexts dev, prod; current: dev")
    assert token not in out and "s" * 32 not in out
    assert rows["ledger"]["status"] == "ok"
    assert rows["allowed contexts"] == ok_row("none: context:<name> targets are refused (ACK_COMPUTE_ALLOWED_CONTEXTS)")


def test_allowed_contexts_are_loaded_like_targets(
    cloud: SandboxCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        "contexts:\n- name: dev\n  context: {cluster: c, user: u}\n- name: sso\n  context: {cluster: c, user: x}\n"
        "clusters:\n- name: c\n  cluster: {server: 'https://10.0.0.1:6443'}\n"
        "users:\n- name: u\n  user: {token: t}\n- name: x\n  user: {exec: {command: aws-iam-authenticator}}\n"
    )
    kubeconfig.chmod(0o600)
    _, rows, _ = doctor_in_process(cloud, tmp_path, capsys, kubeconfig=kubeconfig, allowed_contexts="dev,sso,gone")
    assert rows["allowed contexts"]["status"] == "warn"
    assert rows["allowed contexts"]["detail"] == (
        "dev, sso, gone: context sso authenticates with an exec credential plugin or auth-provider, which would run a "
        "program on the server; context gone is not in the server's kubeconfig"
    )
    _, rows, _ = doctor_in_process(
        cloud, tmp_path, capsys, kubeconfig=kubeconfig, allowed_contexts="dev,sso", allow_exec_credentials=True
    )
    assert rows["allowed contexts"] == ok_row("dev, sso; exec credential plugins allowed")


def test_a_configured_kubeconfig_that_is_missing_fails(
    cloud: SandboxCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows, _ = doctor_in_process(cloud, tmp_path, capsys, kubeconfig=tmp_path / "nope")
    assert code == 1
    assert rows["kubeconfig (context:)"]["status"] == "FAIL"
    assert "ACK_COMPUTE_KUBECONFIG" in rows["kubeconfig (context:)"]["fix"]


def test_read_only_mode_probes_only_the_actions_of_the_read_only_policy(
    cloud: SandboxCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows, _ = doctor_in_process(cloud, tmp_path, capsys, read_only=True)

    assert code == 0
    policy = json.loads(policy_document("read-only"))
    probed = {name for s in policy["Statement"] for name in s["Action"]}
    assert {c[len("ram ") :] for c, row in rows.items() if c.startswith("ram ") and row["status"] == "ok"} == probed
    assert rows["ram cs:DeleteCluster"] == {"status": "skip", "detail": "not needed: read-only mode", "fix": ""}
    assert rows["ram cs:DescribeClusterUserKubeconfig"]["status"] == rows["kubeconfig (ACK)"]["status"] == "skip"
    assert rows["endpoint vpc"]["status"] == "ok", "list_resources checks networks"
    assert {"DeleteCluster", "DeleteVpc", "DescribeClusterUserKubeconfig"}.isdisjoint(cloud.counts())


def test_print_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--print-policy"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert main(["doctor", "--print-policy", "read-only"]) == 0
    read_only = json.loads(capsys.readouterr().out)
    assert full["Version"] == read_only["Version"] == "1"
    assert len(full["Statement"]) == 5 and read_only["Statement"] == full["Statement"][:2]  # pricing, inventory
    assert "cs:DescribeClusterDetail" in json.dumps(read_only)
    for withheld in ("cs:DeleteCluster", "cs:CreateCluster", "cs:DescribeClusterUserKubeconfig"):
        assert withheld in json.dumps(full) and withheld not in json.dumps(read_only)


# ---------------------------------------------------------------------- the default chain, through the CLI


@pytest.mark.slow
def test_env_credentials_are_named_masked_and_never_printed(cloud: SandboxCloud, tmp_path: Path) -> None:
    cloud.inject("DescribeVpcs", Fault.denied())
    env = cli_env(
        tmp_path,
        ACK_COMPUTE_ENDPOINT=cloud.endpoint,
        ACK_COMPUTE_PROTOCOL="http",
        ALIBABA_CLOUD_ACCESS_KEY_ID=cloud.access_key_id,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=cloud.access_key_secret,
    )

    done, checks = doctor_cli(env, "--log-level", "DEBUG")

    assert done.returncode == 1
    credentials = checks["credentials"]
    assert credentials["status"] == "ok"
    assert credentials["detail"].startswith("environment variables ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET: AccessKey LTAI")
    assert checks["ram vpc:DescribeVpcs"]["status"] == "FAIL"
    assert checks["ram vpc:DescribeVpcs"]["fix"].startswith("grant vpc:DescribeVpcs")
    for secret in (cloud.access_key_secret, QUOTE_SECRET):
        assert secret not in done.stdout and secret not in done.stderr
    assert cloud.access_key_id not in done.stdout


@pytest.mark.slow
def test_unreachable_endpoint_fails_fast_with_a_network_fix(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = cli_env(
        tmp_path,
        ACK_COMPUTE_ENDPOINT=f"127.0.0.1:{port}",
        ACK_COMPUTE_PROTOCOL="http",
        ALIBABA_CLOUD_ACCESS_KEY_ID="LTAI0000doctor0000",
        ALIBABA_CLOUD_ACCESS_KEY_SECRET="doctor-test-access-key-secret",
    )
    started = time.monotonic()

    done, checks = doctor_cli(env)

    assert done.returncode == 1
    assert time.monotonic() - started < 30
    for product in ("cs", "ecs", "vpc", "eci"):
        row = checks[f"endpoint {product}"]
        assert row["status"] == "FAIL" and "unreachable" in row["detail"], row
        assert "proxy" in row["fix"] and f"ACK_COMPUTE_ENDPOINT (127.0.0.1:{port})" in row["fix"]
    assert checks["ram cs:DescribeClustersForRegion"]["detail"] == "not checked: endpoint unreachable"
    assert checks["credentials"]["status"] == "ok"
    assert "doctor-test-access-key-secret" not in done.stdout + done.stderr


@pytest.mark.slow
def test_missing_credentials_fail_with_the_chain_in_the_fix(cloud: SandboxCloud, tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    env = cli_env(tmp_path, ACK_COMPUTE_ENDPOINT=cloud.endpoint, ACK_COMPUTE_PROTOCOL="http")

    done, checks = doctor_cli(env)

    assert done.returncode == 1
    credentials = checks["credentials"]
    assert credentials["status"] == "FAIL" and credentials["detail"].startswith("no credentials resolved")
    for step in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "OIDC/RRSA", "~/.aliyun/config.json", "ALIBABA_CLOUD_PROFILE"):
        assert step in credentials["fix"], step
    assert "ECS instance RAM role" in credentials["fix"] and "Never on the command line" in credentials["fix"]
    assert checks["endpoint cs"]["status"] == "ok" and "TCP connect" in checks["endpoint cs"]["detail"]
    assert checks["ram cs:DescribeRegions"] == {
        "check": "ram cs:DescribeRegions",
        "status": "skip",
        "detail": "not checked: no credentials",
        "fix": "",
    }
    assert cloud.counts() == {}, "nothing signed was sent"


def test_http_access_is_checked_as_serve_would(
    cloud: SandboxCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [{"subject": "alice", "sha256": "ab" * 32}, {"subject": "bob"}]}))
    tokens.chmod(0o600)
    code, rows, _ = doctor_in_process(cloud, tmp_path, capsys, http_tokens_file=tokens)
    assert code == 1 and rows["http access"]["status"] == "FAIL"
    assert (
        "tokens.1" in rows["http access"]["detail"]
        and "exactly one of token or sha256" in rows["http access"]["detail"]
    )

    tokens.write_text(json.dumps({"tokens": [{"subject": "alice", "sha256": "ab" * 32}]}))
    code, rows, _ = doctor_in_process(cloud, tmp_path, capsys, http_tokens_file=tokens)
    assert rows["http access"]["status"] == "ok" and "bearer tokens (1 caller(s))" in rows["http access"]["detail"]


def test_a_misspelt_variable_is_a_warning_that_names_the_setting_meant(tmp_path: Path) -> None:
    done, checks = doctor_cli(cli_env(tmp_path, ACK_COMPUTE_MAX_HOURLY_CAP="5"), "--sandbox")
    assert checks["settings"] == {
        "check": "settings",
        "status": "warn",
        "detail": "not settings, so ignored: ACK_COMPUTE_MAX_HOURLY_CAP (did you mean ACK_COMPUTE_MAX_HOURLY?)",
        "fix": "correct the names (the README's Settings table lists them) or unset them",
    }
    assert done.returncode == 0, "a warning, not a failure"
    _, clean = doctor_cli(cli_env(tmp_path), "--sandbox")
    assert "settings" not in clean
