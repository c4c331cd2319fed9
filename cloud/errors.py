"""Cloud failures as plain data, so no SDK exception type leaks above `cloud/`."""

from __future__ import annotations


class CloudError(Exception):
    """A call to Alibaba Cloud failed; carries what an agent needs to decide what to do next."""

    def __init__(
        self,
        action: str,
        code: str,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        retryable: bool = False,
        attempts: int = 1,
    ) -> None:
        self.action = action
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id
        self.retryable = retryable
        self.attempts = attempts
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" (HTTP {self.status})" if self.status else ""
        rid = f" [RequestId {self.request_id}]" if self.request_id else ""
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{self.action} failed{tries}: {self.code}{where}: {self.message}{rid}"

    @property
    def is_not_found(self) -> bool:
        return self.status == 404 or self.code.endswith(".NotFound") or self.code.startswith("ErrorClusterNotFound")


class CredentialsMissing(CloudError):
    """No credentials could be found by the default chain."""
