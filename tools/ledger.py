"""The ownership ledger: SQLAlchemy Core over SQLite (one file in the state dir, the default) or PostgreSQL (a
team's replicas sharing one database through `ACK_COMPUTE_DATABASE_URL`).

Every write goes through `transaction()`, which serialises writers the same way on both: SQLite's
`BEGIN IMMEDIATE` takes the write lock up front, PostgreSQL takes one transaction-scoped advisory lock. The
check-then-insert sequences (a quote paid once, the caps, one live creation per name) are therefore atomic across
threads, processes and replicas, and reads never wait. SQL is text both dialects speak, with named parameters;
the schema's history is Alembic's (tools/ledger_migrations), so an existing ledger upgrades in place.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.pool import QueuePool

from ack_compute.tools.errors import AckComputeError, CloudKind, CloudMismatch

log = logging.getLogger("ack_compute.ledger")

LEDGER_FILE = "ledger.sqlite3"  # in the state dir, unless the operator gives a database URL
Params = Mapping[str, Any]
Row = RowMapping  # a row by column name, the same on both dialects

# One number every replica agrees on: the advisory lock that makes a PostgreSQL write transaction exclusive, as
# BEGIN IMMEDIATE does on SQLite. Any bigint works; this is "ackcmcp1" read as ASCII.
_WRITE_LOCK = 0x61636B636D637031
# How long a writer waits for that lock before it is refused, as SQLite's busy_timeout below; and how long a
# transaction may sit idle holding it (a replica stopped or cut off mid-transaction) before PostgreSQL ends it.
# Without them one stuck replica blocked every write of every replica for good (tests/security/test_replica_attacks).
# Every write transaction is a few statements with no cloud call inside, so both are far above what one needs.
# A server passes its operation lease as the idle bound when that is shorter: a replica frozen mid-transaction then
# lets go of the lock no later than of its holds, so the takeover bound (lease + heartbeat) holds for it too.
LOCK_WAIT_MS = 10_000
IDLE_IN_TRANSACTION_MS = 30_000
_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout (errcodes.txt, lock_not_available)
# Rows that are records of a cloud (what was quoted, run, created, leased, paid for). An unmarked ledger holding any
# was written before ledgers were marked with their cloud; it is taken for the real cloud's, whose servers a
# persistent ledger was made for (the sandbox kept a throwaway one unless the operator named a state dir).
_CLOUD_RECORDS = ("quotes", "operations", "resources", "leases", "receipts")


class LedgerError(Exception):
    """The ledger could not be opened or used (a bad URL, an unreachable database, a missing driver)."""


class LedgerBusy(LedgerError, AckComputeError):
    """Another writer held the ledger's write lock longer than a writer waits: refused with nothing written."""

    def __init__(self) -> None:
        AckComputeError.__init__(
            self,
            f"The ledger is busy: another server replica held its write lock for over {LOCK_WAIT_MS // 1000} s, so "
            "nothing was done.",
            "Try again in a minute. If it persists, the operator should look for a replica stuck in a transaction "
            "(pg_stat_activity).",
        )


class Conflict(LedgerError):
    """A uniqueness rule of the ledger refused a write: the quote was redeemed already, the name is being created."""


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


class Rows:
    """What one statement returned: rows by column name (the same on both dialects) and the rows it changed."""

    def __init__(self, result: sa.CursorResult[Any]) -> None:
        self.rowcount = result.rowcount
        self._rows: list[Row] = list(result.mappings()) if result.returns_rows else []

    def fetchone(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Row]:
        return self._rows

    def scalar(self) -> Any:
        return next(iter(self._rows[0].values())) if self._rows else None


class Db:
    """One open connection of the ledger (inside `transaction()`, or one `query`)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.dialect = conn.dialect.name

    def execute(self, sql: str, params: Params | None = None) -> Rows:
        try:
            return Rows(self._conn.execute(sa.text(sql), dict(params or {})))
        except exc.IntegrityError as error:
            raise Conflict(_first_line(error.orig)) from None


def _busy(error: BaseException | None) -> bool:
    """The write lock was not had in time: PostgreSQL's lock_timeout (SQLSTATE 55P03), or SQLite's busy timeout."""
    return getattr(error, "sqlstate", None) == _LOCK_NOT_AVAILABLE or "database is locked" in str(error)


def _first_line(error: BaseException | None) -> str:
    return str(error).splitlines()[0] if error is not None and str(error) else "a uniqueness rule refused the write"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def redacted(url: Path | str) -> str:
    """Where a ledger is, as logs and `doctor` may show it: never the password."""
    if isinstance(url, Path):
        return str(url)
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "(not a database URL)"


class Ledger:
    """Opened once per process (connections are pooled per engine); `close()` releases them."""

    def __init__(self, target: Path | str, *, idle_seconds: float | None = None) -> None:
        """`idle_seconds`: how long a PostgreSQL write transaction may sit idle before it is ended (at most
        IDLE_IN_TRANSACTION_MS); servers pass their operation lease."""
        self.idle_ms = (
            IDLE_IN_TRANSACTION_MS if idle_seconds is None else min(IDLE_IN_TRANSACTION_MS, int(idle_seconds * 1000))
        )
        if isinstance(target, str) and target.startswith("sqlite:///"):
            target = Path(target.removeprefix("sqlite:///"))  # a file like the default one, made private the same way
        if isinstance(target, Path):
            secure_state_dir(target.parent)
            create_private(target)
            url = sqlite_url(target)
        else:
            url = target
        self.url = url
        self.path: Path | None = target if isinstance(target, Path) else None
        try:
            parsed = sa.make_url(url)
        except exc.ArgumentError:
            raise LedgerError(
                f"{redacted(url)} is not a database URL; use postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB"
                " or leave ACK_COMPUTE_DATABASE_URL unset for the SQLite file in the state dir"
            ) from None
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise LedgerError(
                f"the ledger runs on SQLite or PostgreSQL, not {self.dialect}: fix ACK_COMPUTE_DATABASE_URL"
            )
        if self.dialect == "postgresql" and parsed.get_driver_name() != "psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
        self._local = threading.local()
        from ack_compute.tools.ledger_migrations import upgrade

        try:
            self.engine = _engine(parsed)
            with self._begin() as conn:
                self.schema = upgrade(conn)
        except (exc.NoSuchModuleError, ModuleNotFoundError):
            raise LedgerError(f"no driver for {redacted(url)}: install ack-compute-mcp[postgres]") from None
        except exc.DBAPIError as error:
            raise LedgerError(f"cannot open the ledger at {redacted(url)}: {_first_line(error.orig)}") from None

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        try:
            with self.engine.connect().execution_options(ledger_write=True) as conn, conn.begin():
                if self.dialect == "postgresql":
                    conn.execute(sa.text(f"SET LOCAL lock_timeout = {LOCK_WAIT_MS}"))
                    conn.execute(sa.text(f"SET LOCAL idle_in_transaction_session_timeout = {self.idle_ms}"))
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _WRITE_LOCK})
                yield conn
        except exc.OperationalError as error:
            if _busy(error.orig):
                raise LedgerBusy from None
            raise

    @contextmanager
    def transaction(self) -> Iterator[Db]:
        """One write transaction, exclusive among every writer of this ledger; a `query` on this thread meanwhile
        reads through it (and so sees its uncommitted writes)."""
        if getattr(self._local, "db", None) is not None:
            raise LedgerError("a ledger transaction is already open on this thread")
        with self._begin() as conn:
            self._local.db = Db(conn)
            try:
                yield self._local.db
            finally:
                self._local.db = None

    def query(self, sql: str, params: Params | None = None) -> list[Row]:
        current: Db | None = getattr(self._local, "db", None)
        if current is not None:
            return current.execute(sql, params).fetchall()
        with self.engine.connect() as conn:
            rows = Db(conn).execute(sql, params).fetchall()
            conn.rollback()
            return rows

    def belong_to(self, cloud: CloudKind) -> None:
        """A ledger's records are of one cloud: the first server on it marks which; a server of the other is refused
        (CloudMismatch), so sandbox spend never counts as real and neither cloud's server acts on the other's."""
        with self.transaction() as db:
            marked = self._cloud_mark()
            if (refusal := self._refusal(cloud, marked)) is not None:
                raise refusal
            if marked is None:
                if cloud == "alibaba-cloud" and self._has_cloud_records():
                    # Only a ledger a sandbox server of an earlier version wrote to could hold sandbox rows here.
                    log.warning(
                        "the ledger at %s holds records from before ledgers were marked with their cloud: taken for "
                        "the real Alibaba Cloud's. If a sandbox server ever used it, its quotes and spend now count "
                        "as real.",
                        redacted(self.path or self.url),
                    )
                db.execute(
                    "INSERT INTO ledger_facts (name, value, updated_at) VALUES ('cloud', :cloud, :now)",
                    {"cloud": cloud, "now": time.time()},
                )

    def refusal(self, cloud: CloudKind) -> CloudMismatch | None:
        """Why a server of `cloud` may not use this ledger, or None; reads only (`doctor` asks without marking)."""
        return self._refusal(cloud, self._cloud_mark())

    def _refusal(self, cloud: CloudKind, marked: str | None) -> CloudMismatch | None:
        where = redacted(self.path or self.url)
        if marked is not None:
            return None if marked == cloud else CloudMismatch(where, marked, cloud)
        if cloud == "sandbox" and self._has_cloud_records():
            return CloudMismatch(where, "alibaba-cloud", cloud, unmarked=True)
        return None

    def _cloud_mark(self) -> str | None:
        rows = self.query("SELECT value FROM ledger_facts WHERE name = 'cloud'")
        return str(rows[0]["value"]) if rows else None

    def _has_cloud_records(self) -> bool:
        return any(self.query(f"SELECT 1 FROM {t} LIMIT 1") for t in _CLOUD_RECORDS)

    def close(self) -> None:
        self.engine.dispose()


def _engine(url: sa.URL) -> Engine:
    if url.get_backend_name() == "postgresql":
        # pre_ping: a replica outlives database restarts and failovers without serving one failed request.
        return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=20)
    # Pooled like PostgreSQL's (kept connections keep the WAL open: no checkpoint on every close); never a wait for
    # a free connection, since SQLite's own lock is what orders writers.
    engine = sa.create_engine(url, poolclass=QueuePool, pool_size=8, max_overflow=-1, connect_args={"timeout": 10.0})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver's own BEGIN is off: ours below says which kind
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("ledger_write") else "BEGIN")

    return engine
