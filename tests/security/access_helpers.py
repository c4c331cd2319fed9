"""Shared by tests/security/test_access_attacks.py: real server processes on an in-process sandbox cloud.

Imported as tests.security.access_helpers (pyproject's pythonpath). It reuses the
launcher of tests/server/conftest.py for `serve --http` and the crash driver of tests/tools/crash_driver.py; what is
here is only what those do not offer: a kubeconfig with production-like contexts, a tokens file, clients, and a
reader for the crash driver's event lines.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import httpx2
import yaml
from mcp import Client, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.helpers.processes import EventProcess

TESTS = Path(__file__).resolve().parents[1]
SERVE = [sys.executable, "-m", "ack_compute.server", "serve"]
CRASH_DRIVER = TESTS / "tools" / "crash_driver.py"


def text_of(result: types.CallToolResult) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


def stdio(env: Mapping[str, str], errlog: TextIO) -> Client:
    """A client that starts `serve` over stdio with exactly this environment (plus the SDK's safe defaults)."""
    return Client(stdio_client(StdioServerParameters(command=SERVE[0], args=SERVE[1:], env=dict(env)), errlog=errlog))


def over_http(url: str, token: str) -> Client:
    headers = {"Authorization": f"Bearer {token}"}
    return Client(streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers, timeout=60)))


@asynccontextmanager
async def connected(client: Client) -> AsyncIterator[Client]:
    async with client:
        yield client


def write_kubeconfig(path: Path, contexts: Mapping[str, dict[str, Any]]) -> Path:
    """One file with a context per name: each value is a single-cluster kubeconfig (as ACK hands out) or a dict
    with its cluster's kubeconfig under "kubeconfig" and a replacement `user` body under "user"."""
    document: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    for name, spec in contexts.items():
        source = spec.get("kubeconfig", spec)
        cluster = source["clusters"][0]["cluster"]
        user = spec.get("user") or source["users"][0]["user"]
        document["clusters"].append({"name": f"{name}-cluster", "cluster": cluster})
        document["users"].append({"name": f"{name}-user", "user": user})
        document["contexts"].append({"name": name, "context": {"cluster": f"{name}-cluster", "user": f"{name}-user"}})
    document["current-context"] = next(iter(contexts))
    path.write_text(yaml.safe_dump(document))
    path.chmod(0o600)
    return path


def exec_plugin_user(marker: Path) -> dict[str, Any]:
    """A `users[].user` that authenticates through an exec credential plugin which, when run, leaves `marker`."""
    credential = json.dumps(
        {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": {"token": "x"}}
    )
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "/bin/sh",
            "args": ["-c", f"touch {marker}; echo '{credential}'"],
            "interactiveMode": "Never",
        }
    }


def write_tokens(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"tokens": entries}))
    path.chmod(0o600)
    return path


class Driver(EventProcess):
    """tests/tools/crash_driver.py as a child process: its JSON event lines, and a SIGKILL."""

    def __init__(self, args: list[str], env: Mapping[str, str], log: Path) -> None:
        super().__init__([sys.executable, str(CRASH_DRIVER), *args], env, log)
