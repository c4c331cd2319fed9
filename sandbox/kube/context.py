"""What a strategy may consult while it admits, defaults and validates a write."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ack_compute.sandbox.kube.auth import UserInfo

if TYPE_CHECKING:
    from ack_compute.sandbox.kube.registry import Registry
    from ack_compute.sandbox.kube.store import Store

# rand.SafeEncodeString's alphabet (no vowels, no 0/1/3, so no words): generateName suffixes and hashes.
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_NAME_SUFFIX_LENGTH = 5
MAX_GENERATED_NAME_LENGTH = 63 - _NAME_SUFFIX_LENGTH


@dataclass(frozen=True, order=True)
class KubeVersion:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> KubeVersion:
        parts = text.lstrip("v").split("-")[0].split("+")[0].split(".")
        if len(parts) != 3 or not all(part.isdigit() for part in parts):
            raise ValueError(f"not a Kubernetes version: {text!r}")
        return cls(int(parts[0]), int(parts[1]), int(parts[2]))

    @property
    def newer_than_emulated(self) -> bool:
        """A cluster that reports a later release than EMULATED_VERSION (ACK's are 1.31+) also shows clients the
        few fields later apiservers write (namespace name label and the bookmark before a watch ends since 1.21,
        Service ipFamilies since 1.21, internalTrafficPolicy 1.22, allocateLoadBalancerNodePorts 1.24). The
        clusters that run are 1.20 (tests/contract) or 1.26 and later, so one switch serves where per-release
        thresholds split nothing."""
        return (self.major, self.minor) > (EMULATED_VERSION.major, EMULATED_VERSION.minor)

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}.{self.patch}"


# The Kubernetes release whose behaviour the emulator follows: the kube-apiserver and kube-controller-manager that
# tests/contract hold it to (scripts/kube-control-plane.sh builds Debian's 1.20.5+really1.20.2 source into
# ~/.cache/ack-compute-mcp/kube-1.20/bin). Validation messages, defaults and the controllers are ports of this one.
EMULATED_VERSION = KubeVersion(1, 20, 2)


def now_rfc3339(moment: datetime | None = None) -> str:
    """Kubernetes timestamps: RFC 3339, UTC, whole seconds."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    return str(uuid.uuid4())


def generate_name(base: str) -> str:
    if len(base) > MAX_GENERATED_NAME_LENGTH:
        base = base[:MAX_GENERATED_NAME_LENGTH]
    return base + "".join(secrets.choice(SAFE_ALPHABET) for _ in range(_NAME_SUFFIX_LENGTH))


@dataclass
class WriteContext:
    store: Store
    registry: Registry
    version: KubeVersion
    user: UserInfo
    field_manager: str = "unknown"
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def timestamp(self) -> str:
        return now_rfc3339(self.now)
