"""Process-wide test hygiene: no proxies, no cloud metadata probing, no real credentials."""

from __future__ import annotations

import logging
import os

# The Alibaba SDKs honour HTTP(S)_PROXY and ignore NO_PROXY, so loopback traffic would leave the box.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)
# The credentials chain would otherwise start a thread that polls the ECS metadata service.
os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
# Real keys on a developer's machine must never reach a test.
for _var in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN"):
    os.environ.pop(_var, None)

# The operator's own settings must not change what tests see.
_KEEP = {
    "ACK_COMPUTE_REQUIRE_REAL_KUBE",
    "ACK_COMPUTE_KUBE_CACHE",
    "ACK_COMPUTE_REQUIRE_INSPECTOR",
    "ACK_COMPUTE_INSPECTOR",
    "ACK_COMPUTE_TEST_DATABASE_URL",
    "ACK_COMPUTE_REQUIRE_POSTGRES",
    "ACK_COMPUTE_PG_BINDIR",
    "ACK_COMPUTE_PG_USER",
    "ACK_COMPUTE_REQUIRE_MCPB",
    "ACK_COMPUTE_MCPB",
}  # these steer the test suite, not the product
for _var in [v for v in os.environ if v.startswith("ACK_COMPUTE_") and v not in _KEEP] + [
    "ALIBABA_CLOUD_REGION",
    "ALIBABA_CLOUD_PROFILE",
]:
    os.environ.pop(_var, None)

from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from ack_compute.cloud.config import StaticCredentials  # noqa: E402
from ack_compute.sandbox import SandboxCloud  # noqa: E402
from ack_compute.server.runtime import Runtime  # noqa: E402
from ack_compute.server.settings import Settings  # noqa: E402
from tests.helpers.postgres import (  # noqa: E402
    REQUIRE_VARIABLE,
    DatabaseUrl,
    PostgresServer,
    Unavailable,
    postgres_server,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLI configures the root logger for its process; in process, hand it back as it was."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    libraries = [logging.getLogger(n) for n in ("uvicorn.error", "alembic", "httpx", "credentials")]
    kept = [(logger.level, logger.filters[:]) for logger in libraries]
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for logger, (was, filters) in zip(libraries, kept, strict=True):
        logger.setLevel(was)
        logger.filters[:] = filters


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 0 for the test: whatever the server writes is private by its own chmod, not by the process's umask."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture(scope="module")
def fast_cloud() -> Iterator[SandboxCloud]:
    """A sandbox of the module's own at 2000x: node pools and their nodes come and go in well under a second."""
    with SandboxCloud(time_scale=2000) as cloud:
        yield cloud


@pytest.fixture(scope="session")
def sandbox_session() -> Iterator[SandboxCloud]:
    with SandboxCloud() as cloud:
        yield cloud


@pytest.fixture
def cloud(sandbox_session: SandboxCloud) -> Iterator[SandboxCloud]:
    """The shared sandbox with fresh counters and no faults left over from another test."""
    sandbox_session.clear_faults()
    sandbox_session.reset_counts()
    yield sandbox_session
    sandbox_session.clear_faults()


class RuntimeFactory:
    """Builds a server's services wired to the sandbox through the real SDKs."""

    def __init__(self, cloud: SandboxCloud, state_dir: Path) -> None:
        self.cloud = cloud
        self.state_dir = state_dir

    def settings(self, **overrides: object) -> Settings:
        fields: dict[str, object] = {
            "region": "cn-hangzhou",
            "state_dir": self.state_dir,
            "endpoint": self.cloud.endpoint,
            "protocol": "http",
        }
        return Settings(**{**fields, **overrides})

    def __call__(self, secret: str | None = None, **overrides: object) -> Runtime:
        credentials = StaticCredentials(
            access_key_id=self.cloud.access_key_id, access_key_secret=secret or self.cloud.access_key_secret
        )
        return Runtime.build(self.settings(**overrides), credentials)


@pytest.fixture
def make_runtime(cloud: SandboxCloud, tmp_path: Path) -> RuntimeFactory:
    return RuntimeFactory(cloud, tmp_path)


@pytest.fixture
def runtime(make_runtime: RuntimeFactory) -> Runtime:
    """A server's services on the sandbox with a private state dir."""
    return make_runtime()


@pytest.fixture
def runtime_on(tmp_path: Path) -> Callable[..., Runtime]:
    """Services wired to a given sandbox; every call shares this test's state dir, like servers sharing one."""

    def build(cloud: SandboxCloud, **overrides: object) -> Runtime:
        return RuntimeFactory(cloud, tmp_path)(**overrides)

    return build


@pytest.fixture
def world() -> Iterator[SandboxCloud]:
    """A cloud of its own with a clock 600x faster: a 6-minute cluster takes well under a second."""
    with SandboxCloud(time_scale=600) as cloud:
        yield cloud


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: runs against a real PostgreSQL (`-m postgres` runs just those)")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        if {"postgres_session", "postgres_url"} & set(getattr(item, "fixturenames", ())) or (
            params.get("ledger_url") == "postgresql"
        ):
            item.add_marker(pytest.mark.postgres)
        # Under pytest-xdist (--dist loadgroup) a file stays on one worker, as its module fixtures expect, and
        # every scenario against the real kube-apiserver shares one worker, so one control plane starts, not two.
        group = "real-kube" if params.get("backend") == "real" else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def postgres_session() -> Iterator[PostgresServer]:
    """One PostgreSQL for the session (ACK_COMPUTE_TEST_DATABASE_URL's, or one scripts/postgres.sh starts and
    stops); skipped when there is none, a failure when ACK_COMPUTE_REQUIRE_POSTGRES=1 (as in CI)."""
    try:
        with postgres_server() as server:
            yield server
    except Unavailable as exc:
        if os.environ.get(REQUIRE_VARIABLE) == "1":
            pytest.fail(f"{REQUIRE_VARIABLE}=1 but PostgreSQL is not available: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")


@pytest.fixture
def postgres_url(postgres_session: PostgresServer) -> Iterator[DatabaseUrl]:
    """The SQLAlchemy URL (postgresql+psycopg://) of a fresh empty database of this test's own, dropped after."""
    with postgres_session.database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a ledger lives, once per backend: a SQLite file in tmp_path (a `sqlite:///` URL) or a fresh
    PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("postgres_url")
