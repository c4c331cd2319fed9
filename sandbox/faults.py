"""Faults a test can queue per action, to see how clients cope with throttling, outages and slowness."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from ack_compute.sandbox.errors import ApiError

_SERVER_ERROR_MESSAGES = {
    "ServiceUnavailable": "The request has failed due to a temporary failure of the server.",
    "InternalError": "The request processing has failed due to some unknown error, exception or failure.",
}
_DENIED_MESSAGE = "User not authorized to operate on the specified resource, or this API doesn't support RAM."


class FaultKind(StrEnum):
    THROTTLE = "throttle"
    SERVER_ERROR = "server_error"
    DELAY = "delay"
    DENIED = "denied"


class Fault(BaseModel):
    """One injected misbehaviour; build it with `throttle`, `server_error`, `denied` or `delay`."""

    model_config = ConfigDict(frozen=True)

    kind: FaultKind
    retry_after_ms: int | None = Field(default=None, gt=0)
    status: int | None = Field(default=None, ge=500, le=599)
    code: str | None = None
    seconds: float | None = Field(default=None, ge=0)

    @classmethod
    def throttle(cls, retry_after_ms: int = 200) -> Fault:
        """HTTP 400 Throttling.User with `x-acs-retry-after`, which the SDK turns into ThrottlingException."""
        return cls(kind=FaultKind.THROTTLE, retry_after_ms=retry_after_ms)

    @classmethod
    def server_error(cls, status: int = 503, code: str = "ServiceUnavailable") -> Fault:
        """A 5xx answer, which the SDK raises as ServerException."""
        return cls(kind=FaultKind.SERVER_ERROR, status=status, code=code)

    @classmethod
    def denied(cls, code: str = "Forbidden.RAM") -> Fault:
        """HTTP 403 as RAM answers an action the caller's policies do not allow (a ClientException)."""
        return cls(kind=FaultKind.DENIED, code=code)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Answer normally, but only after `seconds` of real time (timeouts are measured in real time)."""
        return cls(kind=FaultKind.DELAY, seconds=seconds)

    async def apply(self) -> None:
        """Wait out a delay, or raise the error this fault stands for."""
        match self.kind:
            case FaultKind.DELAY:
                await asyncio.sleep(self.seconds or 0)
            case FaultKind.THROTTLE:
                raise ApiError(
                    400,
                    "Throttling.User",
                    "Request was denied due to user flow control.",
                    headers={"x-acs-retry-after": str(self.retry_after_ms)},
                )
            case FaultKind.SERVER_ERROR:
                code = self.code or "ServiceUnavailable"
                message = _SERVER_ERROR_MESSAGES.get(code, "The request has failed due to a server error.")
                raise ApiError(self.status or 503, code, message)
            case FaultKind.DENIED:
                raise ApiError(403, self.code or "Forbidden.RAM", _DENIED_MESSAGE)


class FaultBook:
    """Queued faults per action; each request of that action takes the next one in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Fault]] = {}

    def add(self, action: str, fault: Fault, times: int) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._queues.setdefault(action, deque()).extend([fault] * times)

    def take(self, action: str) -> Fault | None:
        with self._lock:
            queue = self._queues.get(action)
            return queue.popleft() if queue else None

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()
