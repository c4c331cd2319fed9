"""Who is asking. The caller travels with each request (a context variable the MCP layer sets from the
authenticated token), so quotes, operations and ledger rows record their owner, and reads are filtered by
it, without threading a parameter through every layer. Background operations run as the caller who
started them, also after a restart."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pydantic import BaseModel, ConfigDict, Field

from ack_compute.tools.budgets import CallerBudget


class Caller(BaseModel):
    """`subject` "" is the local operator: stdio, or HTTP without authentication (one user)."""

    model_config = ConfigDict(frozen=True)

    subject: str = Field("", max_length=256)
    admin: bool = True
    # Kubeconfig contexts this (non-admin) caller was granted; admins may use every context the operator allowed.
    contexts: frozenset[str] = frozenset()
    # Their own daily and monthly budgets (tokens file, caller policy file); the server's defaults apply where
    # these say nothing (tools/budgets.py).
    budget: CallerBudget = CallerBudget()

    def sees(self, owner: str) -> bool:
        """Admins see everything; anyone else only what they created or asked for."""
        return self.admin or owner == self.subject

    def may_use_context(self, context: str) -> bool:
        return self.admin or context in self.contexts

    @property
    def label(self) -> str:
        return self.subject or "the local operator"


LOCAL_OPERATOR = Caller()
_current: ContextVar[Caller] = ContextVar("ack_compute_caller", default=LOCAL_OPERATOR)


def current_caller() -> Caller:
    return _current.get()


@contextmanager
def acting_as(caller: Caller) -> Iterator[Caller]:
    token = _current.set(caller)
    try:
        yield caller
    finally:
        _current.reset(token)
