"""The database layer: declarative base, engine set-up, per-request sessions and the server serial.

Every HTTP request gets one session (``request.db``). The ``transaction_tween`` commits it when the
view succeeded and rolls it back otherwise; work that must only happen after a commit (removing
blobs, firing events) is queued with ``after_commit`` and work that undoes side effects of a
failed transaction (a freshly stored blob) with ``on_rollback``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    MetaData,
    String,
    bindparam,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from .statements import DriverStatement

log = logging.getLogger(__name__)

WRITE_LOCK_TIMEOUT = 60

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
    """Changes its ``value`` after every transaction committed through one engine.

    A reader that remembers the value along with what it read knows that nothing was committed
    by this process since, without asking the database. Values come from ``itertools.count``
    (its ``next`` is atomic), so two commits racing never leave the value where it was.
    """

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self.value = 0

    def bump(self) -> None:
        self.value = next(self._numbers)


def commit_counter(engine: Engine) -> CommitCounter | None:
    """The counter of an engine made by ``make_engine`` (None for any other engine)."""
    return getattr(engine.dialect, "pyshelf_commits", None)


# Connections beyond one per worker thread: the state reader's, the upload batch writer's, the
# download counter's and one for the mirror's background work.
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
    _count_commits(engine)
    return engine


def _serialise_writers(engine: Engine) -> None:
    """Every write transaction first locks the server state row, which ``bump_serial`` updates
    at its end anyway: writers then run one after the other, across every process on the
    database, as SQLite's ``BEGIN IMMEDIATE`` makes them. Without it, check-then-insert races
    answered 500 instead of 409 and concurrent read-modify-writes of an index lost updates.
    Taking the one lock first also leaves no lock order to get wrong (no deadlocks)."""

    @event.listens_for(engine, "begin")
    def _lock_state_row(conn: Any) -> None:
        if conn.get_execution_options().get("pyshelf_write"):
            conn.exec_driver_sql("SELECT id FROM server_state WHERE id = 1 FOR UPDATE")


def _count_commits(engine: Engine) -> None:
    dialect = engine.dialect
    counter = CommitCounter()
    plain_commit = dialect.do_commit

    def commit_then_count(connection: Any) -> None:
        try:
            plain_commit(connection)
        finally:
            # Also after a failed COMMIT: the reader asks the database again, which is never wrong.
            counter.bump()

    dialect.do_commit = commit_then_count  # type: ignore[method-assign]
    dialect.pyshelf_commits = counter  # type: ignore[attr-defined]


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
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    # Writers of this process queue on a Python lock before BEGIN IMMEDIATE. SQLite's own
    # busy handler polls with sleeps that grow to tens of milliseconds, so under concurrent
    # uploads most time went to sleeping while the lock was already free; a waiter on this
    # lock wakes the moment it is released. (Other processes still meet SQLite's lock.)
    write_lock = threading.Lock()
    # DBAPI connections inside a write transaction. The lock is let go only once SQLite
    # has ended the transaction: the Core "commit" event fires before the COMMIT, and a
    # writer let in then would meet SQLite's lock and its sleeping busy handler after all.
    holding: set[int] = set()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        if not conn.get_execution_options().get("pyshelf_write"):
            conn.exec_driver_sql("BEGIN")
            return
        if not write_lock.acquire(timeout=WRITE_LOCK_TIMEOUT):
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is busy"))
        key = id(conn.connection.dbapi_connection)
        holding.add(key)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            holding.discard(key)
            write_lock.release()
            raise

    dialect = engine.dialect
    plain_commit, plain_rollback = dialect.do_commit, dialect.do_rollback

    def _end_then_release(end: Callable[[Any], None]) -> Callable[[Any], None]:
        def ended(connection: Any) -> None:
            try:
                end(connection)
            finally:
                # Core passes the pool's proxy, the pool's reset the raw connection.
                key = id(getattr(connection, "dbapi_connection", connection))
                if key in holding:
                    holding.discard(key)
                    write_lock.release()

        return ended

    dialect.do_commit = _end_then_release(plain_commit)  # type: ignore[method-assign]
    dialect.do_rollback = _end_then_release(plain_rollback)  # type: ignore[method-assign]

    return engine


class SessionFactory:
    """Makes sessions for reading or writing; writes on SQLite begin with ``BEGIN IMMEDIATE``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read = sessionmaker(bind=engine, expire_on_commit=False)
        self._write = sessionmaker(
            bind=engine.execution_options(pyshelf_write=True), expire_on_commit=False
        )

    def __call__(self, *, write: bool = False) -> Session:
        session = (self._write if write else self._read)()
        session.info["write"] = write
        session.info["after_commit"] = []
        session.info["on_rollback"] = []
        return session


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    session.info.setdefault("after_commit", []).append(callback)


def on_rollback(session: Session, callback: Callable[[], None]) -> None:
    session.info.setdefault("on_rollback", []).append(callback)


def mark_config_changed(session: Session) -> None:
    """Tell every cache of the index layout (bases, options) that it has to reload."""
    session.info["config_changed"] = True


def mark_users_changed(session: Session) -> None:
    """Tell the caches of users' credentials (password hashes) that they have to reload."""
    session.info["users_changed"] = True


@event.listens_for(Session, "after_flush")
def _remember_write(session: Session, flush_context: Any) -> None:
    session.info["wrote"] = True


_state = ServerState.__table__
# Prebuilt and run on the driver's cursor: the ORM's bulk-update path cost a millisecond per
# commit, spent while holding the write lock, and every request reads the state.
_BUMP = (
    update(_state)
    .where(_state.c.id == 1)
    .values(
        serial=_state.c.serial + 1,
        state_token=bindparam("new_state_token"),
        last_commit=bindparam("commit_time"),
    )
    .returning(_state.c.serial)
)
# One prepared statement per combination of the tokens a transaction changes.
_BUMPS = {
    (config, users): DriverStatement(
        _BUMP.values(
            **({"config_token": bindparam("new_config_token")} if config else {}),
            **({"users_token": bindparam("new_users_token")} if users else {}),
        )
    )
    for config in (False, True)
    for users in (False, True)
}
_READ_STATE = DriverStatement(
    select(
        _state.c.serial, _state.c.state_token, _state.c.config_token, _state.c.users_token
    ).where(_state.c.id == 1)
)


@event.listens_for(Session, "before_commit")
def _bump_serial(session: Session) -> None:
    if session.in_nested_transaction():
        # Releasing a savepoint fires this too; the serial counts real commits.
        return
    if session.new or session.dirty or session.deleted:
        # Flushed here rather than by the commit, so that they count as a write (after_flush).
        session.flush()
    if not (
        session.info.get("wrote")
        or session.info.get("config_changed")
        or session.info.get("users_changed")
    ):
        return
    serial = bump_serial(
        session.connection(),
        config_changed=session.info.get("config_changed"),
        users_changed=session.info.get("users_changed"),
    )
    # The serial this transaction commits, for the X-Devpi-Serial of the answer.
    session.info["committed_serial"] = serial
    session.info["wrote"] = False
    session.info["config_changed"] = False
    session.info["users_changed"] = False


def bump_serial(
    connection: Any, *, config_changed: bool = False, users_changed: bool = False
) -> int:
    """Count a write transaction, in it, just before its commit; returns its serial."""
    params = {"new_state_token": new_token(), "commit_time": utcnow()}
    if config_changed:
        params["new_config_token"] = new_token()
    if users_changed:
        params["new_users_token"] = new_token()
    statement = _BUMPS[bool(config_changed), bool(users_changed)]
    return statement.rows(connection, params)[0][0]


def finish(session: Session, *, commit: bool) -> None:
    """Commit (or roll back) and run the queued callbacks; always closes the session."""
    try:
        if commit:
            try:
                session.commit()
            except BaseException:
                session.rollback()
                _run(session.info.get("on_rollback", []))
                raise
            _run(session.info.get("after_commit", []))
        else:
            session.rollback()
            _run(session.info.get("on_rollback", []))
    finally:
        session.info["after_commit"] = []
        session.info["on_rollback"] = []
        if not commit:
            session.info.pop("committed_serial", None)
        session.close()


def end_read_transaction(session: Session) -> None:
    """End a read session's transaction before waiting on something slow (an upstream, a
    shared commit). Its connection goes back to the pool, so that a thread never holds one
    while it waits or while it opens a write session of its own: the pool is sized for one
    connection per thread. On SQLite, a snapshot left open also keeps a commit's checkpoint
    from copying the whole WAL back (under steady uploads the WAL grew without end). The
    session stays usable; a later query begins a new transaction."""
    if not session.info.get("write"):
        session.rollback()


def _run(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:
            log.exception("callback %r failed", callback)


def read_state(session: Session) -> tuple[int, str, str, str]:
    """(serial, state_token, config_token, users_token) as this session sees them."""
    row = _READ_STATE.rows(session.connection(), {})[0]
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

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.connection: Any = None
        self.lock = threading.Lock()
        self.autocommit = engine.dialect.name == "sqlite"
        self.commits = commit_counter(engine)
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
                row = _READ_STATE.run(connection, self.engine.dialect, {})[0]
                if not self.autocommit:
                    connection.rollback()
            except Exception:
                self.connection = None
                with contextlib.suppress(Exception):  # it is being discarded anyway
                    connection.close()
                raise
        return row[0], row[1], row[2], row[3]
