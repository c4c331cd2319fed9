"""What a model pays for: lean results and slim schemas.

Results: compact JSON (no indentation), nulls and empties omitted (unless the field is required), money as a number,
fields marked `exclude` left out. The same dict is the structured content, so it stays valid for the output schema.
Schemas: no generated titles, no nullable wrappers around optional fields, no regexes (their rule is in the
description, see server/params.py), no schemas for fields the results never carry.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from mcp.server import MCPServer
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

_EMPTY: tuple[Any, ...] = (None, "", [], {})


def _value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        # A plan shows what differs from its documented defaults (estimate_cost fills the same defaults back in).
        return lean_dict(value, defaults=type(value).__module__ != "ack_compute.tools.plans")
    if isinstance(value, dict):
        return {k: v for k, v in ((k, _value(v)) for k, v in value.items()) if v not in _EMPTY}
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def lean_dict(model: BaseModel, defaults: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        if field.exclude:
            continue
        raw = getattr(model, name)
        default = field.get_default(call_default_factory=True)
        if not defaults and name != "kind" and not field.is_required() and raw == default:  # kind discriminates
            continue
        value = _value(raw)
        if value in _EMPTY and not field.is_required():
            continue
        out[field.alias or name] = value
    return out


def lean(model: BaseModel) -> CallToolResult:
    """A tool's answer: the lean dict as structured content and as one line of JSON text."""
    data = lean_dict(model)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _slim(node: Any, required: bool = True) -> Any:
    if isinstance(node, list):
        return [_slim(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "pattern" and isinstance(value, str):
            continue
        if key == "properties" and isinstance(value, dict):
            needed = set(node.get("required", []))
            out[key] = {name: _slim(sub, name in needed) for name, sub in value.items()}
            continue
        out[key] = _slim(value)
    arms = out.get("anyOf")
    if isinstance(arms, list) and not required and {"type": "null"} in arms:
        rest = [a for a in arms if a != {"type": "null"}]
        del out["anyOf"]
        out = {**rest[0], **out} if len(rest) == 1 else {"anyOf": rest, **out}
        if out.get("default", 0) is None:
            del out["default"]
    if isinstance(arms, list) and sorted(map(json.dumps, arms)) == ['{"type": "number"}', '{"type": "string"}']:
        # Decimal's "number or numeric string": the server takes both, a model needs only the number
        out.pop("anyOf", None)
        out["type"] = "number"
    return out


def slim(schema: dict[str, Any]) -> dict[str, Any]:
    return _prune_defs(_slim(schema))


def _prune_defs(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.get("$defs")
    if not defs:
        return schema
    while True:
        text = json.dumps({k: v for k, v in schema.items() if k != "$defs"}) + json.dumps(defs)
        used = {name: d for name, d in defs.items() if f'"#/$defs/{name}"' in text}
        if len(used) == len(defs):
            break
        defs = used
    schema = {k: v for k, v in schema.items() if k != "$defs"}
    return {**schema, "$defs": defs} if defs else schema


def _models(model: Any, seen: dict[str, type[BaseModel]]) -> dict[str, type[BaseModel]]:
    """Every pydantic model an output model contains, by its schema name."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        if model.__name__ in seen:
            return seen
        seen[model.__name__] = model
        for field in model.model_fields.values():
            _models(field.annotation, seen)
        return seen
    for arg in getattr(model, "__args__", ()) or ():
        _models(arg, seen)
    return seen


def _output(schema: dict[str, Any], model: Any) -> dict[str, Any]:
    """The output schema as the lean results are: excluded fields left out, plans shown as plain objects (their
    fields are the input's; a model never writes an output)."""
    models = _models(model, {})
    defs = dict(schema.get("$defs", {}))
    for name, sub in list(defs.items()):
        if name.endswith("Plan"):
            defs[name] = {"type": "object", "description": sub.get("description", "")}
        elif name in models:
            defs[name] = _without_excluded(sub, models[name])
    top = models.get(getattr(model, "__name__", ""))
    out = _plans_as_objects(_without_excluded(schema, top) if top is not None else schema)
    return {**out, "$defs": _plans_as_objects(defs)} if defs else out


def _plans_as_objects(node: Any) -> Any:
    """A union of plans becomes one plain object (oneOf over plain objects would match every arm)."""
    if isinstance(node, list):
        return [_plans_as_objects(n) for n in node]
    if not isinstance(node, dict):
        return node
    for key in ("oneOf", "anyOf"):
        arms = node.get(key)
        if isinstance(arms, list):
            plans = [a for a in arms if str(a.get("$ref", "")).endswith("Plan")]
            if plans:
                rest = [a for a in arms if a not in plans]
                merged = {k: v for k, v in node.items() if k not in (key, "discriminator")}
                node = {**merged, key: [{"type": "object"}, *rest]} if rest else {**merged, "type": "object"}
    return {k: _plans_as_objects(v) for k, v in node.items()}


def _without_excluded(schema: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    gone = {field.alias or name for name, field in model.model_fields.items() if field.exclude}
    if not gone or "properties" not in schema:
        return schema
    props = {k: v for k, v in schema["properties"].items() if k not in gone}
    required = [r for r in schema.get("required", []) if r not in gone]
    return {**schema, "properties": props, **({"required": required} if "required" in schema else {})}


def slim_schemas(server: MCPServer) -> None:
    """Slim every registered tool's published input and output schema (validation is untouched: the SDK validates
    arguments with the tool's own model)."""
    manager = getattr(server, "_tool_manager", None)
    if manager is None:
        return
    for tool in manager.list_tools():
        tool.parameters = _prune_defs(_slim(tool.parameters))
        if tool.fn_metadata.output_schema is not None:
            output = _output(tool.fn_metadata.output_schema, tool.fn_metadata.output_model)
            tool.fn_metadata.output_schema = _prune_defs(_slim(output))
            tool.__dict__.pop("output_schema", None)  # a cached_property on the tool


_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "maxItems", "minItems")
_LENGTHS = ("maxItems", "minItems", "maxLength", "minLength", "maxProperties", "additionalProperties")


def _without(node: Any, keys: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_without(n, keys) for n in node]
    if not isinstance(node, dict):
        return node
    return {k: _without(v, keys) for k, v in node.items() if k not in keys}


def compact_union(schema: dict[str, Any], prop: str, what: str) -> dict[str, Any]:
    """A discriminated union of flat models, published as one object: `kind` required, each field once, marked with
    the kinds it applies to. The server still validates against the real union; this is what a model reads."""
    defs = {
        name: {k: v for k, v in d.items() if k not in ("additionalProperties", "description")}
        for name, d in schema.get("$defs", {}).items()
    }
    union = schema["properties"][prop]
    kinds: dict[str, dict[str, Any]] = {}
    for arm in union["oneOf"]:
        model = defs[arm["$ref"].rsplit("/", 1)[-1]]
        kinds[model["properties"]["kind"]["const"]] = model
    fields: dict[str, dict[str, Any]] = {}
    seen: dict[str, list[str]] = {}
    needed: dict[str, list[str]] = {}
    for kind, model in kinds.items():
        for name, sub in model["properties"].items():
            if name == "kind":
                continue
            # Nested objects (the disks) say their ranges in their descriptions.
            if "$ref" in sub:
                nested = _without(defs[sub["$ref"].rsplit("/", 1)[-1]], _BOUNDS)
                sub = {**nested, **{k: v for k, v in sub.items() if k != "$ref"}}
            if isinstance(sub.get("items"), dict) and "$ref" in sub["items"]:
                sub = {**sub, "items": _without(defs[sub["items"]["$ref"].rsplit("/", 1)[-1]], _BOUNDS)}
            sub = _without(sub, _LENGTHS)  # the server enforces them and says so in plain words
            seen.setdefault(name, []).append(kind)
            if name in model.get("required", []):
                needed.setdefault(name, []).append(kind)
            if name not in fields:
                fields[name] = sub
            elif {k: v for k, v in fields[name].items() if k != "description"} != {
                k: v for k, v in sub.items() if k != "description"
            }:
                # Kinds disagree on bounds or default: publish neither (each kind's own rule is enforced).
                fields[name] = {k: v for k, v in fields[name].items() if k not in (*_BOUNDS, "default")}
    out: dict[str, Any] = {
        "kind": {"enum": list(kinds), "description": what},
    }
    for name, sub in fields.items():
        notes = []
        if len(seen[name]) < len(kinds):
            notes.append("/".join(seen[name]) + " only")
        if name in needed:
            notes.append("required")
        if notes:
            sub = {**sub, "description": f"({', '.join(notes)}) {sub.get('description', '')}".strip()}
        out[name] = sub
    compact = {"type": "object", "properties": out, "required": ["kind"], "additionalProperties": False}
    if union.get("description"):
        compact["description"] = union["description"]
    props = {**schema["properties"], prop: compact}
    return {k: v for k, v in schema.items() if k not in ("$defs", "properties")} | {"properties": props}
