"""One factory for the CS, ECS, VPC, ECI and BSS (bills) clients.

SDK modules are imported on first use: importing them all eagerly costs about a second, which
would be paid by every `tools/list` on server start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from ack_compute.cloud.config import CloudConfig, product_endpoint
from ack_compute.cloud.retry import call_with_retry

Product = Literal["cs", "ecs", "vpc", "eci", "bss"]
T = TypeVar("T")

_CLIENT_CLASSES: dict[Product, tuple[str, str]] = {
    "cs": ("alibabacloud_cs20151215.client", "Client"),
    "ecs": ("alibabacloud_ecs20140526.client", "Client"),
    "vpc": ("alibabacloud_vpc20160428.client", "Client"),
    "eci": ("alibabacloud_eci20180808.client", "Client"),
    "bss": ("alibabacloud_bssopenapi20171214.client", "Client"),
}


class OpenApiClients:
    """Builds and caches one SDK client per (product, region); thread-safe."""

    def __init__(self, config: CloudConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._clients: dict[tuple[Product, str], Any] = {}
        self._credential: Any = None

    def client(self, product: Product, region: str | None = None) -> Any:
        region = region or self.config.region
        key = (product, region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._build(product, region)
            return self._clients[key]

    def call(self, action: str, fn: Callable[[], T], *, idempotent: bool = True, client_token: bool = False) -> T:
        """Run one SDK call under the retry policy; failures surface as CloudError. A create declares
        `idempotent=False`, and `client_token=True` when its request carries a ClientToken (see retry.py)."""
        return call_with_retry(action, fn, self.config.retry, idempotent=idempotent, client_token=client_token)

    def _build(self, product: Product, region: str) -> Any:
        import importlib

        from alibabacloud_tea_openapi.models import Config

        module, cls = _CLIENT_CLASSES[product]
        client_cls = getattr(importlib.import_module(module), cls)
        regional = self.config.model_copy(update={"region": region})
        return client_cls(
            Config(
                credential=self._credentials(),
                region_id=region,
                endpoint=product_endpoint(product, regional),
                protocol=self.config.protocol,
                connect_timeout=self.config.connect_timeout_ms,
                read_timeout=self.config.read_timeout_ms,
                user_agent=self.config.user_agent,
            )
        )

    def _credentials(self) -> Any:
        """Static keys for the sandbox; otherwise the SDK's default chain (env, OIDC, profiles, RAM role)."""
        if self._credential is None:
            from alibabacloud_credentials.client import Client as CredentialClient

            static = self.config.credentials
            if static is None:
                self._credential = CredentialClient()
            else:
                from alibabacloud_credentials.models import Config as CredentialConfig

                self._credential = CredentialClient(
                    CredentialConfig(
                        type="access_key",
                        access_key_id=static.access_key_id,
                        access_key_secret=static.access_key_secret.get_secret_value(),
                    )
                )
        return self._credential
