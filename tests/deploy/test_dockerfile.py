"""The Dockerfile as a reviewer reads it: non-root, no secrets in any layer, our console script, a build context
that holds the package and nothing secret, a CMD the CLI accepts, and a HEALTHCHECK that really probes /healthz.

Docker is not needed: the file is parsed with dockerfile-parse, the CMD goes through the product's own CLI, and
the HEALTHCHECK's command runs against a real `serve --http`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

from ack_compute.server.cli import main
from tests.server.conftest import serving_http

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSW|CREDENTIAL|DATABASE_URL|DSN|PRIVATE", re.IGNORECASE)
ACCESS_KEY_ID = re.compile(r"\bLTAI[0-9A-Za-z]{12,}")  # the shape of an Alibaba Cloud AccessKey ID


def stages() -> list[list[dict[str, Any]]]:
    """The instructions of each build stage, in order (comments dropped)."""
    out: list[list[dict[str, Any]]] = []
    for item in DockerfileParser(path=str(REPO / "Dockerfile")).structure:
        if item["instruction"] == "FROM":
            out.append([])
        if item["instruction"] != "COMMENT":
            assert out, "an instruction before the first FROM"
            out[-1].append(item)
    return out


def values(stage: list[dict[str, Any]], instruction: str) -> list[str]:
    return [item["value"] for item in stage if item["instruction"] == instruction]


def exec_form(value: str) -> list[str]:
    """CMD/ENTRYPOINT/HEALTHCHECK CMD must be exec form (a JSON array): no shell between the signal and Python."""
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(v, str) for v in parsed), value
    return parsed


def env_of(stage: list[dict[str, Any]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in values(stage, "ENV"):
        for token in shlex.split(value):
            name, _, setting = token.partition("=")
            env[name] = setting
    return env


def final() -> list[dict[str, Any]]:
    return stages()[-1]


def test_two_stages_on_the_python_the_package_requires() -> None:
    build, runtime = stages()
    assert values(build, "FROM") == ["python:3.11-slim AS build"]
    assert values(runtime, "FROM") == ["python:3.11-slim"]
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    # The runtime holds the built venv only: no source tree, no build context.
    assert values(runtime, "COPY") == ["--from=build /opt/venv /opt/venv"]
    installs = " ".join(values(build, "RUN"))
    assert "pip install '.[postgres]'" in installs, "the image must carry the PostgreSQL driver for a team ledger"
    assert "postgres" in PYPROJECT["project"]["optional-dependencies"]


def test_runs_as_a_fixed_non_root_uid() -> None:
    users = values(final(), "USER")
    assert users, "the runtime stage must set USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and gid.isdigit(), f"USER {users[-1]}: numeric, so runAsNonRoot can verify it"
    assert int(uid) != 0 and int(gid) != 0
    setup = " ".join(values(final(), "RUN"))
    assert f"--uid {uid}" in setup and f"--gid {gid}" in setup


def test_state_dir_lives_on_a_volume_the_user_owns() -> None:
    env = env_of(final())
    (volume,) = exec_form(values(final(), "VOLUME")[-1])
    assert Path(env["ACK_COMPUTE_STATE_DIR"]).parent == Path(volume), "the server creates its 0700 state dir inside"
    uid = values(final(), "USER")[-1].split(":")[0]
    assert f"install -d -o {uid} -g" in " ".join(values(final(), "RUN")) and volume in " ".join(values(final(), "RUN"))
    assert env["HOME"] == volume and env["PYTHONDONTWRITEBYTECODE"] == "1"  # a read-only root filesystem works


def test_no_secret_in_any_layer() -> None:
    for stage in stages():
        assert not values(stage, "ARG"), "no build arguments: they end up in the image history"
        for name, setting in env_of(stage).items():
            assert not SECRET_NAME.search(name), f"ENV {name} looks like a secret; pass it at run time"
            assert not ACCESS_KEY_ID.search(setting)
        for item in stage:
            assert not ACCESS_KEY_ID.search(item["value"]), item["content"]
            assert "://" not in item["value"] or "@" not in item["value"].split("://", 1)[1], "credentials in a URL"


def test_entrypoint_is_the_console_script_and_cmd_serves_http_on_the_exposed_port() -> None:
    assert exec_form(values(final(), "ENTRYPOINT")[-1]) == ["ack-compute-mcp"]
    assert "ack-compute-mcp" in PYPROJECT["project"]["scripts"]
    assert "/opt/venv/bin/ack-compute-mcp --help" in " ".join(values(stages()[0], "RUN")), "smoke-run at build time"
    cmd = exec_form(values(final(), "CMD")[-1])
    assert cmd[:2] == ["serve", "--http"]
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    port = cmd[cmd.index("--port") + 1]
    assert values(final(), "EXPOSE") == [port]
    healthcheck = values(final(), "HEALTHCHECK")[-1]
    probe = exec_form(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert f"http://127.0.0.1:{port}/healthz" in probe[-1]


@pytest.mark.usefixtures("restore_logging")
def test_the_cli_takes_cmd_and_refuses_it_without_authentication(capsys: pytest.CaptureFixture[str]) -> None:
    """The image's default command, unconfigured, must not serve: the CLI says what to set (nothing opened)."""
    assert main(exec_form(values(final(), "CMD")[-1])) == 2
    err = capsys.readouterr().err
    assert "refusing to serve on 0.0.0.0 without authentication" in err
    assert "ACK_COMPUTE_HTTP_TOKEN" in err


def test_healthcheck_command_passes_on_a_live_server_and_fails_without_one(tmp_path: Path) -> None:
    healthcheck = values(final(), "HEALTHCHECK")[-1]
    interpreter, flag, code = exec_form(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert (interpreter, flag) == ("python", "-c")
    env = dict(os.environ)
    with serving_http(["--sandbox", "--state-dir", str(tmp_path / "state")], env, tmp_path / "serve.log") as server:
        port = server.base.rsplit(":", 1)[1]
        probe = [sys.executable, "-c", code.replace(":8765/", f":{port}/")]
        assert subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
    assert subprocess.run(probe, capture_output=True, timeout=20).returncode != 0


# --- the build context (.dockerignore) -------------------------------------------------------------------------


def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Go's filepath.Match plus `**` (moby/patternmatcher)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignored(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent directories decides."""
    lines = (REPO / ".dockerignore").read_text().splitlines()
    rules = [(line.startswith("!"), _pattern(line.lstrip("!").strip().rstrip("/"))) for line in lines]
    parts = path.split("/")
    prefixes = ["/".join(parts[: k + 1]) for k in range(len(parts))]
    ignored = False
    for negated, pattern in [r for r, line in zip(rules, lines, strict=True) if line.strip() and line[0] != "#"]:
        if any(pattern.fullmatch(p) for p in prefixes):
            ignored = not negated
    return ignored


def copy_sources() -> list[str]:
    sources: list[str] = []
    for stage in stages():
        for value in values(stage, "COPY"):
            words = [w for w in shlex.split(value) if not w.startswith("--")]
            if "--from=" not in value:
                sources += [w.rstrip("/") for w in words[:-1]]
    return sources


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    sources = copy_sources()
    assert sources
    for source in sources:
        path = REPO / source
        assert path.exists(), f"COPY {source}: no such file in the repository"
        files = (
            [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts] if path.is_dir() else [path]
        )
        assert files, source
        for file in files:
            assert not dockerignored(file.relative_to(REPO).as_posix()), f"{file} is excluded by .dockerignore"


def test_the_build_stage_copies_everything_the_package_is_built_from() -> None:
    needed = {
        "pyproject.toml",
        PYPROJECT["project"]["readme"],
        *PYPROJECT["tool"]["setuptools"]["package-dir"].values(),
    }
    assert needed <= set(copy_sources()), f"missing from COPY: {sorted(needed - set(copy_sources()))}"
    roots = PYPROJECT["tool"]["setuptools"]["package-dir"]
    for package, patterns in PYPROJECT["tool"]["setuptools"]["package-data"].items():
        # Package data is shipped from inside the folders copied above: its package lies under a copied root, and
        # no pattern reaches out of it.
        assert any(package == root or package.startswith(root + ".") for root in roots), package
        assert all(".." not in pattern and not pattern.startswith("/") for pattern in patterns), patterns


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        "tokens.json",
        "deploy/tokens.json",
        "server/.env",
        "id_rsa.key",
        "certs/server.pem",
        ".git/config",
        ".venv/bin/python",
        "tests/conftest.py",
        "bench/run.py",
        "state/ledger.sqlite3",
        "server/__pycache__/cli.pyc",
        "kubeconfig",
        "deploy/kubernetes/deployment.yaml",
    ],
)
def test_what_must_stay_out_of_the_build_context_does(path: str) -> None:
    assert dockerignored(path), f"{path} would be sent to the Docker daemon"
