"""`ack-compute-mcp doctor`: check a setup without creating anything, and say how to fix what fails.

One row per check: the cloud target, credentials (provider and masked AccessKey id only), region, each
endpoint, each RAM action the tools call (probed with harmless calls, see cloud/diagnostics.py), the
kubeconfig mode, the local kubeconfig for `context:` targets, the state dir, the ledger and the quote secret.
Any FAIL makes the exit code 1. No secret is printed: the rows are built from provider names, masked ids,
error codes and file modes, never from a secret's value.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import textwrap
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, computed_field

from ack_compute.cloud.config import CloudConfig, StaticCredentials
from ack_compute.cloud.diagnostics import (
    ACCESS_ORDER,
    CREDENTIAL_CHAIN,
    OPTIONAL_PRODUCTS,
    RAM_ACTIONS,
    READ_ONLY_ACCESS,
    CredentialStatus,
    Diagnostics,
    EndpointStatus,
    ProbeReport,
    ProbeResult,
    RamAction,
    inspect_kubeconfig,
    ram_policy,
)
from ack_compute.server.settings import READ_ONLY_TOOLS, Settings, unknown_variables

Status = Literal["ok", "FAIL", "warn", "skip"]
OutputFormat = Literal["table", "json"]
POLICY_HINT = "references/ram-policy.md, or `ack-compute-mcp doctor --print-policy`"
TROUBLESHOOTING = "references/troubleshooting.md"
UNANSWERED = {"unreachable", "not_probed"}


class DoctorCheck(BaseModel):
    """One row: what was checked, how it went, what was seen, and (unless ok) what to do about it."""

    check: str
    status: Status
    detail: str
    fix: str = ""


class DoctorReport(BaseModel):
    checks: list[DoctorCheck]

    def count(self, status: Status) -> int:
        return sum(1 for c in self.checks if c.status == status)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exit_code(self) -> int:
        return 1 if self.count("FAIL") else 0


def _row(check: str, status: Status, detail: str, fix: str = "") -> DoctorCheck:
    return DoctorCheck(check=check, status=status, detail=detail, fix="" if status == "ok" else fix)


def _cloud_config(settings: Settings, credentials: StaticCredentials | None) -> CloudConfig:
    """The same connection settings Runtime.build uses, without building a runtime (which would create the
    quote secret: doctor only reports whether it exists)."""
    from ack_compute.server.runtime import cloud_config

    return cloud_config(settings, credentials, " (doctor)")


# ---------------------------------------------------------------------------------------------- cloud rows


def _target_rows(settings: Settings) -> list[DoctorCheck]:
    if settings.sandbox:
        target = f"embedded sandbox at {settings.endpoint} (no account, no network; illustrative prices)"
    elif settings.endpoint:
        target = f"every product at {settings.protocol}://{settings.endpoint} (ACK_COMPUTE_ENDPOINT)"
    else:
        target = f"Alibaba Cloud public endpoints ({settings.site} site)"
    mode = (
        f"read-only: {', '.join(READ_ONLY_TOOLS)}; only the actions they call are probed "
        f"({' and '.join(READ_ONLY_ACCESS)}, no kubeconfig)"
        if settings.read_only
        else "full: creates and deletes with signed quotes"
    )
    rows = [_row("cloud", "ok", target), _row("mode", "ok", mode)]
    if unknown := unknown_variables(os.environ):
        rows.append(
            _row(
                "settings",
                "warn",
                f"not settings, so ignored: {', '.join(unknown)}",
                "correct the names (the README's Settings table lists them) or unset them",
            )
        )
    return rows


_REJECTION_FIXES = (
    (
        "InvalidAccessKeyId",
        "the AccessKey id is unknown, disabled, or of the other site (China vs international): "
        "check it, or create a new AccessKey for the RAM user",
    ),
    (
        "SignatureDoesNotMatch",
        "the AccessKey secret is wrong (stray whitespace or newline?), or a proxy rewrites requests",
    ),
    ("InvalidSecurityToken", "the STS token expired or does not belong to this AccessKey: renew it"),
    ("InvalidTimeStamp", "the system clock is off: sync it (NTP)"),
)


def _credentials_row(cred: CredentialStatus, rejected: ProbeResult | None, verified: bool = True) -> DoctorCheck:
    if not cred.resolved:
        chain = "; ".join(f"{i}) {step}" for i, step in enumerate(CREDENTIAL_CHAIN, start=1))
        return _row(
            "credentials",
            "FAIL",
            f"no credentials resolved: {cred.error}",
            f"provide them one of these ways (the order the default chain tries): {chain}. Never on the command line.",
        )
    who = f"{cred.source}: AccessKey {cred.access_key_id}" + (", STS (temporary)" if cred.temporary else "")
    if rejected is not None:
        fix = next((text for code, text in _REJECTION_FIXES if rejected.code.startswith(code)), "check the keys")
        return _row(
            "credentials",
            "FAIL",
            f"{who}; rejected by the cloud: {rejected.code}: {rejected.message}",
            f"{fix} (see {TROUBLESHOOTING}).",
        )
    return _row("credentials", "ok", who if verified else f"{who} (not verified: no endpoint answered)")


def _region_row(settings: Settings, report: ProbeReport | None) -> DoctorCheck:
    region = settings.region
    if report is None:
        return _row("region", "skip", f"{region}: not checked (no credentials)")
    if report.regions is None:
        probe = next((r for r in report.results if r.action.action == "DescribeRegions"), None)
        why = f"{probe.outcome} ({probe.code})" if probe is not None and probe.code else "no answer"
        return _row("region", "skip", f"{region}: not checked, CS DescribeRegions: {why}")
    if region in report.regions:
        return _row("region", "ok", f"{region} (one of the {len(report.regions)} regions ACK lists)")
    listed = ", ".join(sorted(report.regions))
    return _row(
        "region",
        "FAIL",
        f"ACK does not list {region}",
        f"set --region or ACK_COMPUTE_REGION (or ALIBABA_CLOUD_REGION) to one of: {listed}.",
    )


def _endpoint_rows(settings: Settings, statuses: list[EndpointStatus], needed: set[str]) -> list[DoctorCheck]:
    rows = []
    for s in statuses:
        name = f"endpoint {s.product}"
        if s.product not in needed:
            rows.append(_row(name, "skip", f"{s.endpoint}: read-only mode sends it nothing"))
        elif s.reachable is None:
            rows.append(_row(name, "skip", f"{s.endpoint}: {s.detail}"))
        elif s.reachable:
            rows.append(_row(name, "ok", f"{s.endpoint}: {s.detail}"))
        elif s.product in OPTIONAL_PRODUCTS:
            rows.append(_row(name, "warn", f"{s.endpoint}: unreachable: {s.detail}; {BILLS_UNAVAILABLE}"))
        else:
            override = f", or correct ACK_COMPUTE_ENDPOINT ({settings.endpoint})" if settings.endpoint else ""
            rows.append(
                _row(
                    name,
                    "FAIL",
                    f"{s.endpoint}: unreachable: {s.detail}",
                    f"check DNS, firewall and proxy for {s.endpoint} (the SDK follows HTTPS_PROXY/HTTP_PROXY and "
                    f"ignores NO_PROXY){override}.",
                )
            )
    return rows


def _grant(action: RamAction) -> str:
    return f"grant {action.ram_name} (used by {action.used_by}); the whole policy: {POLICY_HINT}."


BILLS_UNAVAILABLE = "bills unavailable: meter shows estimates"


def _ram_row(result: ProbeResult) -> DoctorCheck:
    action = result.action
    name = f"ram {action.ram_name}"
    where = f" (HTTP {result.status})" if result.status else ""
    if action.optional and result.outcome != "ok":
        # Bills are optional: a denial (or no answer) means list_resources shows its estimate only, never a failure.
        detail = f"{BILLS_UNAVAILABLE} ({result.code or result.outcome}{where})"
        if result.outcome in ("unreachable", "rejected"):
            return _row(name, "skip", f"not checked: {result.outcome}; until it answers, {BILLS_UNAVAILABLE}")
        return _row(name, "warn", detail, f"optional: grant {action.ram_name} to see billed amounts beside estimates.")
    match result.outcome:
        case "ok":
            placeholder = action.probe == "placeholder" and result.code
            return _row(name, "ok", f"allowed (placeholder id: {result.code})" if placeholder else "allowed")
        case "denied":
            return _row(name, "FAIL", f"denied: {result.code}{where}", _grant(action))
        case "not_probed":
            return _row(
                name,
                "skip",
                "not probed: doctor never sends creating calls",
                f"the policy must allow {action.ram_name} (used by {action.used_by}); see references/ram-policy.md.",
            )
        case "unreachable":
            return _row(name, "skip", "not checked: endpoint unreachable")
        case "rejected":
            return _row(name, "skip", "not checked: the cloud rejected the credentials")
    message = f": {result.message[:120]}" if result.message else ""
    return _row(
        name,
        "warn",
        f"answered {result.code}{where}{message}",
        f"not a permission denial, so probably allowed; rerun doctor, and see {TROUBLESHOOTING} if it persists.",
    )


def _cloud_rows(settings: Settings, credentials: StaticCredentials | None) -> list[DoctorCheck]:
    diagnostics = Diagnostics(_cloud_config(settings, credentials))
    read_only = settings.read_only
    wanted = [a for a in RAM_ACTIONS if not read_only or a.access in READ_ONLY_ACCESS]
    needed = {a.product for a in wanted if a.probe != "not_probed"}
    cred = diagnostics.credentials()
    if not cred.resolved:
        reach = diagnostics.connect()
        return [
            _credentials_row(cred, None),
            _region_row(settings, None),
            *_endpoint_rows(settings, reach, needed),
            *(_row(f"ram {a.ram_name}", "skip", "not checked: no credentials") for a in RAM_ACTIONS),
        ]
    report = diagnostics.probe(settings.region, wanted)
    rejected = next((r for r in report.results if r.outcome == "rejected"), None)
    by_action = {r.action.action: r for r in report.results}
    ram_rows = [
        _ram_row(by_action[a.action])
        if a.action in by_action
        else _row(f"ram {a.ram_name}", "skip", "not needed: read-only mode")
        for a in RAM_ACTIONS
    ]
    return [
        _credentials_row(cred, rejected, verified=any(r.outcome not in UNANSWERED for r in report.results)),
        _region_row(settings, report),
        *_endpoint_rows(settings, report.endpoints(diagnostics.endpoints()), needed),
        *ram_rows,
    ]


# ---------------------------------------------------------------------------------------------- local rows


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _kubeconfig_rows(settings: Settings) -> list[DoctorCheck]:
    from ack_compute.tools.targets import default_kubeconfig_path

    if settings.read_only:
        return [
            _row(
                "kubeconfig (ACK)",
                "skip",
                "read-only mode fetches no kubeconfig: list_resources shows Jobs and Deployments as recorded",
            ),
            _row("kubeconfig (context:)", "skip", "read-only mode reads and runs nothing on clusters"),
        ]
    endpoint = (
        "private (this machine must reach the cluster's VPC)"
        if settings.private_endpoint
        else "public (private for clusters without one)"
    )
    rows = [
        _row(
            "kubeconfig (ACK)",
            "ok",
            f"temporary kubeconfigs of {settings.kubeconfig_minutes} min from DescribeClusterUserKubeconfig, "
            f"{endpoint} API endpoint; held in memory, never written to disk",
        )
    ]
    path = settings.kubeconfig or default_kubeconfig_path()
    found = inspect_kubeconfig(path)
    name = "kubeconfig (context:)"
    if not found.exists:
        if settings.kubeconfig is not None:
            rows.append(
                _row(
                    name,
                    "FAIL",
                    f"{path} does not exist (ACK_COMPUTE_KUBECONFIG)",
                    "correct the path, or unset ACK_COMPUTE_KUBECONFIG to use $KUBECONFIG or ~/.kube/config.",
                )
            )
        else:
            rows.append(_row(name, "skip", f"{path} absent: only context:<name> targets need one"))
        return rows
    if found.error:
        rows.append(
            _row(
                name,
                "warn",
                f"{path}: {found.error}",
                "context:<name> targets will fail until it parses (check it with `kubectl config get-contexts`).",
            )
        )
        return rows
    shown = ", ".join(found.contexts[:8]) + (f" (+{len(found.contexts) - 8} more)" if len(found.contexts) > 8 else "")
    current = f"; current: {found.current_context}" if found.current_context else ""
    detail = f"{path}: contexts {shown or 'none'}{current}"
    if found.mode is not None and found.mode & 0o077:
        rows.append(
            _row(
                name,
                "warn",
                f"{detail}; mode {found.mode:04o}: others can read its cluster credentials",
                f"chmod 600 {path}",
            )
        )
    else:
        rows.append(_row(name, "ok", detail))
    rows.append(_allowed_contexts_row(settings, path))
    return rows


def _allowed_contexts_row(settings: Settings, path: Path) -> DoctorCheck:
    """Which contexts agents may target, each loaded exactly as a `context:` target would be (same refusals)."""
    from ack_compute.cloud.errors import CloudError
    from ack_compute.cloud.kube import context_kubeconfig

    name = "allowed contexts"
    if not settings.allowed_contexts:
        return _row(name, "ok", "none: context:<name> targets are refused (ACK_COMPUTE_ALLOWED_CONTEXTS)")
    problems: list[str] = []
    for context in settings.allowed_contexts:
        try:
            context_kubeconfig(path, context, allow_exec=settings.allow_exec_credentials)
        except CloudError as exc:
            problems.append(exc.message)
    exec_note = "; exec credential plugins allowed" if settings.allow_exec_credentials else ""
    listed = ", ".join(settings.allowed_contexts)
    if problems:
        return _row(
            name,
            "warn",
            f"{listed}{exec_note}: " + "; ".join(problems),
            "fix those contexts in the kubeconfig, or remove them from ACK_COMPUTE_ALLOWED_CONTEXTS "
            "(ACK_COMPUTE_ALLOW_EXEC_CREDENTIALS=true lets exec plugins run).",
        )
    return _row(name, "ok", f"{listed}{exec_note}")


def _state_rows(settings: Settings) -> list[DoctorCheck]:
    from ack_compute.tools.ledger import Ledger, LedgerError, redacted
    from ack_compute.tools.quotes import SECRET_FILE

    state = settings.state_dir
    rows: list[DoctorCheck] = []
    elsewhere = "set --state-dir or ACK_COMPUTE_STATE_DIR to a directory this user can write"
    try:
        created = not state.exists()
        state.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.NamedTemporaryFile(dir=state, prefix=".doctor-"):
            pass
    except OSError as exc:
        problem = "cannot be created" if not state.is_dir() else "is not writable"
        return [
            _row("state dir", "FAIL", f"{state} {problem}: {exc.strerror or exc}", f"{elsewhere}."),
            _row("ledger", "skip", "not checked: no usable state dir"),
            _row("quote secret", "skip", "not checked: no usable state dir"),
        ]
    mode = _mode(state)
    what = f"{state} ({'created now, ' if created else ''}mode {mode:04o}, writable)"
    if mode & 0o007:
        rows.append(
            _row(
                "state dir",
                "warn",
                f"{what}: others can list it and read the ledger",
                f"chmod 700 {state}",
            )
        )
    else:
        rows.append(_row("state dir", "ok", what))
    secret_row = _quote_secret_row(settings, state / SECRET_FILE)  # as found: opening the ledger tightens modes
    try:
        ledger = Ledger(settings.ledger_target())
        recorded = ledger.query("SELECT COUNT(*) AS n FROM resources")[0]["n"]
        where = ledger.path.name if ledger.path else redacted(ledger.url)
        opens = f"{where} opens (schema {ledger.schema}, {recorded} resources recorded)"
        if (foreign := ledger.refusal(settings.cloud())) is not None:  # serve would refuse it: say so, mark nothing
            rows.append(_row("ledger", "FAIL", f"{opens}; {foreign.message}", foreign.next_step))
        else:
            rows.append(_row("ledger", "ok", opens))
        ledger.close()
    except (LedgerError, OSError) as exc:
        rows.append(
            _row(
                "ledger",
                "FAIL",
                f"{redacted(settings.ledger_target())} does not open: {exc}",
                "another program may hold it locked, or the file is damaged: stop other servers using this state "
                f"dir, or move the file aside (it records what this server created; cleanup needs it); or {elsewhere}.",
            )
        )
    rows.append(secret_row)
    return rows


def _quote_secret_row(settings: Settings, path: Path) -> DoctorCheck:
    name = "quote secret"
    if settings.quote_secret is not None:
        return _row(name, "ok", "from ACK_COMPUTE_QUOTE_SECRET (not shown)")
    if not path.exists():
        if settings.sandbox:
            return _row(name, "ok", f"{path} not generated yet: created (mode 0600) on first use")
        return _row(
            name,
            "warn",
            f"{path} not generated yet",
            "nothing to do: the first `serve` creates it with mode 0600; or set ACK_COMPUTE_QUOTE_SECRET "
            "(32+ characters) to share one secret between servers.",
        )
    mode = _mode(path)
    if mode & 0o077:
        return _row(
            name,
            "FAIL",
            f"{path} has mode {mode:04o}: others can read it and sign quotes",
            f"chmod 600 {path}; if others may have read it, delete it (a new one is generated; open quotes "
            "become invalid).",
        )
    if path.stat().st_size < 32:
        return _row(
            name,
            "FAIL",
            f"{path} is shorter than 32 bytes: serve refuses it",
            "delete it: the next serve generates a new one.",
        )
    return _row(name, "ok", f"{path} (mode {mode:04o}; not shown)")


# ------------------------------------------------------------------------------------------------- output


def diagnose(settings: Settings, credentials: StaticCredentials | None) -> DoctorReport:
    """Every check, cloud first; never raises for a failed check, only reports it."""
    return DoctorReport(
        checks=[
            *_target_rows(settings),
            *_cloud_rows(settings, credentials),
            *_kubeconfig_rows(settings),
            *_state_rows(settings),
            _http_row(settings),
        ]
    )


def _http_row(settings: Settings) -> DoctorCheck:
    """Whether `serve --http` would start with these settings: the same check it runs before opening a socket."""
    from ack_compute.server.access import AccessConfigError, http_access

    try:
        access = http_access(settings, "127.0.0.1", 8765)
    except AccessConfigError as exc:
        return _row("http access", "FAIL", str(exc), "fix the setting named; `serve --http` refuses to start")
    if access.mode == "none":
        return _row("http access", "ok", "no tokens configured: `serve --http` binds loopback only")
    return _row(
        "http access",
        "ok",
        f"{access.describe()}; off loopback `serve --http` also needs --allowed-host "
        f"({', '.join(settings.allowed_hosts) or 'none set yet'})",
    )


def render_table(report: DoctorReport, width: int | None = None) -> str:
    """A fixed-width table whose DETAIL and FIX cells wrap, so it reads in a terminal and in a log."""
    width = width or min(max(shutil.get_terminal_size((140, 24)).columns, 100), 300)
    check_w = min(max(len("CHECK"), *(len(c.check) for c in report.checks)), 36)
    status_w = len("STATUS")
    rest = max(60, width - check_w - status_w - 6)
    detail_w = rest // 2
    fix_w = rest - detail_w

    def wrap(text: str, cell: int) -> list[str]:
        # Paths and commands stay whole so they can be copied, even if one overflows its column.
        return textwrap.wrap(text, cell, break_on_hyphens=False, break_long_words=False) or [""]

    lines = [
        f"{'CHECK':<{check_w}}  {'STATUS':<{status_w}}  {'DETAIL':<{detail_w}}  FIX",
        f"{'-' * check_w}  {'-' * status_w}  {'-' * detail_w}  {'-' * min(fix_w, 40)}",
    ]
    for c in report.checks:
        # A row without a fix lends the FIX column to its detail.
        detail = wrap(c.detail, detail_w if c.fix else detail_w + 2 + fix_w)
        cells = [wrap(c.check, check_w), [c.status], detail, wrap(c.fix, fix_w)]
        for i in range(max(len(cell) for cell in cells)):
            part = [cell[i] if i < len(cell) else "" for cell in cells]
            lines.append(f"{part[0]:<{check_w}}  {part[1]:<{status_w}}  {part[2]:<{detail_w}}  {part[3]}".rstrip())
    counts = ", ".join(f"{report.count(s)} {s}" for s in ("ok", "warn", "FAIL", "skip"))
    verdict = "some checks FAILED" if report.exit_code else "no failures"
    lines += ["", f"doctor: {counts}: {verdict} (exit {report.exit_code})"]
    return "\n".join(lines)


def policy_document(scope: Literal["full", "read-only"] = "full") -> str:
    """The least-privilege RAM policy for the tools (or only for --read-only), as JSON to paste into RAM."""
    accesses = ACCESS_ORDER if scope == "full" else READ_ONLY_ACCESS
    return json.dumps(ram_policy(accesses), indent=2)


def run_doctor(
    settings: Settings, credentials: StaticCredentials | None, *, output_format: OutputFormat = "table"
) -> int:
    """Print the checks to stdout; 1 if any FAILed, else 0."""
    report = diagnose(settings, credentials)
    if output_format == "json":
        print(report.model_dump_json(indent=2))
    else:
        print(render_table(report))
    return report.exit_code


__all__ = ["DoctorCheck", "DoctorReport", "diagnose", "policy_document", "render_table", "run_doctor"]
