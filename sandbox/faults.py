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
# The answers the cloud gives while another change to the same resource, or the first call carrying the same
# ClientToken, is still being processed; the Terraform provider retries each (aliyun/terraform-provider-alicloud,
# alicloud/resource_alicloud_vswitch.go, resource_alicloud_vpc.go). HTTP statuses: VPC's API reference lists
# OperationDenied.OtherSubnetProcessing as 400 (DeleteVSwitch error codes); the other conflict codes are client
# errors (400) the same way; InternalError and UnknownError are server errors (500).
TRANSIENT_ERRORS: dict[str, tuple[int, str]] = {
    "TaskConflict": (400, "The operation conflicts with a task in progress on the resource."),
    "OperationConflict": (400, "Request was denied due to conflict with a previous request."),
    "SystemBusy": (400, "The system is busy. Please try again later."),
    "LastTokenProcessing": (400, "The last token request is processing."),
    "OperationFailed.LastTokenProcessing": (400, "The last token request is processing."),
    "OperationFailed.IdempotentTokenProcessing": (400, "The request with the same client token is being processed."),
    "IncorrectStatus": (400, "The resource is in a status that does not allow this operation yet."),
    "OperationFailed.DistibuteLock": (400, "The resource is locked by another operation."),
    "OperationDenied.OtherSubnetProcessing": (400, "other subnet is processing."),
    "IncorrectRouteEntryStatus": (400, "A route entry of the VPC is being changed."),
    "InternalError": (500, "The request processing has failed due to some unknown error, exception or failure."),
    "UnknownError": (500, "The request processing has failed due to some unknown error."),
}
# What a create repeated with the ClientToken of a create still in flight is told, per action. VPC's CreateVSwitch
# answers OperationFailed.IdempotentTokenProcessing (Terraform retries it there); other creates LastTokenProcessing.
TOKEN_PROCESSING = {"CreateVSwitch": "OperationFailed.IdempotentTokenProcessing"}


class FaultKind(StrEnum):
    THROTTLE = "throttle"
    SERVER_ERROR = "server_error"
    DELAY = "delay"
    DENIED = "denied"
    TRANSIENT = "transient"


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
    def transient(cls, code: str) -> Fault:
        """One of the cloud's transient answers (TRANSIENT_ERRORS), with the status the cloud gives it."""
        if code not in TRANSIENT_ERRORS:
            raise ValueError(f"{code!r} is not a transient code; choose from {sorted(TRANSIENT_ERRORS)}")
        return cls(kind=FaultKind.TRANSIENT, code=code)

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
            case FaultKind.TRANSIENT:
                status, message = TRANSIENT_ERRORS[self.code or "SystemBusy"]
                raise ApiError(status, self.code or "SystemBusy", message)


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


class TokensInFlight:
    """Creates being processed, by (action, ClientToken): a repeat arriving meanwhile is told so (the cloud does not
    run the same token twice at once); once the first answers, the world's replay gives the repeat its resource."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: set[tuple[str, str]] = set()

    def enter(self, action: str, token: str | None) -> bool:
        """Mark the token busy; raises the cloud's answer if it already is. Returns whether it was marked."""
        if not token:
            return False
        with self._lock:
            if (action, token) in self._busy:
                code = TOKEN_PROCESSING.get(action, "LastTokenProcessing")
                status, message = TRANSIENT_ERRORS[code]
                raise ApiError(status, code, message)
            self._busy.add((action, token))
            return True

    def leave(self, action: str, token: str | None) -> None:
        with self._lock:
            self._busy.discard((action, token or ""))
