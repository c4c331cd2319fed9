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
    # Libraries' chatter, shown at DEBUG only: Alembic's migration lines, httpx's line per request (the sandbox's
    # kube calls), and the credentials SDK's tracebacks for each provider its default chain tries, which the server
    # already reports in its own words (doctor's credentials row, a tool's error).
    debugging = root.level <= logging.DEBUG
    for name, quiet in (("alembic", logging.WARNING), ("httpx", logging.WARNING), ("credentials", logging.CRITICAL)):
        logging.getLogger(name).setLevel(logging.NOTSET if debugging else quiet)
