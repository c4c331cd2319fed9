"""The layering DESIGN.md promises, checked on the source: arrows point down, secrets stay out."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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


# Pure OS plumbing (TLS keys loaded from memory files) with no cloud or API knowledge: shared, not duplicated.
SANDBOX_MAY_IMPORT = ("ack_compute.cloud.memory_tls",)


def test_sandbox_speaks_only_http() -> None:
    product = (*SDK_PREFIXES, "ack_compute.server", "ack_compute.tools", "ack_compute.cloud")
    found = [p for p in offenders(["sandbox"], product) if not p.endswith(SANDBOX_MAY_IMPORT)]
    assert found == []


SANDBOX_PRODUCTS = ("cs", "ecs", "eci", "vpc", "bss")
# What speaks HTTP in the sandbox: the web stack, and the core modules that read requests or build the app.
SANDBOX_WIRE = (
    "starlette",
    "uvicorn",
    "httpx",
    "ack_compute.sandbox.app",
    "ack_compute.sandbox.router",
    "ack_compute.sandbox.params",
    "ack_compute.sandbox.signature",
    "ack_compute.sandbox.loopback",
)


def qualified_imports(folder: str, *, top_level_only: bool = False) -> list[tuple[Path, str]]:
    """Every import as a dotted name, `from a import b` as `a.b`, so package-level imports are seen too."""
    found = []
    paths = (ROOT / folder).glob("*.py") if top_level_only else (ROOT / folder).rglob("*.py")
    for path in sorted(paths):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found += [(path, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                found += [(path, f"{node.module}.{a.name}") for a in node.names]
    return found


def reaches(name: str, targets: tuple[str, ...]) -> bool:
    return any(name == target or name.startswith(f"{target}.") for target in targets)


def test_sandbox_models_know_no_http() -> None:
    """moto's split: a product's models hold state and rules; requests, routes and wire shapes live elsewhere."""
    wire = (
        *SANDBOX_WIRE,
        *(f"ack_compute.sandbox.{p}.{side}" for p in SANDBOX_PRODUCTS for side in ("responses", "urls")),
    )
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for product in SANDBOX_PRODUCTS
        for path, name in qualified_imports(f"sandbox/{product}/models")
        if reaches(name, wire)
    ]
    assert found == []


def test_sandbox_products_keep_to_their_own_package() -> None:
    """A product's models, responses and routes use the shared core, never another product's package."""
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for product in SANDBOX_PRODUCTS
        for path, name in qualified_imports(f"sandbox/{product}")
        if reaches(name, tuple(f"ack_compute.sandbox.{other}" for other in SANDBOX_PRODUCTS if other != product))
    ]
    assert found == []


def test_sandbox_core_knows_products_only_where_it_wires_them() -> None:
    """The core is shared infrastructure: only app.py (the route lists) and planting.py (seeding worlds with
    CS's own rules) name a product package."""
    products = tuple(f"ack_compute.sandbox.{p}" for p in SANDBOX_PRODUCTS)
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path, name in qualified_imports("sandbox", top_level_only=True)
        if reaches(name, products) and path.name not in ("app.py", "planting.py")
    ]
    assert found == []


def test_ruff_clean() -> None:
    ruff = Path(sys.executable).with_name("ruff")  # in the test extra, so always there
    result = subprocess.run([str(ruff), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
