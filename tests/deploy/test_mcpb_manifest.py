"""manifest.json, the MCP bundle (.mcpb) for one-click desktop install, checked by the bundle format's own CLI.

`mcpb validate` (npm @anthropic-ai/mcpb, installed outside the repo by scripts/install-mcpb.sh, which .ci/run runs)
checks the manifest against the format's schema; `mcpb pack` builds the bundle, whose contents are checked here.
Without the CLI these tests are skipped, unless ACK_COMPUTE_REQUIRE_MCPB=1 (CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from ack_compute.server.settings import Settings
from tests.helpers.node import node_bin

REPO = Path(__file__).resolve().parents[2]
MANIFEST = json.loads((REPO / "manifest.json").read_text())
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
MCPB = Path(
    os.environ.get("ACK_COMPUTE_MCPB", Path.home() / ".cache/ack-compute-mcp/mcpb-2.1.2/node_modules/.bin/mcpb")
)


@pytest.fixture(scope="module")
def mcpb() -> list[str]:
    node = node_bin()
    if not MCPB.exists() or node is None:
        if os.environ.get("ACK_COMPUTE_REQUIRE_MCPB") == "1":
            pytest.fail(f"mcpb CLI not installed at {MCPB}; run scripts/install-mcpb.sh")
        pytest.skip("mcpb CLI not installed (scripts/install-mcpb.sh)")
    return [str(node / "node"), str(MCPB.resolve())]


def run(mcpb: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*mcpb, *args], capture_output=True, text=True, timeout=120, cwd=REPO)


def test_mcpb_validate_accepts_the_manifest(mcpb: list[str]) -> None:
    result = run(mcpb, "validate", str(REPO / "manifest.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Manifest schema validation passes!" in result.stdout


def test_mcpb_validate_can_refuse(mcpb: list[str], tmp_path: Path) -> None:
    """The validator is not a rubber stamp: a manifest without its author, or with an unknown server type, fails."""
    for broken in ({k: v for k, v in MANIFEST.items() if k != "author"}, {**MANIFEST, "server": {"type": "ruby"}}):
        path = tmp_path / "manifest.json"
        path.write_text(json.dumps(broken))
        result = run(mcpb, "validate", str(path))
        assert result.returncode != 0 and "validation failed" in result.stdout


def test_the_bundle_holds_the_package_and_nothing_else(mcpb: list[str], tmp_path: Path) -> None:
    bundle = tmp_path / "ack-compute-mcp.mcpb"
    result = run(mcpb, "pack", str(REPO), str(bundle))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    names = zipfile.ZipFile(bundle).namelist()
    folders = set(PYPROJECT["tool"]["setuptools"]["package-dir"].values())
    assert {n.split("/")[0] for n in names} == {"manifest.json", "pyproject.toml", "README.md", *folders}
    assert MANIFEST["server"]["entry_point"] in names
    assert "server/cli.py" in names and "tools/data/" in {n.rsplit("/", 1)[0] + "/" for n in names}
    assert not [n for n in names if "__pycache__" in n or n.endswith((".sqlite3", ".pem", ".key", ".pyc"))]


def test_the_desktop_runs_our_console_script_with_settings_the_server_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    server = MANIFEST["server"]
    assert MANIFEST["version"] == PYPROJECT["project"]["version"] and MANIFEST["name"] == PYPROJECT["project"]["name"]
    assert server["type"] == "uv" and (REPO / server["entry_point"]).is_file()
    assert MANIFEST["compatibility"]["runtimes"]["python"] == PYPROJECT["project"]["requires-python"]
    args = server["mcp_config"]["args"]
    assert server["mcp_config"]["command"] == "uv" and args[args.index("${__dirname}") + 1 :] == [
        "ack-compute-mcp",
        "serve",
    ]
    assert "ack-compute-mcp" in PYPROJECT["project"]["scripts"]
    config: dict[str, Any] = MANIFEST["user_config"]
    env = server["mcp_config"]["env"]
    used = {m for value in env.values() for m in re.findall(r"\$\{user_config\.([a-z_]+)\}", value)}
    assert used == set(config), "every option reaches the server, and only declared ones are used"
    for name, value in env.items():
        option = config[re.fullmatch(r"\$\{user_config\.([a-z_]+)\}", value).group(1)]  # type: ignore[union-attr]
        assert option.get("sensitive", False) == ("SECRET" in name or "KEY_ID" in name), name
        # What the host sets from the defaults (an empty string where there is none), as text.
        default = option.get("default", "")
        monkeypatch.setenv(name, str(default).lower() if isinstance(default, bool) else str(default))
    settings = Settings()
    assert settings.max_hourly is not None and settings.max_hourly > 0, "a desktop install starts with a cap"
    assert settings.read_only is False and settings.sandbox is False
