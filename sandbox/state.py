"""What every route shares: the catalog, credentials, clock knob, request counts, queued faults and the world."""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field

from pydantic import SecretStr

from ack_compute.sandbox.catalog import Catalog
from ack_compute.sandbox.faults import FaultBook, TokensInFlight
from ack_compute.sandbox.kube_bridge import KubeBridge
from ack_compute.sandbox.lifecycle import Lifecycle
from ack_compute.sandbox.pool_lifecycle import PoolLifecycle
from ack_compute.sandbox.scheduler import Calendar, SimClock
from ack_compute.sandbox.signature import Credentials, NonceCache
from ack_compute.sandbox.world import World


def generate_credentials() -> Credentials:
    """A fresh AccessKey pair per sandbox, so nothing can rely on a well-known secret."""
    return Credentials(
        access_key_id=f"LTAIsandbox{secrets.token_hex(8)}",
        access_key_secret=SecretStr(secrets.token_urlsafe(24)),
    )


class ActionCounter:
    """Requests per action name, counted from every thread that serves or inspects them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, action: str) -> None:
        with self._lock:
            self._counts[action] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


# Real bills trail usage: "Bill data is updated with a 24-hour delay compared to actual usage" (Alibaba's
# DescribeInstanceBill page, last updated 2025-10-28). The sandbox's default, in sandbox seconds.
DEFAULT_BILL_LAG_SECONDS = 24 * 3600.0


@dataclass
class BillingKnobs:
    """How the sandbox's bills behave: the lag before usage shows, whether bills are denied (NoPermission), and the
    NextToken pages handed out (token -> the query it continues, the offset of its page)."""

    lag_seconds: float = DEFAULT_BILL_LAG_SECONDS
    denied: bool = False
    page_tokens: dict[str, tuple[tuple[tuple[str, str], ...], int]] = field(default_factory=dict)


@dataclass
class SandboxState:
    """The sandbox's shared world. `time_scale` speeds up its clock: simulated cloud work (a cluster
    being created, a node booting) takes its real-world duration divided by it. Injected delays do not."""

    catalog: Catalog
    credentials: Credentials
    verify_signatures: bool = True
    time_scale: float = 1.0
    nonces: NonceCache = field(default_factory=NonceCache)
    counter: ActionCounter = field(default_factory=ActionCounter)
    faults: FaultBook = field(default_factory=FaultBook)
    tokens: TokensInFlight = field(default_factory=TokensInFlight)
    kube: KubeBridge = field(default_factory=KubeBridge)
    world: World = field(init=False)
    lifecycle: Lifecycle = field(init=False)
    pools: PoolLifecycle = field(init=False)
    billing: BillingKnobs = field(default_factory=BillingKnobs)
    calendar: Calendar = field(init=False)

    def __post_init__(self) -> None:
        self.world = World(self.catalog, SimClock(lambda: self.time_scale))
        self.lifecycle = Lifecycle(self.world, self.kube)
        self.pools = PoolLifecycle(self.lifecycle)
        self.calendar = Calendar(lambda: self.time_scale)
