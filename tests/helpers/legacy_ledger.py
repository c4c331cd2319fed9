"""The ledger as versions before Alembic left it: their hand-written migrations, frozen here (copied from
tools/ledger.py as it shipped with PRAGMA user_version 7) so the in-place upgrade is tested on real old files."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

# Entry i took the schema from PRAGMA user_version i to i+1.
LEGACY_MIGRATIONS: list[str] = [
    """
    CREATE TABLE quotes (
        quote_id     TEXT PRIMARY KEY,
        plan_digest  TEXT NOT NULL,
        plan_json    TEXT NOT NULL,
        kind         TEXT NOT NULL,
        region       TEXT NOT NULL,
        currency     TEXT NOT NULL,
        hourly       TEXT NOT NULL,
        total        TEXT NOT NULL,
        issued_at    REAL NOT NULL,
        expires_at   REAL NOT NULL
    );
    CREATE TABLE quote_redemptions (
        quote_id     TEXT PRIMARY KEY,
        plan_digest  TEXT NOT NULL,
        outcome      TEXT NOT NULL CHECK (outcome IN ('redeemed', 'declined')),
        at           REAL NOT NULL,
        note         TEXT NOT NULL DEFAULT ''
    );
    """,
    """
    CREATE TABLE operations (
        operation_id  TEXT PRIMARY KEY,
        kind          TEXT NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed')),
        stage         TEXT NOT NULL DEFAULT '',
        progress      REAL NOT NULL DEFAULT 0,
        message       TEXT NOT NULL DEFAULT '',
        params_json   TEXT NOT NULL,
        result_json   TEXT,
        error         TEXT,
        quote_id      TEXT,
        requested_by  TEXT NOT NULL DEFAULT '',
        owner_pid     INTEGER,
        created_at    REAL NOT NULL,
        updated_at    REAL NOT NULL
    );
    CREATE TABLE resources (
        resource_id   INTEGER PRIMARY KEY AUTOINCREMENT,
        operation_id  TEXT NOT NULL,
        kind          TEXT NOT NULL,
        region        TEXT NOT NULL,
        name          TEXT NOT NULL,
        cloud_id      TEXT,
        origin        TEXT NOT NULL CHECK (origin IN ('created', 'reused')),
        state         TEXT NOT NULL,
        client_token  TEXT,
        details_json  TEXT NOT NULL DEFAULT '{}',
        created_at    REAL NOT NULL,
        updated_at    REAL NOT NULL
    );
    CREATE UNIQUE INDEX one_live_creation_per_name ON resources (kind, region, name)
        WHERE origin = 'created' AND state IN ('intent', 'creating', 'ready');
    CREATE INDEX resources_by_cloud_id ON resources (cloud_id);
    """,
    """
    ALTER TABLE quotes ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE operations ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE operations ADD COLUMN owner_admin INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE resources ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    CREATE INDEX resources_by_owner ON resources (owner);
    """,
    # The quote that pays for a resource (its hourly price counts against the caps while the row is live), and
    # the person's answers: a purchase goes ahead only on an answer recorded here, never on one inferred.
    """
    ALTER TABLE resources ADD COLUMN quote_id TEXT;
    CREATE TABLE consents (
        consent_id   TEXT PRIMARY KEY,
        quote_id     TEXT NOT NULL,
        caller       TEXT NOT NULL,
        plan_digest  TEXT NOT NULL,
        answer       TEXT NOT NULL CHECK (answer IN ('accepted', 'declined', 'not_asked')),
        how          TEXT NOT NULL,
        at           REAL NOT NULL
    );
    """,
    # Cancellation (the operation stops at its next step; a cancelled one keeps state 'failed' with outcome
    # 'cancelled', so every check of "did it fail" still holds) and the per-caller cursor into a running job's log.
    """
    ALTER TABLE operations ADD COLUMN cancel_requested_by TEXT;
    ALTER TABLE operations ADD COLUMN outcome TEXT;
    CREATE TABLE log_cursors (
        operation_id TEXT NOT NULL,
        caller       TEXT NOT NULL,
        pod          TEXT NOT NULL,
        lines        INTEGER NOT NULL,
        PRIMARY KEY (operation_id, caller)
    );
    """,
    # Leases: what a quote's hours bound. One per purchased row (the row the redemption claimed or repointed);
    # an extension moves `ends_at` and is recorded by the quote that paid for it. Receipts: the append-only
    # record of every consent, purchase, extension and lease end (triggers refuse UPDATE and DELETE).
    """
    CREATE TABLE leases (
        resource_id      INTEGER PRIMARY KEY,
        operation_id     TEXT NOT NULL,
        quote_id         TEXT NOT NULL,
        owner            TEXT NOT NULL,
        currency         TEXT NOT NULL,
        hourly           TEXT NOT NULL,
        starts_at        REAL NOT NULL,
        ends_at          REAL NOT NULL,
        state            TEXT NOT NULL CHECK (state IN ('active', 'ending', 'ended', 'released')),
        ended_at         REAL,
        end_operation_id TEXT,
        note             TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX leases_due ON leases (state, ends_at);
    CREATE INDEX leases_by_owner ON leases (owner, state);
    CREATE TABLE lease_extensions (
        quote_id     TEXT PRIMARY KEY,
        resource_id  INTEGER NOT NULL,
        hours        REAL NOT NULL,
        old_ends_at  REAL NOT NULL,
        new_ends_at  REAL NOT NULL,
        at           REAL NOT NULL
    );
    CREATE TABLE receipts (
        receipt_id    INTEGER PRIMARY KEY AUTOINCREMENT,
        at            REAL NOT NULL,
        event         TEXT NOT NULL,
        caller        TEXT NOT NULL,
        quote_id      TEXT,
        operation_id  TEXT,
        resource_id   INTEGER,
        body_json     TEXT NOT NULL
    );
    CREATE INDEX receipts_by_time ON receipts (at);
    CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts
        BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
    CREATE TRIGGER receipts_no_delete BEFORE DELETE ON receipts
        BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
    """,
    # The reaper's bookkeeping on a lease: which process is ending it (a crash between taking the lease and
    # starting its cleanup is seen by that process being gone), how many times ending it failed, and when it may
    # be tried again (a failed delete is retried with a growing wait, never in a tight loop).
    """
    ALTER TABLE leases ADD COLUMN ender_pid INTEGER;
    ALTER TABLE leases ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE leases ADD COLUMN retry_at REAL;
    """,
]


def _statements(script: str) -> Iterator[str]:
    """A script's statements one by one (a trigger's body holds `;` too): `executescript` would commit the
    migration's transaction half-way."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""


def legacy_ledger(path: Path, version: int) -> sqlite3.Connection:
    """A SQLite ledger exactly as a version that had run migrations 1..`version` made it (open; commit and close)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    for script in LEGACY_MIGRATIONS[:version]:
        for statement in _statements(script):
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {version}")
    db.execute("COMMIT")
    return db
