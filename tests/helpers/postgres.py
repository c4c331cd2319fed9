"""A real PostgreSQL for the tests: one server per session, one fresh empty database per test.

The server is ACK_COMPUTE_TEST_DATABASE_URL's (its role needs CREATEDB) or one that scripts/postgres.sh starts in
a temporary directory. Isolation is a database per test, created from template0 and dropped WITH (FORCE)
afterwards: about 75 ms a test on the script's server (FILE_COPY; 95 ms with PostgreSQL 15's default WAL_LOG).
A schema per test costs under 1 ms but is not isolation enough: advisory locks, sessions a test leaks and
settings are per database, and the product would see a URL shaped unlike a team's (search_path in options).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL, make_url

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "postgres.sh"
URL_VARIABLE = "ACK_COMPUTE_TEST_DATABASE_URL"
REQUIRE_VARIABLE = "ACK_COMPUTE_REQUIRE_POSTGRES"
# Databases this harness makes carry this prefix, so a leftover one is recognisably a test's.
DATABASE_PREFIX = "ack_test_"


class DatabaseUrl(str):
    """A SQLAlchemy URL string whose repr hides the password, so assertion messages, test ids and logs that
    print it never carry it; str() is the full URL for create_engine and the product."""

    def __repr__(self) -> str:
        return repr(masked(self))


def masked(url: str | URL) -> str:
    """The URL with its password replaced by ***."""
    return make_url(str(url)).render_as_string(hide_password=True)


def connect(url: str | URL, *, database: str | None = None) -> psycopg.Connection:
    """An autocommit psycopg connection to `url` (or to another `database` on the same server)."""
    u = make_url(str(url))
    return psycopg.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username,
        password=u.password,
        dbname=database or u.database or "postgres",
        autocommit=True,
        connect_timeout=10,
    )


class Unavailable(Exception):
    """No PostgreSQL for the tests; the message says how to get one."""


@dataclass
class PostgresServer:
    """A server the session may create databases on, through `url`'s role."""

    url: DatabaseUrl
    directory: Path | None  # set when scripts/postgres.sh started it (then this session stops it)
    file_copy: bool = False  # CREATE DATABASE ... STRATEGY FILE_COPY: PostgreSQL 15+, cheaper with fsync off

    def __post_init__(self) -> None:
        with connect(self.url) as conn:
            row = conn.execute("SELECT current_setting('server_version_num')::int, current_setting('fsync')").fetchone()
        assert row is not None
        # FILE_COPY checkpoints twice; with fsync on (someone's own server) WAL_LOG is the cheaper choice.
        self.file_copy = row[0] >= 150000 and row[1] == "off"

    def create_database(self) -> DatabaseUrl:
        """A new empty database owned by the session's role; its URL."""
        name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:16]}"
        strategy = " STRATEGY FILE_COPY" if self.file_copy else ""
        with connect(self.url) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0{strategy}')  # type: ignore[arg-type]
        return DatabaseUrl(make_url(str(self.url)).set(database=name).render_as_string(hide_password=False))

    def drop_database(self, url: str) -> None:
        """Drop a database create_database made, ending any session a test left open on it."""
        name = make_url(url).database or ""
        if not name.startswith(DATABASE_PREFIX):
            raise ValueError(f"refusing to drop {name!r}: not a database this harness created")
        with connect(self.url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]

    def databases(self) -> set[str]:
        with connect(self.url) as conn:
            return {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate")}

    @contextmanager
    def database(self) -> Iterator[DatabaseUrl]:
        url = self.create_database()
        try:
            yield url
        finally:
            self.drop_database(url)


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120, env=dict(os.environ))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """The session's server: ACK_COMPUTE_TEST_DATABASE_URL's, else one scripts/postgres.sh starts and stops.

    Raises Unavailable with what to do when neither is possible."""
    given = os.environ.get(URL_VARIABLE)
    if given:
        try:
            server = PostgresServer(DatabaseUrl(given), None)
        except psycopg.OperationalError as exc:
            raise Unavailable(f"{URL_VARIABLE} ({masked(given)}) does not answer: {exc}") from None
        yield server
        return
    if _script("check").returncode != 0:
        raise Unavailable(
            "no PostgreSQL server binaries found: install them with scripts/postgres.sh install, "
            f"or set {URL_VARIABLE} to a server whose role may create databases"
        )
    # Under /tmp, not pytest's tmp_path: as root the server runs as an unprivileged user, which cannot enter
    # pytest's 0700 /tmp/pytest-of-root.
    directory = Path(tempfile.mkdtemp(prefix="ack-pg-"))
    try:
        started = _script("start", str(directory), str(_free_port()))
        if started.returncode != 0:
            raise Unavailable(f"scripts/postgres.sh start failed:\n{started.stderr[-3000:]}")
        url = _script("url", str(directory)).stdout.strip()
        yield PostgresServer(DatabaseUrl(url), directory)
    finally:
        _script("stop", str(directory))
        shutil.rmtree(directory, ignore_errors=True)
