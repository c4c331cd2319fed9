"""One running sandbox for the session, real SDK clients pointed at it, and a raw signer for wire-level tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import pytest
from alibabacloud_credentials.client import Client as CredClient
from alibabacloud_credentials.models import Config as CredConfig
from alibabacloud_cs20151215.client import Client as CsClient
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_tea_openapi.models import Config
from alibabacloud_tea_openapi.utils import Utils
from alibabacloud_vpc20160428.client import Client as VpcClient
from darabonba.request import DaraRequest

from ack_compute.sandbox import SandboxCloud

ECS_VERSION = "2014-05-26"


@pytest.fixture(scope="session")
def cloud() -> Iterator[SandboxCloud]:
    with SandboxCloud() as running:
        yield running


@pytest.fixture(scope="module")
def fast_clock(cloud: SandboxCloud, request: pytest.FixtureRequest) -> Iterator[None]:
    """The shared sandbox runs the module's SCALE times faster than real time while the module runs (modules ask
    with `pytestmark = pytest.mark.usefixtures("fast_clock")`)."""
    before, cloud.time_scale = cloud.time_scale, float(request.module.SCALE)
    yield
    cloud.time_scale = before


@pytest.fixture(autouse=True)
def _no_leftover_faults(cloud: SandboxCloud) -> Iterator[None]:
    yield
    cloud.clear_faults()


@dataclass(frozen=True)
class Clients:
    """Builds real SDK clients for the sandbox; override the keys or the read timeout (ms) per client."""

    cloud: SandboxCloud

    def config(
        self, *, access_key_id: str | None = None, access_key_secret: str | None = None, read_timeout: int | None = None
    ) -> Config:
        credential = CredClient(
            CredConfig(
                type="access_key",
                access_key_id=access_key_id or self.cloud.access_key_id,
                access_key_secret=access_key_secret or self.cloud.access_key_secret,
            )
        )
        return Config(
            credential=credential,
            endpoint=self.cloud.endpoint,
            protocol="http",
            region_id="cn-hangzhou",
            read_timeout=read_timeout,
        )

    def ecs(self, **overrides: Any) -> EcsClient:
        return EcsClient(self.config(**overrides))

    def cs(self, **overrides: Any) -> CsClient:
        return CsClient(self.config(**overrides))

    def vpc(self, **overrides: Any) -> VpcClient:
        return VpcClient(self.config(**overrides))


@pytest.fixture(scope="session")
def clients(cloud: SandboxCloud) -> Clients:
    return Clients(cloud)


@pytest.fixture
def cs(clients: Clients) -> CsClient:
    """A CS client with the sandbox's keys, for the tests that speak the CS API."""
    return clients.cs()


@pytest.fixture
def ecs(clients: Clients) -> EcsClient:
    return clients.ecs()


@dataclass(frozen=True)
class RawSigner:
    """Signs a request with the SDK's own ACS3 signer, so tests can replay or tamper with it on the wire."""

    cloud: SandboxCloud

    def headers(
        self,
        action: str,
        query: dict[str, str],
        *,
        version: str = ECS_VERSION,
        method: str = "POST",
        path: str = "/",
        body: bytes = b"",
        signed_at: datetime | None = None,
    ) -> dict[str, str]:
        request = DaraRequest()
        request.method = method
        request.pathname = path
        request.query = dict(query)
        request.headers = {
            "host": self.cloud.endpoint,
            "x-acs-version": version,
            "x-acs-action": action,
            "x-acs-date": (signed_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "x-acs-signature-nonce": uuid4().hex,
            "accept": "application/json",
            "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        }
        request.headers["Authorization"] = Utils.get_authorization(
            request,
            "ACS3-HMAC-SHA256",
            request.headers["x-acs-content-sha256"],
            self.cloud.access_key_id,
            self.cloud.access_key_secret,
        )
        return request.headers

    def send(
        self,
        query: dict[str, str],
        headers: dict[str, str],
        *,
        method: str = "POST",
        path: str = "/",
        body: bytes = b"",
    ) -> httpx.Response:
        url = f"http://{self.cloud.endpoint}{path}"
        return httpx.request(method, url, params=query, headers=headers, content=body)


@pytest.fixture(scope="session")
def signer(cloud: SandboxCloud) -> RawSigner:
    return RawSigner(cloud)
