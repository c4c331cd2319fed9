"""metadata.managedFields as the apiserver's field manager writes them for `Update` operations.

The set a manager owns is what its write added or modified, compared with the object before the write
(for a create: the type's zero value). Nodes that the write added carry "." in FieldsV1; list items are keyed
by their merge keys; lists without keys are atomic leaves. Fields the server adds after the field manager
ran (admission, PrepareForCreate) are owned by nobody, as on the real server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Associative lists and their keys (field name -> key fields); "set" lists are keyed by value.
_LIST_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "ports": ("containerPort", "protocol"),
    "env": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "volumes": ("name",),
    "imagePullSecrets": ("name",),
    "conditions": ("type",),
    "addresses": ("type",),
    "taints": ("key", "effect"),
    "ownerReferences": ("uid",),
    "hostAliases": ("ip",),
    "podIPs": ("ip",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
}
_SET_LISTS = {("f:metadata", "f:finalizers")}
# Never owned: identity and bookkeeping the server writes.
_STRIPPED_TOP = {"apiVersion", "kind"}
_STRIPPED_META = {
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "clusterName",
    "generation",
    "managedFields",
    "resourceVersion",
}

Path = tuple[str, ...]


def _key_token(item: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    fields = {key: item[key] for key in keys if key in item}
    return "k:" + json.dumps(fields, separators=(",", ":"), sort_keys=True)


def _walk(value: Any, path: Path, out: dict[Path, Any], field: str) -> None:
    """Every node of a value: maps and keyed list items are interior nodes, the rest are leaves."""
    out[path] = value if not isinstance(value, dict | list) else _INTERIOR
    if isinstance(value, dict):
        for key, item in value.items():
            _walk(item, (*path, "f:" + key), out, key)
    elif isinstance(value, list):
        if field in _LIST_KEYS and all(isinstance(item, dict) for item in value):
            for item in value:
                _walk(item, (*path, _key_token(item, _LIST_KEYS[field])), out, "")
        elif path in _SET_LISTS:
            for item in value:
                out[(*path, "v:" + json.dumps(item, separators=(",", ":")))] = item
        else:
            out[path] = value  # atomic list: a leaf compared as a whole


class _Interior:
    def __repr__(self) -> str:
        return "<interior>"


_INTERIOR = _Interior()


def _nodes(obj: Mapping[str, Any]) -> dict[Path, Any]:
    out: dict[Path, Any] = {}
    for key, value in obj.items():
        if key in _STRIPPED_TOP:
            continue
        if key == "metadata" and isinstance(value, dict):
            for meta_key, meta_value in value.items():
                if meta_key not in _STRIPPED_META:
                    _walk(meta_value, ("f:metadata", "f:" + meta_key), out, meta_key)
            continue
        _walk(value, ("f:" + key,), out, key)
    return out


def compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[set[Path], set[Path], set[Path]]:
    """(added, modified, removed) paths between two objects, as structured-merge-diff compares them."""
    before, after = _nodes(old), _nodes(new)
    added = {path for path in after if path not in before}
    removed = {path for path in before if path not in after}
    modified = {
        path
        for path, value in after.items()
        if path in before and value is not _INTERIOR and (before[path] is _INTERIOR or before[path] != value)
    }
    return added, modified, removed


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in sorted(paths, key=len):
        node = root
        for part in path:
            node = node.setdefault(part, {})
    members = set(paths)

    def mark(node: dict[str, Any], prefix: Path) -> None:
        for part, child in node.items():
            if part == ".":
                continue
            here = (*prefix, part)
            if child and here in members:
                child["."] = {}
            mark(child, here)

    mark(root, ())
    return root


def from_fields_v1(fields: Mapping[str, Any], prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for part, child in fields.items():
        if part == ".":
            out.add(prefix)
            continue
        here = (*prefix, part)
        if child:
            out |= from_fields_v1(child, here)
            if "." in child:
                out.add(here)
        else:
            out.add(here)
    return out


def _without(paths: set[Path], removed: set[Path]) -> set[Path]:
    """Drop removed paths and everything under them."""
    if not removed:
        return paths
    return {path for path in paths if not any(path[: len(gone)] == gone for gone in removed)}


def update_managed_fields(
    old: Mapping[str, Any], new: dict[str, Any], *, manager: str, api_version: str, timestamp: str
) -> None:
    """Set new.metadata.managedFields for an Update by `manager` that turns `old` into `new`."""
    entries = [dict(entry) for entry in (old.get("metadata") or {}).get("managedFields") or []]
    added, modified, removed = compare(old, new)
    changed = added | modified
    result: list[dict[str, Any]] = []
    mine: dict[str, Any] | None = None
    for entry in entries:
        owned = from_fields_v1(entry.get("fieldsV1") or {})
        if entry.get("manager") == manager and entry.get("operation") == "Update":
            mine = entry
            continue
        trimmed = _without(owned - changed, removed)
        if trimmed != owned:
            entry["fieldsV1"] = to_fields_v1(trimmed)
        if trimmed:
            result.append(entry)
    previous = from_fields_v1(mine.get("fieldsV1") or {}) if mine else set()
    owned = _without(previous | changed, removed)
    if owned:
        if mine is None or owned != previous or mine.get("apiVersion") != api_version:
            mine = {
                "manager": manager,
                "operation": "Update",
                "apiVersion": api_version,
                "time": timestamp,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(owned),
            }
        result.append(mine)
    result.sort(
        key=lambda e: (e.get("operation", ""), e.get("time") or "", e.get("manager", ""), e.get("apiVersion", ""))
    )
    metadata = new.setdefault("metadata", {})
    if result:
        metadata["managedFields"] = result
    else:
        metadata.pop("managedFields", None)


def manager_from_user_agent(user_agent: str) -> str:
    """The apiserver names an Update's manager after the client: the user agent up to its first '/'."""
    return user_agent.split("/")[0]
