"""What `pip install .` ships: every package and data file the server needs, not only what the source tree has.

The tests run against an editable install, whose finder maps whole folders, so a subpackage missing from
pyproject's explicit package list still imports here and is absent from the wheel users get (the ledger's Alembic
revisions once were: the README's first command, the Docker image and the desktop bundle then failed at start).
"""

from __future__ import annotations

import fnmatch
import os
import site
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
ROOTS: dict[str, str] = SETUPTOOLS["package-dir"]  # import name -> folder


def source_packages() -> dict[str, Path]:
    """Every folder under a mapped root that holds Python code, by its import name."""
    out: dict[str, Path] = {}
    for name, folder in ROOTS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            rel = path.parent.relative_to(REPO / folder)
            out[".".join([name, *rel.parts])] = path.parent
    return out


def test_every_python_folder_is_a_listed_package() -> None:
    missing = sorted(set(source_packages()) - set(SETUPTOOLS["packages"]))
    assert missing == [], f"add to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_every_data_file_of_a_package_is_shipped() -> None:
    """Files beside the code (price tables, docs, Alembic's template) reach the wheel only through package-data."""
    packages = source_packages()
    data: dict[str, list[str]] = SETUPTOOLS["package-data"]
    unshipped = []
    for name, folder in packages.items():
        for path in folder.rglob("*"):
            owner = path.parent
            while owner != folder and owner not in packages.values():
                owner = owner.parent
            if owner != folder or not path.is_file() or path.suffix in (".py", ".pyc"):
                continue  # code, or a file of a subpackage (checked as its own package)
            if not any(fnmatch.fnmatch(str(path.relative_to(folder)), glob) for glob in data.get(name, [])):
                unshipped.append(str(path.relative_to(REPO)))
    assert unshipped == [], f"add to [tool.setuptools.package-data] in pyproject.toml: {unshipped}"


@pytest.mark.slow
def test_the_built_wheel_opens_a_ledger_from_its_own_files(tmp_path: Path) -> None:
    """Build the wheel as pip does, then open a fresh ledger (the schema comes from the shipped revisions) with
    only the wheel's files and the installed dependencies on the path, no editable finder."""
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("ack_compute_mcp-*.whl")
    unpacked = tmp_path / "wheel"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    deps = os.pathsep.join(site.getsitepackages())
    probe = (
        "import ack_compute.tools.ledger as m, sys, pathlib; "
        f"assert pathlib.Path(m.__file__).is_relative_to({str(unpacked)!r}), m.__file__; "
        "from ack_compute.tools.ledger_migrations import head; "
        f"m.Ledger(pathlib.Path({str(tmp_path / 'state' / 'ledger.sqlite3')!r})); print(head())"
    )
    ran = subprocess.run(
        [sys.executable, "-S", "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": f"{unpacked}{os.pathsep}{deps}"},
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    newest = max(p.name.split("_")[0] for p in (REPO / "tools/ledger_migrations/versions").glob("0*.py"))
    assert ran.stdout.strip() == newest, ran.stdout
