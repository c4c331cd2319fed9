"""Diagnostics against the real sandbox through the real SDKs: credentials without secrets, probes classified
as allowed / denied / unreachable, no creating call ever sent, and a RAM action list that matches the code."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from ack_compute.cloud.config import CloudConfig, StaticCredentials
from ack_compute.cloud.diagnostics import (
    RAM_ACTIONS,
    READ_ONLY_ACCESS,
    Diagnostics,
    classify,
    describe_provider,
    inspect_kubeconfig,
    mask_access_key_id,
    ram_policy,
)
from ack_compute.cloud.errors import CloudError
from ack_compute.sandbox import Fault, SandboxCloud
from ack_compute.server.settings import READ_ONLY_TOOLS

ROOT = Path(__file__).resolve().parents[2]
# Never probed: they buy something or change a cluster (the add-on installs are free, but still writes).
NEVER_PROBED = {
    "CreateCluster",
    "CreateVpc",
    "CreateVSwitch",
    "CreateClusterNodePool",
    "ModifyClusterNodePool",
    "InstallClusterAddons",
    "UpgradeClusterAddons",
}


def diagnostics(cloud: SandboxCloud, *, timeout_s: float = 4.0, secret: str | None = None) -> Diagnostics:
    credentials = StaticCredentials(
        access_key_id=cloud.access_key_id, access_key_secret=secret or cloud.access_key_secret
    )
    config = CloudConfig(
        region="cn-hangzhou", endpoint_override=cloud.endpoint, protocol="http", credentials=credentials
    )
    return Diagnostics(config, timeout_s=timeout_s)


def outcomes(cloud: SandboxCloud, **kw: object) -> dict[str, tuple[str, str]]:
    report = diagnostics(cloud, **kw).probe("cn-hangzhou", RAM_ACTIONS)  # type: ignore[arg-type]
    return {r.action.action: (r.outcome, r.code) for r in report.results}


# --------------------------------------------------------------------------------------- the action list


def test_ram_actions_are_exactly_the_actions_cloud_sends() -> None:
    """Every action name cloud/ passes to `call(...)` or `_paged(...)` is listed, and nothing more."""
    sent: set[str] = set()
    for path in (ROOT / "cloud").glob("*.py"):
        sent |= set(re.findall(r"\.(?:call|_paged)\(\s*\"([A-Z]\w+)\"", path.read_text()))
    assert sent, "the pattern found no calls: has the calling convention changed?"
    assert {a.action for a in RAM_ACTIONS} == sent
    assert len({a.action for a in RAM_ACTIONS}) == len(RAM_ACTIONS)


def test_reference_doc_carries_the_generated_policies() -> None:
    text = (ROOT / "references" / "ram-policy.md").read_text()
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S)]
    assert blocks == [ram_policy(), ram_policy(READ_ONLY_ACCESS)]
    for action in RAM_ACTIONS:
        assert f"`{action.ram_name}` | {action.access} |" in text, action.ram_name


def test_policy_groups_are_complete_and_disjoint() -> None:
    statements = ram_policy()["Statement"]
    listed = [name for s in statements for name in s["Action"]]
    assert sorted(listed) == sorted(a.ram_name for a in RAM_ACTIONS)
    assert all(s["Effect"] == "Allow" and "*" not in "".join(s["Action"]) for s in statements)


def test_the_read_only_policy_is_what_the_read_only_tools_use_and_only_reads() -> None:
    """Every action a tool a read-only server serves uses is in the read-only policy, and nothing else is; but never
    the kubeconfig, a credential (list_resources on a read-only server does without it: tests/server/test_read_only.py
    runs that server with this policy alone)."""
    policy = {name for s in ram_policy(READ_ONLY_ACCESS)["Statement"] for name in s["Action"]}
    used = {a.ram_name for a in RAM_ACTIONS if any(re.search(rf"\b{tool}\b", a.used_by) for tool in READ_ONLY_TOOLS)}
    assert used - policy == {"cs:DescribeClusterUserKubeconfig"}
    assert policy <= used
    assert all(re.fullmatch(r"\w+:(Describe|List|Get)\w+", name) for name in policy), policy


# ------------------------------------------------------------------------------------------------ probes


def test_every_probe_is_allowed_on_the_sandbox_and_nothing_is_created(cloud: SandboxCloud) -> None:
    vpcs, clusters = len(cloud.vpcs()), len(cloud.clusters())

    found = outcomes(cloud)

    assert {k for k, (outcome, _) in found.items() if outcome == "not_probed"} == NEVER_PROBED
    assert all(outcome == "ok" for k, (outcome, _) in found.items() if k not in NEVER_PROBED), found
    assert found["DescribeClusterDetail"] == ("ok", "ErrorClusterNotFound")
    assert found["DeleteVpc"] == ("ok", "InvalidVpcId.NotFound")
    assert found["DeleteClusterNodepool"] == ("ok", "ErrorClusterNotFound")
    assert not NEVER_PROBED & set(cloud.counts())
    assert (len(cloud.vpcs()), len(cloud.clusters())) == (vpcs, clusters)


def test_ram_denials_are_told_apart_from_other_errors(cloud: SandboxCloud) -> None:
    cloud.inject("DescribeVpcs", Fault.denied())
    cloud.inject("DeleteCluster", Fault.denied("StatusForbidden"))
    cloud.inject("DescribePrice", Fault.server_error())

    found = outcomes(cloud)

    assert found["DescribeVpcs"] == ("denied", "Forbidden.RAM")
    assert found["DeleteCluster"] == ("denied", "StatusForbidden")
    assert found["DescribePrice"] == ("error", "ServiceUnavailable")
    assert found["DescribeVSwitches"] == ("ok", "")


def test_wrong_secret_is_a_credentials_rejection_not_a_denial(cloud: SandboxCloud) -> None:
    found = outcomes(cloud, secret="not-the-sandbox-secret")
    assert found["DescribeRegions"] == ("rejected", "SignatureDoesNotMatch")


def test_a_slow_endpoint_is_unreachable_within_the_short_timeout(cloud: SandboxCloud) -> None:
    cloud.inject("DescribeVpcs", Fault.delay(3.0))
    started = time.monotonic()

    found = outcomes(cloud, timeout_s=0.5)

    assert found["DescribeVpcs"] == ("unreachable", "NetworkError")
    assert time.monotonic() - started < 3.0, "probes run in parallel with the short timeout"


def test_regions_come_from_describe_regions(cloud: SandboxCloud) -> None:
    report = diagnostics(cloud).probe("cn-hangzhou", [a for a in RAM_ACTIONS if a.action == "DescribeRegions"])
    assert report.regions and "cn-hangzhou" in report.regions
    assert [e.reachable for e in report.endpoints({"cs": cloud.endpoint, "vpc": cloud.endpoint})] == [True, None]


@pytest.mark.parametrize(
    ("code", "status", "message", "outcome"),
    [
        ("Forbidden.RAM", 403, "User not authorized to operate on the specified resource.", "denied"),
        ("StatusForbidden", 403, "", "denied"),
        ("NoPermission", 403, "", "denied"),
        ("ErrorRamPolicyConfig", 403, "the RAM policy does not allow it", "denied"),
        ("InvalidAmount.Malformed", 403, "The specified parameter Amount is not valid.", "error"),
        ("InvalidAccessKeyId.NotFound", 404, "", "rejected"),
        ("InvalidTimeStamp.Expired", 400, "", "rejected"),
        ("ErrorClusterNotFound", 404, "", "ok"),
        ("DryRunOperation", 400, "Request validation has been passed with DryRun flag set.", "ok"),
        ("NetworkError", None, "the endpoint could not be reached", "unreachable"),
        ("Throttling.User", 400, "", "error"),
    ],
)
def test_classify(code: str, status: int | None, message: str, outcome: str) -> None:
    assert classify(CloudError("Probe", code, message, status=status)) == outcome


# ------------------------------------------------------------------------------------------- credentials


def test_static_credentials_resolve_without_their_secret(cloud: SandboxCloud) -> None:
    status = diagnostics(cloud).credentials()

    assert status.resolved and status.provider == "static_ak" and not status.temporary
    assert status.access_key_id == mask_access_key_id(cloud.access_key_id) != cloud.access_key_id
    assert cloud.access_key_secret not in status.model_dump_json()


@pytest.mark.parametrize(
    ("key", "masked"),
    [("LTAI5tAbCdEfGh1234", "LTAI****1234"), ("STS.NUabcdefgh9876", "STS.****9876"), ("short", "sh****"), ("", "")],
)
def test_mask_access_key_id(key: str, masked: str) -> None:
    assert mask_access_key_id(key) == masked


def test_provider_names_read_as_sources() -> None:
    assert describe_provider("default/env").startswith("environment variables")
    assert describe_provider("default/cli_profile/ram_role_arn") == "~/.aliyun/config.json profile (ram_role_arn)"
    assert describe_provider("default/ecs_ram_role") == "ECS instance RAM role"
    assert describe_provider("something_new") == "something_new"


# -------------------------------------------------------------------------------------------- kubeconfig


def test_kubeconfig_shows_context_names_never_content(tmp_path: Path) -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.secret-token-value"
    path = tmp_path / "config"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: b\n"
        "contexts:\n- name: a\n  context: {cluster: c, user: u}\n- name: b\n  context: {cluster: c, user: u}\n"
        "clusters:\n- name: c\n  cluster: {server: 'https://10.0.0.1:6443'}\n"
        f"users:\n- name: u\n  user: {{token: {token}}}\n"
    )
    found = inspect_kubeconfig(path)
    assert (found.contexts, found.current_context, found.error) == (["a", "b"], "b", "")
    assert token not in found.model_dump_json()

    path.write_text("users: [{token: " + token + "\n")  # broken YAML: its error would quote the line
    broken = inspect_kubeconfig(path)
    assert broken.error.startswith("not YAML") and token not in broken.model_dump_json()
    assert not inspect_kubeconfig(tmp_path / "absent").exists
