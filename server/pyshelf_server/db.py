"""The database layer: declarative base, engine set-up, the server state row and its reader.

Sessions and transactions are the unit of work's (:mod:`.unit_of_work`): every read and write
goes through one, and a write's commit bumps the serial kept here in ``server_state``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    MetaData,
    String,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC in the database and always hands out aware UTC datetimes.

    SQLite has no time zones, PostgreSQL's ``timestamp without time zone`` neither; keeping the
    conversion here means no other module ever compares naive with aware datetimes.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_token() -> str:
    return uuid.uuid4().hex


class ServerState(Base):
    """One row holding the server-wide counters.

    ``serial`` is devpi's ``X-Devpi-Serial``: it grows by one with every committed write.
    ``state_token`` and ``config_token`` are random and change with every write (resp. every change
    to users' indexes); caches compare them, so a rolled-back transaction can never make a cache
    believe it saw a state that was later reused by another transaction.
    """

    __tablename__ = "server_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(32))
    serial: Mapped[int] = mapped_column(Integer, default=0)
    state_token: Mapped[str] = mapped_column(String(32), default=new_token)
    config_token: Mapped[str] = mapped_column(String(32), default=new_token)
    users_token: Mapped[str] = mapped_column(
        String(32), default=new_token, server_default="initial"
    )
    last_commit: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Signs login tokens; shared by every server process on this database.
    secret: Mapped[str | None] = mapped_column(String(100), nullable=True)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


class CommitCounter:
    """Changes its ``value`` after every write transaction of this process ended (bumped by the
    unit of work once its COMMIT returned).

    A reader that remembers the value along with what it read knows that nothing was committed
    by this process since, without asking the database. Values come from ``itertools.count``
    (its ``next`` is atomic), so two commits racing never leave the value where it was.
    """

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self.value = 0

    def bump(self) -> None:
        self.value = next(self._numbers)


# Connections beyond one per worker thread: the state reader's, the download counter's, the
# orphan sweep's and one for the mirror's background work.
SPARE_CONNECTIONS = 4


def make_engine(url: str, *, threads: int = 16) -> Engine:
    """Create the engine for ``url``; SQLite gets WAL mode and explicit transaction control.

    A process never opens more than ``threads + SPARE_CONNECTIONS`` connections, so that the
    processes of a cluster fit a PostgreSQL's ``max_connections`` (four with 16 threads take
    80 of the default 100); a thread that finds all in use waits for one."""
    pool_size = threads + SPARE_CONNECTIONS
    if is_sqlite(url):
        engine = _sqlite_engine(url, pool_size)
    else:
        engine = create_engine(url, pool_size=pool_size, max_overflow=0, pool_pre_ping=True)
        _serialise_writers(engine)
    return engine


def _serialise_writers(engine: Engine) -> None:
    """Every write transaction first locks the server state row, which a write's commit
    updates at its end anyway (``unit_of_work``): writers then run one after the other, across
    every process on the database, as SQLite's ``BEGIN IMMEDIATE`` makes them. Without it,
    check-then-insert races answered 500 instead of 409 and concurrent read-modify-writes of
    an index lost updates.
    Taking the one lock first also leaves no lock order to get wrong (no deadlocks)."""

    @event.listens_for(engine, "begin")
    def _lock_state_row(conn: Any) -> None:
        if conn.get_execution_options().get("pyshelf_write"):
            conn.exec_driver_sql("SELECT id FROM server_state WHERE id = 1 FOR UPDATE")


def _sqlite_engine(url: str, pool_size: int) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 60},
        pool_size=pool_size,
        max_overflow=0,
    )

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # pysqlite's own transaction handling issues BEGIN lazily and never BEGIN IMMEDIATE;
        # we take it over so that write transactions lock the database up front instead of
        # failing with "database is locked" when they upgrade from a read.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Only a new, empty database takes it (before WAL mode is written to its header): it
        # then gives the pages of deleted rows back to the file system when the retention
        # clean-up asks (``retention.cleanup``); older ones are switched by
        # ``pyshelf-server --migrate`` (``vacuum_incrementally``). Not set on other databases:
        # there it would wait for another process's write lock.
        if cursor.execute("PRAGMA page_count").fetchone()[0] == 0:
            cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        # The unit of work takes the process's write lock before a write session begins
        # (unit_of_work.Database): BEGIN IMMEDIATE then rarely waits in SQLite's busy handler.
        if conn.get_execution_options().get("pyshelf_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def vacuum_incrementally(engine: Engine) -> bool:
    """Switch an SQLite database made before incremental auto-vacuum to it, by rewriting it
    (``VACUUM``, which holds the database for as long as copying it takes); True if it was
    switched. Other databases are left alone."""
    if engine.dialect.name != "sqlite":
        return False
    with engine.connect() as connection:
        if connection.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2:
            return False
        connection.rollback()
        raw = connection.connection.driver_connection
        # Outside any transaction, as VACUUM must be (the connection is in autocommit mode).
        raw.execute("PRAGMA auto_vacuum=INCREMENTAL")
        raw.execute("VACUUM")
    return True


# Plain SQL, the same on every database: the state reader runs it on a DBAPI connection of its
# own, without a Core connection's transaction and result machinery around it.
READ_STATE_SQL = (
    "SELECT serial, state_token, config_token, users_token FROM server_state WHERE id = 1"
)
_state_table = ServerState.__table__
_READ_STATE = select(
    _state_table.c.serial,
    _state_table.c.state_token,
    _state_table.c.config_token,
    _state_table.c.users_token,
).where(_state_table.c.id == 1)


def read_state(session: Session) -> tuple[int, str, str, str]:
    """(serial, state_token, config_token, users_token) as read in ``session``'s transaction."""
    row = session.connection().execute(_READ_STATE).one()
    return row[0], row[1], row[2], row[3]


class StateReader:
    """Reads the server state row on one connection of its own, outside any ORM session: the
    cheapest way to learn whether anything changed, and what a request that only reads starts
    from (``RequestState.state``). Threads take turns on the connection; the query is far
    shorter than the wait for a connection of the pool would be.

    What it read is reused while no transaction of this process has committed since
    (``CommitCounter``) and for at most ``REUSE_SECONDS``, after which it asks again for what
    other processes (``pyshelf-server --migrate``, a second server on PostgreSQL) may have
    committed. Asking on every request cost more than the rest of the answer: each query lets
    go of the GIL twice, and with 16 threads each time meant waiting for it.
    """

    REUSE_SECONDS = 0.1

    def __init__(self, engine: Any, commits: CommitCounter | None = None) -> None:
        self.engine = engine
        self.connection: Any = None
        self.lock = threading.Lock()
        self.autocommit = engine.dialect.name == "sqlite"
        # Bumped by every unit of work that commits a write (unit_of_work.Database).
        self.commits = commits
        # (commit counter value, monotonic time, row): replaced whole, so threads never see
        # half of an update.
        self.last: tuple[int, float, tuple[int, str, str, str]] | None = None

    def read(self) -> tuple[int, str, str, str]:
        if self.commits is None:
            return self._query()
        generation = self.commits.value
        now = time.monotonic()
        last = self.last
        if last is not None and last[0] == generation and now - last[1] < self.REUSE_SECONDS:
            return last[2]
        row = self._query()
        # The counter was read before the query: a commit landing in between leaves a stale
        # generation here, so the next reader asks again rather than trusting this row.
        self.last = (generation, now, row)
        return row

    def _query(self) -> tuple[int, str, str, str]:
        with self.lock:
            if self.connection is None:
                self.connection = self.engine.raw_connection()
            connection = self.connection
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(READ_STATE_SQL)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
                if not self.autocommit:
                    connection.rollback()
            except Exception:
                self.connection = None
                with contextlib.suppress(Exception):  # it is being discarded anyway
                    connection.close()
                raise
        return row[0], row[1], row[2], row[3]
