"""Bearer tokens and who they stand for: issued per cluster, expiring, revocable all at once."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Literal

Role = Literal["admin", "limited"]

MASTERS_GROUP = "system:masters"
AUTHENTICATED_GROUP = "system:authenticated"
UNAUTHENTICATED_GROUP = "system:unauthenticated"
ANONYMOUS_USER = "system:anonymous"
LIMITED_GROUP = "ack-compute:limited"


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...]
    uid: str = ""

    @property
    def anonymous(self) -> bool:
        return UNAUTHENTICATED_GROUP in self.groups


ANONYMOUS = UserInfo(ANONYMOUS_USER, (UNAUTHENTICATED_GROUP,))


@dataclass(frozen=True)
class _Grant:
    user: UserInfo
    expires_at: float
    generation: int


class TokenBook:
    """Tokens of one cluster. `revoke_all` bumps a generation so every earlier token stops working."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grants: dict[str, _Grant] = {}
        self._generation = 0

    def issue(self, *, role: Role, ttl_seconds: int, user: str) -> str:
        if role not in ("admin", "limited"):
            raise ValueError(f"unknown role {role!r}")
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        groups = (MASTERS_GROUP, AUTHENTICATED_GROUP) if role == "admin" else (LIMITED_GROUP, AUTHENTICATED_GROUP)
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._prune()
            self._grants[token] = _Grant(
                UserInfo(user, groups, uid=secrets.token_hex(8)), time.monotonic() + ttl_seconds, self._generation
            )
        return token

    def revoke_all(self) -> None:
        with self._lock:
            self._generation += 1
            self._grants.clear()

    def authenticate(self, token: str) -> UserInfo | None:
        """The token's user, or None when it is unknown, revoked or expired (the caller answers 401)."""
        with self._lock:
            grant = self._grants.get(token)
            if grant is None or grant.generation != self._generation:
                return None
            if time.monotonic() >= grant.expires_at:
                del self._grants[token]
                return None
            return grant.user

    def _prune(self) -> None:
        now = time.monotonic()
        for token in [t for t, g in self._grants.items() if g.expires_at <= now]:
            del self._grants[token]
