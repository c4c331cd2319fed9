"""The ledger's schema history (Alembic) on both backends: a fresh ledger, an old SQLite file upgraded in place,
replicas opening one database at once, and what a bad database URL says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ack_compute.tools.ledger import Ledger, LedgerError
from ack_compute.tools.ledger_migrations import head
from tests.helpers.legacy_ledger import LEGACY_MIGRATIONS, legacy_ledger
from tests.helpers.racing import at_once


def shape(ledger: Ledger) -> dict[str, Any]:
    """What a query can rely on: every table's columns (name, nullable; a primary key never holds NULL, though an
    old SQLite file does not say so) and its indexes (name, columns, unique)."""
    inspector = sa.inspect(ledger.engine)
    out: dict[str, Any] = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version", "sqlite_sequence"}):
        keys = set(inspector.get_pk_constraint(table)["constrained_columns"])
        out[table] = {
            "columns": sorted(
                (c["name"], bool(c["nullable"]) and c["name"] not in keys) for c in inspector.get_columns(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)
            ),
        }
    return out


def test_a_fresh_ledger_is_at_the_newest_revision_with_the_same_shape_on_both_backends(
    ledger_url: str, tmp_path: Path
) -> None:
    ledger = Ledger(ledger_url)
    assert ledger.schema == head()
    assert shape(ledger) == shape(Ledger(tmp_path / "reference.sqlite3"))
    assert set(shape(ledger)) == {
        "quotes", "quote_redemptions", "operations", "resources", "consents", "log_cursors",
        "leases", "lease_extensions", "receipts", "replicas", "singletons",
    }  # fmt: skip


@pytest.mark.parametrize("version", range(1, len(LEGACY_MIGRATIONS) + 1))
def test_a_ledger_made_before_alembic_upgrades_in_place_keeping_its_rows(tmp_path: Path, version: int) -> None:
    path = tmp_path / "ledger.sqlite3"
    db = legacy_ledger(path, version)
    db.execute(
        "INSERT INTO quotes (quote_id, plan_digest, plan_json, kind, region, currency, hourly, total, issued_at,"
        " expires_at) VALUES ('q-old', 'd', '{}', 'acs', 'cn-hangzhou', 'CNY', '0.5', '1', 1, 2)"
    )
    if version >= 2:
        db.execute(
            "INSERT INTO resources (operation_id, kind, region, name, origin, state, created_at, updated_at)"
            " VALUES ('op-old', 'cluster', 'cn-hangzhou', 'acf-old', 'created', 'ready', 0, 0)"
        )
    db.close()
    ledger = Ledger(path)
    assert ledger.schema == head()
    assert shape(ledger) == shape(Ledger(tmp_path / "fresh.sqlite3"))
    assert [dict(r) for r in ledger.query("SELECT quote_id, hourly FROM quotes")] == [
        {"quote_id": "q-old", "hourly": "0.5"}
    ]
    if version >= 2:
        (row,) = ledger.query("SELECT name, owner, state FROM resources")
        assert dict(row) == {"name": "acf-old", "owner": "", "state": "ready"}  # the local operator's, as before
    with ledger.transaction() as tx:  # new ids continue after the old ones, never reuse them
        tx.execute(
            "INSERT INTO resources (operation_id, kind, region, name, origin, state, created_at, updated_at)"
            " VALUES ('op-new', 'cluster', 'cn-hangzhou', 'acf-new', 'created', 'intent', 0, 0)"
        )
    ids = [r["resource_id"] for r in ledger.query("SELECT resource_id FROM resources ORDER BY resource_id")]
    assert ids == ([1, 2] if version >= 2 else [1])


def test_replicas_starting_together_on_one_database_migrate_it_once(ledger_url: str) -> None:
    schemas = at_once(range(4), lambda _i, _item: lambda: Ledger(ledger_url).schema)
    assert schemas == [head()] * 4
    revisions = Ledger(ledger_url).query("SELECT version_num FROM alembic_version")
    assert [r["version_num"] for r in revisions] == [head()]


def test_a_url_for_another_database_is_refused_in_plain_words() -> None:
    with pytest.raises(LedgerError, match="runs on SQLite or PostgreSQL, not mysql: fix ACK_COMPUTE_DATABASE_URL"):
        Ledger("mysql://root:hunter2@db.example/ledger")
    with pytest.raises(LedgerError, match="is not a database URL") as err:
        Ledger("hunter2")
    assert "hunter2" not in str(err.value)


def test_an_unreachable_database_says_where_without_its_password(postgres_url: str) -> None:
    url = sa.make_url(str(postgres_url)).set(port=1, password="s3cret-pw")  # nothing listens on port 1
    with pytest.raises(LedgerError) as err:
        Ledger(url.render_as_string(hide_password=False))
    message = str(err.value)
    assert message.startswith("cannot open the ledger at postgresql+psycopg://")
    assert "127.0.0.1:1" in message and "s3cret-pw" not in message and "***" in message
