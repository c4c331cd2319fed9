"""A team's settings checked before anything serves: a shared ledger needs a shared quote secret, and a database
that cannot be reached (or is no database) stops the start with one line that never shows its password."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers.processes import serve_once

SECRET = "s" * 40


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return serve_once("--sandbox", env={**os.environ, "ACK_COMPUTE_STATE_DIR": str(tmp_path / "state"), **env})


def test_a_shared_ledger_without_a_shared_quote_secret_is_refused(tmp_path: Path) -> None:
    done = serve(tmp_path, ACK_COMPUTE_DATABASE_URL="postgresql+psycopg://ack:pw-9f3k@127.0.0.1:1/ledger")
    assert done.returncode == 2 and done.stdout == ""
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ack-compute-mcp: not serving: ACK_COMPUTE_DATABASE_URL is set but ACK_COMPUTE_QUOTE_SECRET")
    assert "pw-9f3k" not in done.stderr
    assert not (tmp_path / "state" / "ledger.sqlite3").exists()  # no fallback to a ledger of its own


def test_an_unreachable_database_stops_the_start_without_its_password(tmp_path: Path) -> None:
    done = serve(
        tmp_path,
        ACK_COMPUTE_DATABASE_URL="postgresql+psycopg://ack:pw-9f3k@127.0.0.1:1/ledger",
        ACK_COMPUTE_QUOTE_SECRET=SECRET,
    )
    assert done.returncode == 2 and done.stdout == ""
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ack-compute-mcp: cannot open the ledger at postgresql+psycopg://ack:***@127.0.0.1:1/ledger")
    assert "pw-9f3k" not in done.stderr and "Traceback" not in done.stderr


def test_a_url_of_another_database_says_what_to_use(tmp_path: Path) -> None:
    done = serve(tmp_path, ACK_COMPUTE_DATABASE_URL="mysql://root:pw-9f3k@db/ledger", ACK_COMPUTE_QUOTE_SECRET=SECRET)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "ack-compute-mcp: the ledger runs on SQLite or PostgreSQL, not mysql: fix ACK_COMPUTE_DATABASE_URL."
    )
