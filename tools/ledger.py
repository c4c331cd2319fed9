"""The ownership ledger: one SQLite file in the state dir, shared safely by threads and processes.

WAL lets readers proceed while one writer commits; `BEGIN IMMEDIATE` takes the write lock up
front so check-then-insert sequences are atomic across servers sharing the state dir.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("ack_compute.ledger")

# Each entry migrates the schema from version i to i+1; never edit a shipped entry, append.
_MIGRATIONS: list[str] = [
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
    # Several replicas on one ledger (tools/replicas.py): pids mean nothing across machines, so work is held by a
    # replica (a random id per process start) until `held_until`, renewed by its heartbeat and taken over by a
    # compare-and-set once it lapses. `replicas` names each replica for people (host, pid) and lets a replica on
    # the same machine see at once that a holder's process is gone; `singletons` holds once-only work (the
    # reaper's look, resuming what nobody holds). A lease being ended is held the same way (`ender`).
    """
    ALTER TABLE operations ADD COLUMN holder TEXT;
    ALTER TABLE operations ADD COLUMN held_until REAL;
    CREATE INDEX operations_by_state ON operations (state, kind);
    ALTER TABLE leases ADD COLUMN ender TEXT;
    ALTER TABLE leases ADD COLUMN ender_until REAL;
    CREATE TABLE replicas (
        replica_id  TEXT PRIMARY KEY,
        hostname    TEXT NOT NULL,
        pid         INTEGER NOT NULL,
        machine     TEXT NOT NULL,
        started_at  REAL NOT NULL
    );
    CREATE TABLE singletons (
        name        TEXT PRIMARY KEY,
        holder      TEXT NOT NULL,
        held_until  REAL NOT NULL
    );
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


def secure_state_dir(state_dir: Path) -> None:
    """The state dir holds every caller's plans and job output and the quote secret: 0700, and every file in
    it 0600, whatever the umask; looser modes left by an older version or a hand are tightened on start."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _tighten(state_dir, 0o700)
    with os.scandir(state_dir) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                _tighten(Path(entry.path), 0o600)


def _tighten(path: Path, owner_bits: int) -> None:
    current = stat.S_IMODE(path.lstat().st_mode)
    wanted = (current & 0o700) | owner_bits
    if wanted != current:
        try:
            os.chmod(path, wanted)
        except OSError as exc:  # not ours (another user's file): say so, never fail the start over it
            log.warning("cannot restrict %s to mode %04o: %s", path, wanted, exc.strerror)


def create_private(path: Path) -> None:
    """Create `path` (if absent) readable by this user only, whatever the umask. SQLite gives its -wal, -shm and
    -journal files the database file's mode (sqlite os_unix.c findCreateFileMode, then fchmod in robust_open)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


class Ledger:
    """Connections are per thread; every write goes through `transaction()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        secure_state_dir(path.parent)
        create_private(path)
        self._local = threading.local()
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                for statement in _statements(script):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=10000")
            self._local.db = db
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        return self._connection().execute(sql, params).fetchall()
