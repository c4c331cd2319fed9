"""The ledger's schema history, run by Alembic from code (no alembic.ini: the server opens its own ledger).

Revisions 0001-0007 are the hand-written migrations that shipped before Alembic, one for one: a SQLite ledger made
by those versions says how far it got in `PRAGMA user_version`, and is stamped at that revision, then upgraded.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

HERE = Path(__file__).parent


def config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = conn
    return cfg


def head() -> str:
    return str(ScriptDirectory.from_config(config()).get_current_head())


def current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(conn: Connection) -> str:
    """Bring the ledger on `conn` (inside the caller's exclusive transaction) to the newest schema; its revision."""
    cfg = config(conn)
    if conn.dialect.name == "sqlite" and not sa.inspect(conn).has_table("alembic_version"):
        legacy = int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
        if legacy:
            command.stamp(cfg, f"{legacy:04d}")
    if current(conn) != head():
        command.upgrade(cfg, "head")
    return head()
