"""The three PATCH flavours the apiserver accepts: JSON patch, JSON merge patch and strategic merge patch."""

from __future__ import annotations

from typing import Any

from ack_compute.sandbox.kube.status import StatusError
from ack_compute.sandbox.kube.store import clone

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)

# patchMergeKey of the built-in types' lists with patchStrategy "merge"; other lists are replaced.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "addresses": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "podIPs": "ip",
}
_MERGED_PRIMITIVE_LISTS = {"finalizers"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    """A strategic merge patch for the built-in types: lists with a merge key merge item by item."""
    if isinstance(patch, dict):
        if patch.get("$patch") == "replace":
            return {k: clone(v) for k, v in patch.items() if k != "$patch"}
        if patch.get("$patch") == "delete":
            return None
        result = clone(target) if isinstance(target, dict) else {}
        for key, value in patch.items():
            if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
                continue
            if key.startswith("$deleteFromPrimitiveList/"):
                name = key.split("/", 1)[1]
                result[name] = [item for item in result.get(name) or [] if item not in (value or [])]
                continue
            if value is None:
                result.pop(key, None)
                continue
            merged = strategic_merge_patch(result.get(key), value, key)
            if merged is None and isinstance(value, dict):
                result.pop(key, None)
            else:
                result[key] = merged
        return result
    if isinstance(patch, list):
        key = _MERGE_KEYS.get(field)
        if key and isinstance(target, list) and all(isinstance(item, dict) for item in patch):
            return _merge_list(target, patch, key)
        if field in _MERGED_PRIMITIVE_LISTS and isinstance(target, list):
            return [*target, *(item for item in patch if item not in target)]
        return [clone(item) for item in patch if not (isinstance(item, dict) and item.get("$patch"))]
    return clone(patch)


def _merge_list(target: list[Any], patch: list[dict[str, Any]], key: str) -> list[Any]:
    result = [clone(item) for item in target]
    for item in patch:
        if item.get("$patch") == "replace":
            return [clone({k: v for k, v in i.items() if k != "$patch"}) for i in patch]
        index = next(
            (
                i
                for i, existing in enumerate(result)
                if isinstance(existing, dict) and existing.get(key) == item.get(key)
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
            continue
        if index is None:
            result.append(strategic_merge_patch({}, item))
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise rejected()
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _resolve(doc: Any, parts: list[str]) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise _missing("/" + "/".join(parts))
    return node, parts[-1]


def rejected() -> StatusError:
    """What the apiserver answers for a patch that does not apply."""
    return StatusError(422, "Invalid", "the server rejected our request due to an error in our request", {})


def invalid_patch_body() -> StatusError:
    return StatusError(500, "", "Invalid JSON Patch")


def _missing(path: str) -> StatusError:
    return rejected()


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902."""
    if not isinstance(operations, list):
        raise invalid_patch_body()
    doc = clone(target)
    for operation in operations:
        op = (operation or {}).get("op")
        parts = _pointer((operation or {}).get("path", ""))
        if op in ("add", "replace", "test"):
            value = clone(operation.get("value"))
            if not parts:
                if op == "test":
                    if doc != value:
                        raise _test_failed()
                    continue
                doc = value
                continue
            parent, last = _resolve(doc, parts)
            if op == "test":
                current = (
                    parent.get(last)
                    if isinstance(parent, dict)
                    else (parent[int(last)] if last.isdigit() and int(last) < len(parent) else None)
                )
                if current != value:
                    raise _test_failed()
            elif isinstance(parent, dict):
                if op == "replace" and last not in parent:
                    raise _missing("/" + "/".join(parts))
                parent[last] = value
            elif isinstance(parent, list):
                if last == "-":
                    parent.append(value)
                elif last.isdigit() and int(last) <= len(parent):
                    if op == "add":
                        parent.insert(int(last), value)
                    elif int(last) < len(parent):
                        parent[int(last)] = value
                    else:
                        raise _missing("/" + "/".join(parts))
                else:
                    raise _missing("/" + "/".join(parts))
        elif op == "remove":
            parent, last = _resolve(doc, parts)
            if isinstance(parent, dict) and last in parent:
                del parent[last]
            elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
                del parent[int(last)]
            else:
                raise _missing("/" + "/".join(parts))
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from", ""))
            source_parent, source_last = _resolve(doc, source)
            value = source_parent[source_last] if isinstance(source_parent, dict) else source_parent[int(source_last)]
            if op == "move":
                if isinstance(source_parent, dict):
                    del source_parent[source_last]
                else:
                    del source_parent[int(source_last)]
            doc = json_patch(doc, [{"op": "add", "path": operation["path"], "value": value}])
        else:
            raise rejected()
    return doc


def _test_failed() -> StatusError:
    return rejected()


def apply_patch(target: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    if content_type == JSON_PATCH:
        result = json_patch(target, patch)
    elif content_type == MERGE_PATCH:
        result = merge_patch(target, patch)
    else:
        result = strategic_merge_patch(target, patch)
    if not isinstance(result, dict):
        raise rejected()
    return result
