"""`ack-compute-mcp serve | demo | doctor`. Credentials never come from the command line."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from ack_compute.cloud.config import StaticCredentials
from ack_compute.server.logs import configure
from ack_compute.server.settings import Settings

log = logging.getLogger("ack_compute.server")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="default region (else ACK_COMPUTE_REGION, ALIBABA_CLOUD_REGION, cn-hangzhou)")
    parser.add_argument("--state-dir", type=Path, help="ledger and quote secret directory")
    parser.add_argument("--quote-ttl", dest="quote_ttl_seconds", type=int, help="quote validity in seconds")
    parser.add_argument("--max-hourly", type=Decimal, help="budget cap per hour, in the budget currency")
    parser.add_argument("--max-per-quote", type=Decimal, help="budget cap per quote, in the budget currency")
    parser.add_argument("--price-drift-tolerance", type=Decimal, help="allowed price rise at redemption (0.05 = 5%%)")
    parser.add_argument("--confirmation", choices=["token", "human"], help="policy when the client cannot ask")
    parser.add_argument("--site", choices=["china", "international"], help="account site (currency)")
    parser.add_argument("--rate-table", type=Path, help="JSON rate table replacing the built-in one")
    parser.add_argument("--sandbox", action="store_true", default=None, help="use the embedded sandbox cloud")
    parser.add_argument("--time-scale", dest="sandbox_time_scale", type=float, help="sandbox clock speed-up")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


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

    with contextlib.ExitStack() as stack:
        cloud = stack.enter_context(
            SandboxCloud(time_scale=settings.sandbox_time_scale, run_containers=settings.sandbox_run_containers)
        )
        update: dict[str, Any] = {"endpoint": cloud.endpoint, "protocol": "http"}
        if "state_dir" not in settings.model_fields_set:
            # A sandbox cloud lives as long as this process; its ledger must not mix with a real one.
            update["state_dir"] = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ack-compute-sbx-")))
        log.info("sandbox cloud at %s (no account, no network)", cloud.endpoint)
        credentials = StaticCredentials(access_key_id=cloud.access_key_id, access_key_secret=cloud.access_key_secret)
        yield settings.model_copy(update=update), credentials


def serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure(settings.log_level)
    from ack_compute.server.app import build_server
    from ack_compute.server.runtime import Runtime

    with _cloud(settings) as (settings, credentials):
        runtime = Runtime.build(settings, credentials)
        resumed = (
            runtime.clusters.resume_unfinished()
            + runtime.jobs.resume_unfinished()
            + runtime.cleaner.resume_unfinished()
        )
        if resumed:
            log.info("resumed %d unfinished operation(s): %s", len(resumed), ", ".join(resumed))
        server = build_server(runtime)
        if args.transport == "stdio":
            server.run("stdio")
        else:
            log.info("serving MCP over streamable HTTP at http://%s:%d/mcp", args.host, args.port)
            server.run("streamable-http", host=args.host, port=args.port)
    return 0


def demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure(settings.log_level if args.log_level else "WARNING")
    from ack_compute.server.demo import run_demo

    return run_demo(settings)


def doctor(args: argparse.Namespace) -> int:
    """Check that credentials, endpoints, permissions and the state dir work, without creating anything."""
    settings = _settings(args)
    configure(settings.log_level if args.log_level else "WARNING")
    from ack_compute.server.doctor import run_doctor

    with _cloud(settings) as (settings, credentials):
        return run_doctor(settings, credentials)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ack-compute-mcp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    _add_common(p_serve)
    p_serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    p_serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address (loopback by default)")
    p_serve.add_argument("--port", type=int, default=8765)
    p_serve.set_defaults(func=serve)
    p_demo = sub.add_parser("demo", help="run every flow on the embedded sandbox through a real MCP client")
    _add_common(p_demo)
    p_demo.set_defaults(func=demo)
    p_doctor = sub.add_parser("doctor", help="check credentials and endpoints")
    _add_common(p_doctor)
    p_doctor.set_defaults(func=doctor)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
