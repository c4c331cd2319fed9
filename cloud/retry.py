"""Bounded retries with jittered backoff, honouring the cloud's `x-acs-retry-after`.

The SDK does not retry unless told to, and its own retry loop does not honour retry-after, so
every call goes through `call_with_retry`, which also turns SDK exceptions into `CloudError`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from ack_compute.cloud.config import RetryPolicy
from ack_compute.cloud.errors import CloudError

T = TypeVar("T")
log = logging.getLogger("ack_compute.cloud")

_THROTTLE_PREFIXES = ("Throttling", "ServiceUnavailable", "Busy")
# Codes the cloud answers while another change to the same resource (or the first call with the same ClientToken)
# is still being processed: the Terraform provider retries exactly these for CreateVpc, CreateVSwitch and
# DeleteVSwitch (aliyun/terraform-provider-alicloud, alicloud/resource_alicloud_vpc.go and
# resource_alicloud_vswitch.go, `IsExpectedErrors(err, [...]) || NeedRetry(err)`).
TRANSIENT_CODES = frozenset(
    {
        "TaskConflict",
        "OperationConflict",
        "SystemBusy",
        "LastTokenProcessing",
        "OperationFailed.LastTokenProcessing",
        "OperationFailed.IdempotentTokenProcessing",
        "IncorrectStatus",
        "OperationFailed.DistibuteLock",  # sic: the cloud's own spelling
        "OperationDenied.OtherSubnetProcessing",
        "IncorrectRouteEntryStatus",
        "InternalError",
        "UnknownError",
    }
)


# The answers to a create repeated with the ClientToken of an earlier call the cloud is still processing.
TOKEN_PROCESSING_CODES = frozenset(
    {"LastTokenProcessing", "OperationFailed.LastTokenProcessing", "OperationFailed.IdempotentTokenProcessing"}
)


def is_transient(code: str) -> bool:
    return code in TRANSIENT_CODES or code.startswith(_THROTTLE_PREFIXES)


class _Failure(CloudError):
    """A translated failure plus how long the server asked us to wait."""

    def __init__(self, *args: object, retry_after_s: float | None = None, network: bool = False, **kw: object):
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.retry_after_s = retry_after_s
        self.network = network


def translate(action: str, exc: BaseException) -> _Failure:
    """Map an SDK/transport exception to a CloudError without carrying the request (and its headers)."""
    inner = getattr(exc, "inner_exception", None)
    if inner is not None and not hasattr(inner, "status_code"):
        text = str(getattr(inner, "message", inner))
        kind = "timed out" if "timed out" in text.lower() or "timeout" in text.lower() else "connection failed"
        return _Failure(
            action, "NetworkError", f"the endpoint could not be reached ({kind})", retryable=True, network=True
        )
    status = getattr(exc, "status_code", None)
    data = getattr(exc, "data", None)
    data = data if isinstance(data, dict) else {}
    code = str(getattr(exc, "code", None) or data.get("Code") or data.get("code") or type(exc).__name__)
    message = str(data.get("Message") or data.get("message") or getattr(exc, "message", "") or exc)
    request_id = data.get("RequestId") or data.get("requestId") or getattr(exc, "request_id", None)
    retry_after_ms = getattr(exc, "retry_after", None)
    retryable = retry_after_ms is not None or (isinstance(status, int) and status >= 500) or is_transient(code)
    if "credential" in type(exc).__name__.lower():
        code, retryable = "CredentialsNotFound", False
    return _Failure(
        action,
        code,
        message,
        status=status if isinstance(status, int) else None,
        request_id=str(request_id) if request_id else None,
        retryable=retryable,
        retry_after_s=retry_after_ms / 1000 if isinstance(retry_after_ms, int | float) else None,
    )


def backoff_delay(attempt: int, policy: RetryPolicy, retry_after_s: float | None, rand: float) -> float:
    """Full jitter on an exponential ceiling; a server-given retry-after is a floor, plus up to 10%."""
    if retry_after_s is not None:
        return retry_after_s * (1 + 0.1 * rand)
    ceiling = min(policy.max_delay_s, policy.base_delay_s * 2 ** (attempt - 1))
    return ceiling * rand


def call_with_retry(
    action: str,
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    idempotent: bool = True,
    client_token: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> T:
    """Run `fn`, retrying what is safe to retry, within the policy's attempt and time budget.

    A create (`idempotent=False`) is repeated on a 5xx or a transient code only when it carries its ClientToken
    (`client_token=True`): the repeat then returns what the first call made, or `...TokenProcessing` while that
    call is still running. Without a token only throttling (refused before any work) is repeated. A create is
    never repeated after a network error: it may have reached the cloud, and the caller reconciles by tag.
    """
    waited = 0.0
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except CloudError:
            raise
        except Exception as exc:  # the SDK raises a zoo of types; translate() sorts them
            failure = translate(action, exc)
        failure.attempts = attempt
        can_retry = failure.retryable and (idempotent or _create_may_repeat(failure, client_token))
        delay = backoff_delay(attempt, policy, failure.retry_after_s, rand())
        if not can_retry or attempt >= policy.max_attempts or waited + delay > policy.max_total_wait_s:
            raise CloudError(
                action,
                failure.code,
                failure.message,
                status=failure.status,
                request_id=failure.request_id,
                retryable=failure.retryable,
                attempts=attempt,
            ) from None
        log.info("%s: %s, retrying in %.2fs (attempt %d/%d)", action, failure.code, delay, attempt, policy.max_attempts)
        sleep(delay)
        waited += delay


def _create_may_repeat(failure: _Failure, client_token: bool) -> bool:
    if failure.network:
        return False
    if client_token:
        return True
    return failure.code.startswith("Throttling")


class Waits:
    """The waits between looks at something the cloud is changing and nobody can watch: `first` seconds, doubling
    up to `longest`, and never one that would end more than `timeout_s` from the start."""

    def __init__(
        self, timeout_s: float, first: float, longest: float, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.deadline = time.monotonic() + timeout_s
        self.delay = first
        self.longest = longest
        self._sleep = sleep

    def over(self) -> bool:
        """Whether the next wait would end past the deadline (time to give up)."""
        return time.monotonic() + self.delay > self.deadline

    def sleep(self) -> None:
        self._sleep(self.delay)
        self.delay = min(self.delay * 2, self.longest)

    def wait(self) -> bool:
        """Sleep the next wait and say True; False, without sleeping, once it would pass the deadline."""
        if self.over():
            return False
        self.sleep()
        return True


def while_token_processing(
    fn: Callable[[], T],
    timeout_s: float,
    on_wait: Callable[[CloudError], None] = lambda _: None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run a create that carries its ClientToken; while an earlier call with that token is still being processed
    (a resumed operation whose first call is in flight), wait it out, 1 s doubling to 15 s, up to `timeout_s`:
    the repeat then answers with what the first call made. Other failures go to the caller."""
    waits = Waits(timeout_s, 1.0, 15.0, sleep)
    while True:
        try:
            return fn()
        except CloudError as exc:
            if exc.code not in TOKEN_PROCESSING_CODES or waits.over():
                raise
            on_wait(exc)
        waits.sleep()
