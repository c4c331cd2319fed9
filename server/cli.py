"""`ack-compute-mcp serve | demo | doctor | audit`. Credentials never come from the command line."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ack_compute.cloud.config import StaticCredentials
from ack_compute.server.logs import configure
from ack_compute.server.settings import READ_ONLY_TOOLS, SANDBOX_HANDS_ON_SCALE, Settings, unknown_variables

if TYPE_CHECKING:
    from mcp.server import MCPServer

    from ack_compute.server.access import HttpAccess

log = logging.getLogger("ack_compute.server")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="default region (else ACK_COMPUTE_REGION, ALIBABA_CLOUD_REGION, cn-hangzhou)")
    parser.add_argument("--state-dir", type=Path, help="ledger and quote secret directory")
    parser.add_argument("--quote-ttl", dest="quote_ttl_seconds", type=int, help="quote validity in seconds")
    parser.add_argument("--max-hourly", type=Decimal, help="cap on the hourly cost of everything live, all callers")
    parser.add_argument("--max-hourly-per-caller", type=Decimal, help="cap on the hourly cost live for one caller")
    parser.add_argument("--max-per-quote", type=Decimal, help="budget cap per quote, in the budget currency")
    parser.add_argument("--daily-budget", type=Decimal, help="default spend budget per caller per UTC day")
    parser.add_argument("--monthly-budget", type=Decimal, help="default spend budget per caller per UTC month")
    parser.add_argument("--price-drift-tolerance", type=Decimal, help="allowed price rise at redemption (0.05 = 5%%)")
    parser.add_argument("--confirmation", choices=["token", "human"], help="policy when the client cannot ask")
    parser.add_argument("--site", choices=["china", "international"], help="account site (currency)")
    parser.add_argument("--rate-table", type=Path, help="JSON rate table replacing the built-in one")
    parser.add_argument("--sandbox", action="store_true", default=None, help="use the embedded sandbox cloud")
    parser.add_argument("--time-scale", dest="sandbox_time_scale", type=float, help="sandbox clock speed-up")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--lease-grace", dest="lease_grace_seconds", type=float, help="seconds past a lease's end")
    parser.add_argument("--lease-policy", choices=["delete", "warn", "off"], help="what happens at a lease's end")


def _settings(args: argparse.Namespace) -> Settings:
    keys = Settings.model_fields.keys()
    overrides: dict[str, Any] = {k: v for k, v in vars(args).items() if k in keys and v is not None}
    return Settings(**overrides)


@contextlib.contextmanager
def _cloud(settings: Settings) -> Iterator[tuple[Settings, StaticCredentials | None]]:
    """With sandbox on, start the embedded cloud and point everything at it; else pass through."""
    if not settings.sandbox:
        yield settings, None
        return
    from ack_compute.sandbox import SandboxCloud  # the CLI is the one place product code starts the sandbox

    # Tried by hand, a realistic clock makes a person wait minutes for a cluster: unless --time-scale says
    # otherwise, the sandbox runs fast (and says so); --time-scale 1 is the realistic clock.
    scale = settings.sandbox_time_scale if "sandbox_time_scale" in settings.model_fields_set else SANDBOX_HANDS_ON_SCALE
    with contextlib.ExitStack() as stack:
        cloud = stack.enter_context(SandboxCloud(time_scale=scale, run_containers=settings.sandbox_run_containers))
        update: dict[str, Any] = {"endpoint": cloud.endpoint, "protocol": "http"}
        if "state_dir" not in settings.model_fields_set:
            # A sandbox cloud lives as long as this process; so, unless the operator names a state dir, does its
            # ledger. One they name is kept across restarts, and the ledger's cloud mark (Ledger.belong_to) keeps
            # it from ever being a real server's too.
            update["state_dir"] = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ack-compute-sbx-")))
        log.info("sandbox cloud at %s (no account, no network)", cloud.endpoint)
        if settings.site != "china":
            log.warning(
                "the sandbox's DescribePrice lists the China site's ECS prices (CNY): on the %s site, cluster and "
                "node pool quotes come in CNY and ACS quotes in USD (the rate table), so with caps or budgets in %s "
                "the quotes in the other currency are refused",
                settings.site,
                settings.budget_currency,
            )
        if scale != 1:
            log.warning(
                "sandbox clock runs %gx fast (a cluster in seconds); --time-scale 1 for the realistic clock", scale
            )
        credentials = StaticCredentials(access_key_id=cloud.access_key_id, access_key_secret=cloud.access_key_secret)
        yield settings.model_copy(update=update), credentials


def serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure(settings.log_level)
    for name in unknown_variables(os.environ):
        log.warning("%s is not a setting and is ignored (settings: README, Settings)", name)
    from ack_compute.server.access import AccessConfigError, http_access
    from ack_compute.server.app import build_server
    from ack_compute.server.runtime import Runtime
    from ack_compute.tools.errors import CloudMismatch, SecretMismatch

    http = args.http or args.transport == "http"
    access = None
    if http:
        try:  # before anything starts: an unsafe setup never opens a socket
            access = http_access(settings, args.host, args.port)
        except AccessConfigError as exc:
            print(f"ack-compute-mcp: not serving over HTTP: {exc}.", file=sys.stderr)
            return 2
    if settings.database_url is not None and settings.quote_secret is None:
        # Each replica would generate its own: quote tokens and the person's answers from one would not verify on
        # another, and which replica a request reaches would decide whether it pays.
        print(
            "ack-compute-mcp: not serving: ACK_COMPUTE_DATABASE_URL is set but ACK_COMPUTE_QUOTE_SECRET is not. "
            "Replicas sharing a ledger must share the quote secret: set the same 32+ characters on every replica "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))').",
            file=sys.stderr,
        )
        return 2
    with _cloud(settings) as (settings, credentials):
        try:
            runtime = Runtime.build(settings, credentials)
        except CloudMismatch as exc:
            print(f"ack-compute-mcp: not serving: {exc.text}", file=sys.stderr)
            return 2
        if settings.database_url is not None:
            try:
                runtime.quotes.agree_on_secret(rotate=settings.quote_secret_rotate)
            except SecretMismatch as exc:
                print(f"ack-compute-mcp: not serving: {exc.text}", file=sys.stderr)
                return 2
        if settings.read_only and (waiting := runtime.operations.orphaned()):
            log.warning(
                "read-only: %d unfinished operation(s) wait for a full server (resuming them could create or "
                "delete): %s; start the server without --read-only on this state dir to continue them",
                len(waiting),
                ", ".join(waiting),
            )
        reaper = background = None
        if settings.read_only:
            log.info("lease reaper off: read-only (leases that end are left to a full server on this state dir)")
        else:
            # Once-only work runs on the replica holding the `background` singleton; its first beat is now, so what
            # a previous server left unfinished is resumed on start (by this replica or the one already leading).
            background = runtime.background()
            resumed = background.start()
            log.info(
                "replica %s; %s; operations held %g s, renewed every %g s",
                runtime.operations.replica.label(),
                "leading once-only work" if background.leader.held else "another replica leads once-only work",
                settings.operation_lease_seconds,
                settings.operation_heartbeat_seconds,
            )
            if resumed:
                log.info("resumed %d unfinished operation(s): %s", len(resumed), ", ".join(resumed))
            reaper = runtime.reaper(background.leader)
            reaper.start()  # its first look is now: leases that ended while no server ran are handled at once
            log.info(
                "lease reaper: policy %s, grace %g s, every %g s",
                settings.lease_policy,
                settings.lease_grace_seconds,
                settings.lease_check_seconds,
            )
        server = build_server(runtime, access)
        try:
            _run(server, settings, access, args.host, args.port)
        finally:
            if reaper is not None:
                reaper.stop()
            if background is not None:
                background.stop()
            if pending := runtime.operations.release_all():
                log.warning(
                    "stopping with %d operation(s) in flight (%s): the ledger keeps them and another replica or the "
                    "next start resumes them; cleanup finds anything they created",
                    len(pending),
                    ", ".join(pending),
                )
    return 0


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _run(server: MCPServer, settings: Settings, access: HttpAccess | None, host: str, port: int) -> None:
    if access is None:
        server.run("stdio")
        return
    import uvicorn

    from ack_compute.server.http_sessions import UnknownSessionNotice

    # Sessions (2025-protocol clients only) stay in this process; a request for one it does not know is told why.
    # Without them (`stateless_http`) the SDK serves each such request alone and cannot push a question.
    served = server.streamable_http_app(
        transport_security=access.security, host=host, stateless_http=not settings.http_sessions
    )
    app = UnknownSessionNotice(served)
    log.info(
        "serving MCP over streamable HTTP at http://%s:%d/mcp (health: /healthz); %s%s",
        host,
        port,
        access.describe(),
        "; read-only" if settings.read_only else "",
    )
    if not settings.http_sessions:
        log.info(
            "no sessions for 2025-protocol clients: any replica answers them; they cannot be asked the cost question"
        )
    # uvicorn shuts down gracefully on SIGTERM (a service manager, a container stop), then re-raises the signal;
    # turned into an exit, it unwinds through the caller, which still says what is in flight. (stdio keeps the
    # default: its normal end is the client closing stdin.)
    previous = signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(), access_log=False)
    finally:
        signal.signal(signal.SIGTERM, previous)


def demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure(settings.log_level if args.log_level else "WARNING")
    from ack_compute.server.demo import run_demo

    return run_demo(settings)


def doctor(args: argparse.Namespace) -> int:
    """Check that credentials, endpoints, permissions and the state dir work, without creating anything."""
    from ack_compute.server.doctor import policy_document, run_doctor

    if args.print_policy:
        print(policy_document(args.print_policy))
        return 0
    settings = _settings(args)
    configure(settings.log_level if args.log_level else "WARNING")
    with _cloud(settings) as (settings, credentials):
        return run_doctor(settings, credentials, output_format=args.format)


def audit(args: argparse.Namespace) -> int:
    """Print the receipts as JSON lines on stdout, oldest first; nothing secret, nothing changed in the ledger."""
    import json

    from ack_compute.tools.audit import BadSince, export, parse_since
    from ack_compute.tools.ledger import LEDGER_FILE, Ledger

    try:
        since = parse_since(args.since) if args.since else 0.0
    except BadSince as exc:
        print(f"ack-compute-mcp audit: {exc}.", file=sys.stderr)
        return 2
    settings = Settings()
    target = settings.ledger_target() if args.state_dir is None else args.state_dir / LEDGER_FILE
    if isinstance(target, Path) and not target.is_file():
        path = target
        print(
            f"ack-compute-mcp audit: no ledger at {path}: pass the --state-dir the server uses "
            "(its ACK_COMPUTE_STATE_DIR).",
            file=sys.stderr,
        )
        return 2
    for line in export(Ledger(target), since):
        print(json.dumps(line, sort_keys=True, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ack-compute-mcp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    _add_common(p_serve)
    p_serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    p_serve.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp (same as --transport http)")
    p_serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address (loopback by default)")
    p_serve.add_argument("--port", type=int, default=8765)
    p_serve.add_argument(
        "--read-only",
        action="store_true",
        default=None,
        help=f"offer only {', '.join(READ_ONLY_TOOLS)}, the docs and the ledger",
    )
    p_serve.add_argument(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        help="Host header to accept over HTTP (repeatable, or comma-separated)",
    )
    p_serve.add_argument(
        "--allowed-origin",
        dest="allowed_origins",
        action="append",
        help="browser Origin to accept (repeatable, or comma-separated)",
    )
    p_serve.add_argument("--tokens-file", dest="http_tokens_file", type=Path, help="bearer tokens, one per caller")
    p_serve.add_argument("--oauth-issuer-url", help="OAuth authorization server issuing the tokens")
    p_serve.add_argument("--oauth-introspection-url", help="its RFC 7662 introspection endpoint")
    p_serve.add_argument("--oauth-resource-url", help="this server's public /mcp URL (the tokens' audience)")
    p_serve.set_defaults(func=serve)
    p_demo = sub.add_parser("demo", help="run every flow on the embedded sandbox through a real MCP client")
    _add_common(p_demo)
    p_demo.set_defaults(func=demo)
    p_doctor = sub.add_parser(
        "doctor", help="check credentials, region, endpoints, RAM permissions, kubeconfig, state dir, quote secret"
    )
    _add_common(p_doctor)
    p_doctor.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    p_doctor.add_argument(
        "--print-policy",
        nargs="?",
        const="full",
        choices=["full", "read-only"],
        help="print the least-privilege RAM policy for the tools (or for --read-only) and exit",
    )
    p_doctor.set_defaults(func=doctor)
    p_audit = sub.add_parser("audit", help="print the receipts (consents, purchases, lease ends) as JSON lines")
    p_audit.add_argument("--state-dir", type=Path, help="the server's state dir (else ACK_COMPUTE_STATE_DIR)")
    p_audit.add_argument("--since", help="only receipts from then on: an ISO 8601 time, or a duration like 24h, 7d")
    p_audit.set_defaults(func=audit)
    args = parser.parse_args(argv)
    from ack_compute.tools.errors import BadSettingsFile
    from ack_compute.tools.ledger import LedgerError

    try:
        return int(args.func(args))
    except LedgerError as exc:  # an unreachable or unknown database: say so in one line, never with its password
        print(f"ack-compute-mcp: {exc}.", file=sys.stderr)
        return 2
    except BadSettingsFile as exc:
        print(f"ack-compute-mcp: {exc.text}", file=sys.stderr)
        return 2
    except ValidationError as exc:  # a bad setting: say which, never echo its value (it may be a secret)
        from ack_compute.server.errors import describe_validation
        from ack_compute.server.settings import environment_name

        # Named as the operator wrote it: the flag given on this command line, else the environment variable.
        given = {
            action.dest: action.option_strings[-1]
            for action in sub.choices[args.command]._actions
            if action.option_strings and getattr(args, action.dest, None) is not None
        }
        named = (
            (lambda field: given.get(field) or environment_name(field, os.environ)) if exc.title == "Settings" else None
        )
        described = describe_validation(exc, named)
        print(f"ack-compute-mcp: invalid setting: {described}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
