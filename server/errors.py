"""Domain errors become ToolError text an agent can act on; anything else is logged, not leaked."""

from __future__ import annotations

import difflib
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, ParamSpec, TypeVar

from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import ValidationError

from ack_compute.cloud.errors import CloudError
from ack_compute.server.params import RULES, TOOL_RULES
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.plans import FIELDS_BY_KIND, PLAN_FIELDS

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger("ack_compute.server")


def as_tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap a tool so every failure reaches the agent as a clear ToolError."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except ToolError:
            raise
        except AckComputeError as exc:
            raise ToolError(exc.text) from None
        except CloudError as exc:
            raise ToolError(f"{exc} Nothing was created.") from None
        except ValidationError as exc:  # normalisation against server defaults, after the argument check
            raise ToolError(f"Invalid input: {describe_validation(exc)} Fix the field and retry.") from None
        except Exception:
            incident = uuid.uuid4().hex[:8]
            log.exception("tool %s failed unexpectedly (incident %s)", fn.__name__, incident)
            raise ToolError(
                f"Internal error in {fn.__name__} (incident {incident}, details in the server log). "
                "Nothing was created by this call."
            ) from None

    return wrapper


PLAN_KINDS = ("cluster", "serverless", "acs", "eci")
MAX_PROBLEMS = 6  # named in one refusal; the rest are counted


def _plain(err: Any, rules: Mapping[str, str]) -> str:
    """What is wrong in plain words: no regexes, no pydantic type codes."""
    kind, ctx, loc = err["type"], err.get("ctx") or {}, err["loc"]
    field = next((str(p) for p in reversed(loc) if isinstance(p, str)), "")
    simple = {
        "missing": "is required",
        "extra_forbidden": "is not a field this takes",
        "int_parsing": "must be a whole number",
        "int_type": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_parsing": "must be a number",
        "float_type": "must be a number",
        "decimal_parsing": "must be a number",
        "bool_parsing": "must be true or false",
        "bool_type": "must be true or false",
        "string_type": "must be text",
        "dict_type": "must be an object",
        "model_type": "must be an object",
        "list_type": "must be a list",
    }
    bounds = {
        "greater_than_equal": ("must be at least", "ge"),
        "less_than_equal": ("must be at most", "le"),
        "greater_than": ("must be more than", "gt"),
        "less_than": ("must be less than", "lt"),
        "multiple_of": ("must be a multiple of", "multiple_of"),
        "string_too_long": ("must be at most this many characters:", "max_length"),
        "too_long": ("must have at most this many items:", "max_length"),
        "too_short": ("must have at least this many items:", "min_length"),
    }
    if kind == "extra_forbidden" and field not in PLAN_FIELDS:
        # The kind the field was given in: a union's tag in the path, or run_job's `acs` plan.
        given_in = next((str(p) for p in loc if str(p) in FIELDS_BY_KIND), None)
        if meant := meant_field(field, FIELDS_BY_KIND.get(given_in or "", PLAN_FIELDS)):
            return f"is not a field this takes (did you mean {meant}?)"
    if kind in simple:
        return simple[kind]
    if kind in bounds:
        words, key = bounds[kind]
        return f"{words} {ctx.get(key)}"
    if kind == "string_pattern_mismatch":
        return f"use {rules[field]}" if field in rules else "is not in the expected format"
    if kind == "string_too_short":
        return (
            "must not be empty" if ctx.get("min_length") == 1 else f"needs at least {ctx.get('min_length')} characters"
        )
    if kind in ("literal_error", "enum"):
        return f"use one of {ctx.get('expected')}"
    if kind == "union_tag_not_found":
        return f"needs `kind`: one of {', '.join(PLAN_KINDS)}"
    if kind == "union_tag_invalid":
        return f"kind {ctx.get('tag')!r} is not one of {ctx.get('expected_tags')}"
    return str(err["msg"]).removeprefix("Value error, ")


def _where(loc: tuple[Any, ...]) -> str:
    """The field path as the agent wrote it: without the union tags pydantic inserts (plan.cluster.node_count)."""
    parts = [
        str(p)
        for i, p in enumerate(loc)
        if not (isinstance(p, str) and ("[" in p or (p in PLAN_KINDS and i and loc[i - 1] == "plan")))
    ]
    return ".".join(parts)


def describe_validation(exc: ValidationError, name: Callable[[str], str] | None = None, tool: str | None = None) -> str:
    """One line per problem, field path first, in plain words (no pydantic URLs, type codes or echoed inputs).
    `name`: how the reader writes a top-level field (a setting's environment variable), if not as the field;
    `tool`: whose parameters these are (a field of a shared name may follow that tool's own rule)."""
    rules = {**RULES, **TOOL_RULES.get(tool or "", {})}
    parts = []
    errors = exc.errors()
    for err in errors[:MAX_PROBLEMS]:  # paths carry the caller's keys: a few, each cut short
        where = _where(err["loc"]) or "plan"
        if name is not None and err["loc"] and isinstance(err["loc"][0], str):
            where = name(err["loc"][0])
        parts.append(f"{where if len(where) <= 60 else where[:60] + '...'}: {_plain(err, rules)}")
    if len(errors) > MAX_PROBLEMS:
        parts.append(f"and {len(errors) - MAX_PROBLEMS} more")
    return "; ".join(parts) + "."


class ToolRefusals:
    """Every refusal reads the same way, in as few tokens as it can:
    - arguments that fail their schema get one line per field, as every other refusal, instead of pydantic's dump
      (type codes, echoed input values, a URL); checked before the tool runs, so nothing else happens;
    - a tool's own refusal loses the SDK's "Error executing tool NAME: " prefix: the agent knows what it called.
    Anything this cannot judge goes on to, or comes back from, the SDK unchanged."""

    def __init__(self, server: MCPServer) -> None:
        self._server = server

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        params = ctx.params if isinstance(ctx.params, dict) else {}
        name = params.get("name")
        if ctx.method != "tools/call" or not isinstance(name, str):
            return await call_next(ctx)
        # The SDK keeps its tools private (mcp is pinned below 3); without them the argument check steps aside.
        manager = getattr(self._server, "_tool_manager", None)
        tool = manager.get_tool(name) if manager is not None else None
        arguments = params.get("arguments") or {}
        if tool is not None and isinstance(arguments, dict):
            if unknown := unknown_arguments(name, arguments, set(tool.parameters.get("properties", {}))):
                return _refusal(f"Invalid input for {name}: {unknown} Fix the field and retry; nothing was done.")
            try:
                tool.fn_metadata.validate_arguments(arguments)
            except ValidationError as exc:
                described = describe_validation(exc, tool=name)
                text = f"Invalid input for {name}: {described} Fix the field and retry; nothing was done."
                return _refusal(text)
            except Exception:  # a crash in a validator is the SDK's to report, as it always does
                pass
        return _without_prefix(await call_next(ctx), f"Error executing tool {name}: ")


def meant_field(given: str, known: Collection[str]) -> str | None:
    """The field a near miss meant: one it begins (hour -> hours, nodes -> node_count, timeout -> timeout_seconds),
    else a close spelling (cpu -> vcpu); None rather than a guess (duration is not edition)."""
    stem = given.lower().removesuffix("s")
    if len(stem) >= 3:
        begun = sorted(k for k in known if k.startswith(stem))
        if begun:
            return begun[0]
    close = difflib.get_close_matches(given.lower(), sorted(known), n=1, cutoff=0.8)
    return close[0] if close else None


def unknown_arguments(tool: str, arguments: dict[str, Any], known: set[str]) -> str:
    """Arguments the tool does not take, said with the one meant when it is plain: the SDK drops them silently, so
    `timeout` ran with the default deadline and `edition` on ensure_cluster quoted a Basic cluster. At most five,
    each cut to 40 characters: the names are the caller's text."""
    unknown = sorted(set(arguments) - known)
    parts, unplaced = [], False
    for field in unknown[:5]:
        shown = field if len(field) <= 40 else f"{field[:40]}..."
        if field in PLAN_FIELDS and "plan" in known:
            hint = " (a plan field: put it inside plan)"
        elif meant := meant_field(field, known):
            hint = f" (did you mean {meant}?)"
        else:
            hint, unplaced = "", True
        parts.append(f"{shown}: {tool} has no such parameter{hint}.")
    if len(unknown) > 5:
        parts.append(f"And {len(unknown) - 5} more.")
    if unplaced:
        parts.append(f"It takes {', '.join(sorted(known))}.")
    return " ".join(parts)


def _without_prefix(result: HandlerResult, prefix: str) -> HandlerResult:
    """The SDK hands the result on serialised (a dict, by alias) or as its model; only a one-text error changes."""
    if isinstance(result, CallToolResult) and result.is_error:
        result = result.model_dump(by_alias=True, exclude_none=True)
    if not isinstance(result, dict) or result.get("isError") is not True:
        return result
    content = result.get("content")
    if isinstance(content, list) and len(content) == 1 and isinstance(content[0], dict):
        text = content[0].get("text")
        if content[0].get("type") == "text" and isinstance(text, str) and text.startswith(prefix):
            return {**result, "content": [{**content[0], "text": text.removeprefix(prefix)}]}
    return result


def _refusal(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
