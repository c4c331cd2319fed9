"""What the installed Alibaba SDKs say about their request and response models, read from their source as text.

Each generated model (`alibabacloud_cs20151215/models/_create_cluster_request.py`, ...) lists its fields in
`__init__` with a doc comment, and maps wire keys in `from_map`. Alibaba marks a field it retired with
`**[Deprecated]**` at the start of that comment, usually followed by its replacement ("Use the `zone_ids`
parameter instead."). Reading the installed files (not a copied list) means an SDK upgrade updates every rule
built on them. The sandbox only reads the files: it never imports an SDK (tests/test_architecture.py).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DEPRECATED_MARK = "**[Deprecated]**"
CS_PACKAGE = "alibabacloud_cs20151215"

_CLASS = re.compile(r"^class (\w+)\(DaraModel\):", re.M)
_PARAM = re.compile(r"^\s{8}(\w+): (.+?) = None,$")
_ASSIGN = re.compile(r"^\s{8}self\.(\w+) = \1$")
_KEY = re.compile(r"m\.get\('([^']+)'\) is not None")
_ATTR_USE = re.compile(r"self\.(\w+)(?: = |\.append)")


@dataclass(frozen=True)
class Field:
    """One field of a model: its wire key, Python name, nested model (if any) and the SDK's deprecation note."""

    key: str
    attr: str
    model: str | None
    is_list: bool
    deprecated: bool
    note: str


def models_dir(package: str) -> Path:
    """The installed package's models folder, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"{package} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@cache
def models(package: str) -> dict[str, dict[str, Field]]:
    """Every model class of the package: wire key -> Field."""
    found: dict[str, dict[str, Field]] = {}
    for path in sorted(models_dir(package).glob("_*.py")):
        text = path.read_text(encoding="utf-8")
        starts = [(match.start(), match.group(1)) for match in _CLASS.finditer(text)]
        for index, (start, name) in enumerate(starts):
            end = starts[index + 1][0] if index + 1 < len(starts) else len(text)
            found[name] = _parse_class(text[start:end])
    return found


def _parse_class(block: str) -> dict[str, Field]:
    lines = block.splitlines()
    types: dict[str, str] = {}
    notes: dict[str, list[str]] = {}
    comment: list[str] = []
    in_init = True
    for line in lines:
        if line.startswith("    def ") and "__init__" not in line:
            in_init = False
        if not in_init:
            break
        if match := _PARAM.match(line):
            types[match.group(1)] = match.group(2)
            continue
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("# ").strip())
        elif match := _ASSIGN.match(line):
            notes[match.group(1)] = comment
            comment = []
        elif stripped:
            comment = []
    keys: dict[str, str] = {}
    pending: str | None = None
    from_map = block[block.find("def from_map") :] if "def from_map" in block else ""
    for line in from_map.splitlines():
        if match := _KEY.search(line):
            pending = match.group(1)
        elif pending and (match := _ATTR_USE.search(line)):
            keys[pending] = match.group(1)
            pending = None
    fields: dict[str, Field] = {}
    for key, attr in keys.items():
        type_text = types.get(attr, "")
        nested = re.search(r"main_models\.(\w+)", type_text)
        note = " ".join(line for line in notes.get(attr, []) if line)
        fields[key] = Field(
            key=key,
            attr=attr,
            model=nested.group(1) if nested and not type_text.startswith("Dict[") else None,
            is_list=type_text.startswith("List["),
            deprecated=DEPRECATED_MARK in note,
            note=note,
        )
    return fields


@dataclass(frozen=True)
class Finding:
    """A key of a body, by its path (`nodepools[0].scaling_group.login_password`), and what is wrong with it."""

    path: str
    problem: str  # "deprecated" | "unknown"
    note: str = ""

    def replacement(self) -> str:
        """The SDK's own advice after the mark ("Use the `zone_ids` parameter instead."), or ""."""
        return self.note.replace(DEPRECATED_MARK, "", 1).strip()


def check_body(package: str, model: str, body: Any, path: str = "") -> list[Finding]:
    """Every key of `body` that the model does not define or marks deprecated, recursively."""
    if not isinstance(body, dict):
        return []
    fields = models(package).get(model)
    if fields is None:
        return []
    findings: list[Finding] = []
    for key, value in body.items():
        where = f"{path}.{key}" if path else key
        field = fields.get(key)
        if field is None:
            findings.append(Finding(where, "unknown"))
            continue
        if field.deprecated:
            findings.append(Finding(where, "deprecated", field.note))
        if field.model is None:
            continue
        items = value if field.is_list and isinstance(value, list) else [value]
        for index, item in enumerate(items):
            findings += check_body(package, field.model, item, f"{where}[{index}]" if field.is_list else where)
    return findings


def deprecated_fields(package: str, model: str) -> list[str]:
    """The wire keys the model itself marks deprecated (not nested ones)."""
    return sorted(key for key, field in models(package).get(model, {}).items() if field.deprecated)
