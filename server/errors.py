"""Domain errors become ToolError text an agent can act on; anything else is logged, not leaked."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import ValidationError

from ack_compute.cloud.errors import CloudError
from ack_compute.tools.errors import AckComputeError

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


def describe_validation(exc: ValidationError) -> str:
    """One line per problem, field path first, without pydantic's URLs and echoed inputs."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "plan"
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts) + "."


class ArgumentCheck:
    """Tool arguments that fail their schema get the same one-line-per-field answer as every other refusal,
    instead of pydantic's dump (type codes, echoed input values, a URL). Runs before the tool, so nothing
    else happens; anything it cannot judge goes on to the SDK unchanged."""

    def __init__(self, server: MCPServer) -> None:
        self._server = server

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        params = ctx.params if isinstance(ctx.params, dict) else {}
        if ctx.method == "tools/call" and isinstance(params.get("name"), str):
            # The SDK keeps its tools private (mcp is pinned below 3); without them this check steps aside.
            manager = getattr(self._server, "_tool_manager", None)
            tool = manager.get_tool(params["name"]) if manager is not None else None
            if tool is not None:
                try:
                    tool.fn_metadata.validate_arguments(params.get("arguments") or {})
                except ValidationError as exc:
                    text = (
                        f"Invalid input for {params['name']}: {describe_validation(exc)} "
                        "Fix the field and retry; nothing was done."
                    )
                    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
                except Exception:  # a crash in a validator is the SDK's to report, as it always does
                    pass
        return await call_next(ctx)
