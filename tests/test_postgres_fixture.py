"""The PostgreSQL test harness itself (tests/helpers/postgres.py, scripts/postgres.sh, the fixtures in conftest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.helpers.postgres import (
    DATABASE_PREFIX,
    REPO,
    REQUIRE_VARIABLE,
    URL_VARIABLE,
    DatabaseUrl,
    PostgresServer,
    connect,
)


def tables(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        return sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_each_test_gets_a_fresh_empty_database_of_its_own(postgres_url: DatabaseUrl) -> None:
    url = make_url(postgres_url)
    assert url.drivername == "postgresql+psycopg"
    assert url.database and url.database.startswith(DATABASE_PREFIX)
    assert tables(postgres_url) == []
    engine = sa.create_engine(postgres_url)
    with engine.begin() as db:
        db.execute(sa.text("CREATE TABLE quotes (quote_id TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL)"))
        db.execute(sa.text("INSERT INTO quotes VALUES (:q, :at)"), {"q": "q-1", "at": 1.5})
    with engine.connect() as db:
        assert db.execute(sa.text("SELECT current_database()")).scalar() == url.database
        assert db.execute(sa.text("SELECT quote_id FROM quotes")).scalars().all() == ["q-1"]
    engine.dispose()
    # The role the harness hands out is not a superuser: what a test does, a team's ledger role could do.
    with connect(postgres_url) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)


def test_a_database_is_dropped_afterwards_even_with_a_session_left_open(postgres_session: PostgresServer) -> None:
    with postgres_session.database() as url:
        name = make_url(url).database
        assert name in postgres_session.databases()
        leaked = connect(url)  # a session the test forgot to close, as a crashed test's pool would
        leaked.execute("CREATE TABLE t (x INTEGER)")
    assert name not in postgres_session.databases()
    with pytest.raises(psycopg.OperationalError):
        leaked.execute("SELECT 1")
    leaked.close()
    # A second database is new and empty, not the first one reused.
    with postgres_session.database() as again:
        assert make_url(again).database != name
        assert tables(again) == []


def test_only_databases_the_harness_made_are_dropped(postgres_session: PostgresServer) -> None:
    with pytest.raises(ValueError, match="not a database this harness created"):
        postgres_session.drop_database(str(make_url(postgres_session.url).set(database="postgres")))


def test_the_password_stays_out_of_reprs_and_test_ids(
    ledger_url: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    assert request.node.name in {
        "test_the_password_stays_out_of_reprs_and_test_ids[sqlite]",
        "test_the_password_stays_out_of_reprs_and_test_ids[postgresql]",
    }
    if request.node.name.endswith("[sqlite]"):
        assert ledger_url == f"sqlite:///{request.getfixturevalue('tmp_path') / 'ledger.db'}"
        engine = sa.create_engine(ledger_url)
        with engine.begin() as db:
            db.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        engine.dispose()
        assert Path(make_url(ledger_url).database or "").is_file()
        return
    password = make_url(ledger_url).password
    assert password and len(password) >= 16
    assert password in str(ledger_url)  # the product and create_engine get the whole URL
    assert password not in repr(ledger_url)  # assertion messages and --showlocals get this
    assert "***" in repr(ledger_url)
    assert password not in repr(make_url(ledger_url))  # SQLAlchemy's own URL repr, used in its logs
    with caplog.at_level("INFO", logger="sqlalchemy"):
        engine = sa.create_engine(ledger_url, echo=True)
        with engine.connect() as db:
            db.execute(sa.text("SELECT 1"))
        engine.dispose()
    assert caplog.records and password not in caplog.text


def test_a_server_the_script_started_is_loopback_only_unprivileged_and_needs_the_password(
    postgres_session: PostgresServer, postgres_url: DatabaseUrl
) -> None:
    if postgres_session.directory is None:
        pytest.skip(f"{URL_VARIABLE} names the server; scripts/postgres.sh did not start it")
    with connect(postgres_url) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('listen_addresses', 'fsync', 'port')"
            ).fetchall()
        )
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert settings["listen_addresses"] == "127.0.0.1"
    assert settings["fsync"] == "off"  # a throwaway cluster: durability off on purpose
    assert pid is not None
    uid = next(
        line.split()[1] for line in Path(f"/proc/{pid[0]}/status").read_text().splitlines() if line.startswith("Uid:")
    )
    assert uid != "0"
    wrong = make_url(postgres_url).set(password="not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(wrong.render_as_string(hide_password=False)).close()
    env = (postgres_session.directory / "env").stat()
    assert env.st_mode & 0o077 == 0  # the file with the password is private


def _run_harness_test(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """This file's first test in a pytest of its own, with `env` steering the harness."""
    base = {k: v for k, v in os.environ.items() if k not in (URL_VARIABLE, REQUIRE_VARIABLE)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rsf",
            f"{Path(__file__).relative_to(REPO)}::test_each_test_gets_a_fresh_empty_database_of_its_own",
        ],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_no_postgresql_skips_with_a_reason_and_fails_when_required(tmp_path: Path) -> None:
    missing = {"ACK_COMPUTE_PG_BINDIR": str(tmp_path / "no-such-bindir")}
    skipped = _run_harness_test(missing)
    assert skipped.returncode == 0, skipped.stdout
    assert "1 skipped" in skipped.stdout
    assert "PostgreSQL not available: no PostgreSQL server binaries found" in skipped.stdout
    required = _run_harness_test({**missing, REQUIRE_VARIABLE: "1"})
    assert required.returncode == 1, required.stdout
    assert "1 error" in required.stdout
    assert f"{REQUIRE_VARIABLE}=1 but PostgreSQL is not available" in required.stdout
    unreachable = _run_harness_test(
        {URL_VARIABLE: "postgresql+psycopg://ack:s3cret-pw@127.0.0.1:1/ack", REQUIRE_VARIABLE: "1"}
    )
    assert unreachable.returncode == 1, unreachable.stdout
    assert "does not answer" in unreachable.stdout
    assert "s3cret-pw" not in unreachable.stdout + unreachable.stderr
