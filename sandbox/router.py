"""Routes keyed by (product, action), so each product module just lists its routes and drops in."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ack_compute.sandbox.errors import action_not_found
from ack_compute.sandbox.params import RpcParams
from ack_compute.sandbox.products import ApiStyle, Product

if TYPE_CHECKING:
    from ack_compute.sandbox.state import SandboxState


@dataclass(frozen=True)
class ApiRequest:
    """One verified call as a handler sees it."""

    product: Product
    action: str
    request_id: str
    query: Mapping[str, str]
    path_params: Mapping[str, str]
    body: bytes

    @property
    def params(self) -> RpcParams:
        return RpcParams(self.query)


Handler = Callable[[ApiRequest, "SandboxState"], Any]


@dataclass(frozen=True)
class Route:
    """A handler for one action. ROA routes also declare their method and path (`/clusters/{cluster_id}`).

    RPC replies get `RequestId` added by the app; ROA handlers place the request id themselves because
    the CS API spells it differently per action (`requestId`, `request_id`).
    """

    product: Product
    action: str
    handler: Handler
    method: str = "POST"
    path: str = "/"
    status: int = 200


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes: dict[tuple[Product, str], tuple[Route, re.Pattern[str]]] = {}
        for route in routes:
            key = (route.product, route.action)
            if key in self._routes:
                raise ValueError(f"duplicate route {route.product}:{route.action}")
            self._routes[key] = (route, _compile(route.path))

    def resolve(self, product: Product, action: str, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route and its path parameters, or the real InvalidAction.NotFound error."""
        entry = self._routes.get((product, action))
        if entry is None:
            raise action_not_found()
        route, pattern = entry
        if product.style is ApiStyle.RPC:
            return route, {}
        match = pattern.fullmatch(path)
        if match is None or method != route.method:
            raise action_not_found()
        return route, match.groupdict()


def _compile(path: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", path)
    return re.compile("".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)))
