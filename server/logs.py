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
