"""Domain errors become ToolError text an agent can act on; anything else is logged, not leaked."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
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
