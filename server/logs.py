"""Logging to stderr only: in stdio mode stdout carries the protocol and nothing else."""

from __future__ import annotations

import logging
import sys


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The embedded sandbox runs on uvicorn; its lifecycle lines would read as if MCP were served over HTTP.
    logging.getLogger("uvicorn.error").setLevel(max(logging.WARNING, root.level))
    # Libraries' chatter, shown at DEBUG only: Alembic's migration lines and httpx's line per request (the sandbox's
    # kube calls).
    debugging = root.level <= logging.DEBUG
    for name in ("alembic", "httpx"):
        logging.getLogger(name).setLevel(logging.NOTSET if debugging else logging.WARNING)
    # The credentials SDK logs a traceback for each provider of its default chain that fails, which the server
    # reports in its own words (doctor's credentials row, a tool's error); its warnings (a refresh that failed, so
    # old keys are in use) stay.
    credentials = logging.getLogger("credentials")
    credentials.filters[:] = [] if debugging else [_without_tracebacks]


def _without_tracebacks(record: logging.LogRecord) -> bool:
    return record.exc_info is None
