"""The layering DESIGN.md promises, checked on the source: arrows point down, secrets stay out."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ["server", "tools", "cloud"]
SDK_PREFIXES = ("alibabacloud_", "Tea", "darabonba", "kubernetes")


def imports(folder: str) -> list[tuple[Path, str]]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found += [(path, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.append((path, node.module))
    return found


def offenders(folders: list[str], bad: tuple[str, ...], allowed_files: tuple[str, ...] = ()) -> list[str]:
    return [
        f"{p.relative_to(ROOT)} imports {m}"
        for folder in folders
        for p, m in imports(folder)
        if m.startswith(bad) and p.name not in allowed_files
    ]


def test_only_the_cli_and_demo_start_the_sandbox() -> None:
    assert offenders(PRODUCT, ("ack_compute.sandbox",), allowed_files=("cli.py", "demo.py")) == []


def test_sdk_types_stay_in_cloud() -> None:
    assert offenders(["server", "tools"], SDK_PREFIXES) == []


def test_mcp_types_stay_in_server() -> None:
    assert offenders(["tools", "cloud", "sandbox"], ("mcp",)) == []


def test_arrows_point_down() -> None:
    assert offenders(["tools", "cloud"], ("ack_compute.server",)) == []
    assert offenders(["cloud"], ("ack_compute.tools",)) == []


def test_sandbox_speaks_only_http() -> None:
    assert offenders(["sandbox"], (*SDK_PREFIXES, "ack_compute.server", "ack_compute.tools", "ack_compute.cloud")) == []


def test_ruff_clean() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed in this environment")
    result = subprocess.run([str(ruff), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
