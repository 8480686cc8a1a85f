"""The unit of work: the one way anything reads or writes the database.

A :class:`UnitOfWork` owns at most one session at a time. It reads until :meth:`begin_write`
(or is made for writing from the start), and ends with :meth:`commit` or :meth:`rollback`.
Everything a transaction means besides its rows is kept on the unit of work itself, as plain
attributes, never on the session:

- the server serial: a write that changed something bumps ``server_state`` (serial and state
  token, and the configuration and user tokens when :meth:`changed` says so) inside its own
  transaction, just before it commits, and :meth:`commit` returns the serial it committed;
- work for after the commit (:meth:`after_commit`: removing blobs nothing refers to any more,
  tokens for caches) and for after a rollback (:meth:`on_rollback`);
- the blobs it stored (:meth:`discard_if_rolled_back`) and the blobs it released
  (:meth:`collect_after_commit`): the unit of work is the one owner of removing blobs, deciding
  under the write lock (``storage.references.discard_unreferenced``);
- on SQLite, the process's write lock (see :class:`Database`).

"Changed something" means: the session flushed pending objects (:class:`WriteSession`), or the
code said so with :meth:`changed` (Core statements, which the ORM does not see). A unit of
work made with ``counts_as_change=False`` never bumps the serial: a mirror's cache, download
counts and other bookkeeping change nothing a client must be told about.

A request gets exactly one (``request.uow``, finished by the shelf tween); background work
opens its own through :meth:`Database.writing` or :meth:`Database.unit_of_work`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from .db import CommitCounter, ServerState, new_token, utcnow

log = logging.getLogger(__name__)

# How long a writer waits for the process's SQLite write lock before it gives up (503).
WRITE_LOCK_TIMEOUT = 60

_state = ServerState.__table__


class WriteSession(Session):
    """A session of a write unit of work; ``wrote`` tells whether a flush sent changes."""

    wrote = False

    def flush(self, objects: Any = None) -> None:
        # Every flush comes here: autoflush, the commit's own and explicit ones.
        if self.new or self.dirty or self.deleted:
            self.wrote = True
        super().flush(objects)


def end_read_transaction(session: Session) -> None:
    """End a read session's transaction before waiting on something slow (an upstream); a
    write session is left alone, its writes are its unit of work's to commit. Takes the session,
    not the unit of work: index backends (the mirror's) are handed the request's session.
    The connection goes back to the pool, so that a thread never holds one while it waits or
    while it writes: the pool is sized for one connection per thread. On SQLite an open
    snapshot also keeps a commit's checkpoint from copying the whole WAL back. The session
    stays usable; a later query begins a new transaction."""
    if not isinstance(session, WriteSession):
        session.rollback()


class Database:
    """The engine and what every unit of work on it shares: the commit counter the state
    reader trusts, and on SQLite the process's write lock.

    Writers of this process queue on that lock before ``BEGIN IMMEDIATE``. SQLite's busy
    handler polls with sleeps that grow to tens of milliseconds, so under concurrent uploads
    most time went to sleeping while the database lock was already free; a waiter on this lock
    wakes the moment it is released. The lock is let go after the COMMIT (or ROLLBACK)
    returned: a writer let in earlier would meet SQLite's lock and its busy handler after all.
    Other processes still meet SQLite's own lock; on PostgreSQL every write transaction locks
    the state row instead (``db.make_engine``), which serves all processes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.commits = CommitCounter()
        self.write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None
        self.read_sessions = sessionmaker(bind=engine, expire_on_commit=False)
        # Connections with this option begin their transactions with the write lock.
        self.write_sessions = sessionmaker(
            bind=engine.execution_options(pyshelf_write=True),
            class_=WriteSession,
            expire_on_commit=False,
        )

    def unit_of_work(self, *, write: bool = False, counts_as_change: bool = True) -> UnitOfWork:
        return UnitOfWork(self, write=write, counts_as_change=counts_as_change)

    @contextmanager
    def writing(self, *, counts_as_change: bool = True) -> Iterator[UnitOfWork]:
        """A write unit of work that commits when the block ends, rolls back when it raises."""
        uow = self.unit_of_work(write=True, counts_as_change=counts_as_change)
        try:
            yield uow
        except BaseException:
            uow.rollback()
            raise
        uow.commit()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read session, closed (its transaction ended) when the block ends."""
        uow = self.unit_of_work()
        try:
            yield uow.session
        finally:
            uow.rollback()


class UnitOfWork:
    def __init__(self, database: Database, *, write: bool = False, counts_as_change: bool = True):
        self.database = database
        # Whether its session is (or will be) a write session.
        self.writing = write
        # False for bookkeeping writes that must not change the serial (mirror caches).
        self.counts_as_change = counts_as_change
        # The layout of indexes (config) or users' credentials changed: caches keyed by
        # those tokens reload.
        self.config_changed = False
        self.users_changed = False
        self.core_changed = False
        self._session: Session | None = None
        self._holds_lock = False
        self._after_commit: list[Callable[[], None]] = []
        self._on_rollback: list[Callable[[], None]] = []
        self._new_blobs: dict[str, Any] = {}
        self._released_blobs: dict[str, Any] = {}

    # -- the session --------------------------------------------------------------------

    @property
    def opened(self) -> bool:
        """Whether a session is open (something was read or written through it)."""
        return self._session is not None

    @property
    def session(self) -> Session:
        if self._session is None:
            if self.writing:
                self._lock()
                try:
                    self._session = self.database.write_sessions()
                except BaseException:
                    self._unlock()
                    raise
            else:
                self._session = self.database.read_sessions()
        return self._session

    def begin_write(self) -> None:
        """Write from here on. A read session open so far is ended: objects loaded through it
        must be loaded again (through :attr:`session`)."""
        if self.writing:
            return
        if self._session is not None:
            self._session.close()
            self._session = None
        self.writing = True

    # -- what the transaction means -----------------------------------------------------

    def changed(self, *, config: bool = False, users: bool = False) -> None:
        """Count this unit of work as a change (Core writes the ORM does not see); with
        ``config``, caches of the index layout reload, with ``users``, those of credentials."""
        self.core_changed = True
        self.config_changed = self.config_changed or config
        self.users_changed = self.users_changed or users

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def on_rollback(self, callback: Callable[[], None]) -> None:
        self._on_rollback.append(callback)

    def discard_if_rolled_back(self, files: Any, blob: Any) -> None:
        """``blob`` was stored for this unit of work: remove it again unless the work
        commits (and then only if no row refers to it, e.g. the same content uploaded at once
        by another request)."""
        if blob is not None and blob.created and files is not None:
            self._new_blobs[blob.sha256] = files

    def collect_after_commit(self, files: Any, sha256: str) -> None:
        """A row referring to blob ``sha256`` went: remove the blob after the commit, unless
        something refers to it then (within one transaction a row may go and another come
        with the same content)."""
        if files is not None:
            self._released_blobs[sha256] = files

    # -- the end ------------------------------------------------------------------------

    def commit(self) -> int | None:
        """Commit; the serial committed, or None when nothing counted as a change."""
        session = self._session
        serial = None
        try:
            if session is not None:
                if self.writing:
                    session.flush()
                    if self.counts_as_change and (
                        (isinstance(session, WriteSession) and session.wrote)
                        or self.core_changed
                        or self.config_changed
                        or self.users_changed
                    ):
                        serial = self._bump_serial(session)
                session.commit()
        except BaseException:
            self._end(committed=False)
            raise
        self._end(committed=True)
        return serial

    def rollback(self) -> None:
        self._end(committed=False)

    def _end(self, *, committed: bool) -> None:
        session, self._session = self._session, None
        try:
            if session is not None:
                if not committed and self.writing:
                    session.rollback()
                # Ends a read transaction too, without expiring what it loaded.
                session.close()
        finally:
            if session is not None and self.writing:
                # Also after a failed COMMIT: the state reader then asks the database again.
                self.database.commits.bump()
            self._unlock()
            callbacks = self._after_commit if committed else self._on_rollback
            blobs = self._released_blobs if committed else self._new_blobs
            self._after_commit, self._on_rollback = [], []
            self._new_blobs, self._released_blobs = {}, {}
            self.core_changed = self.config_changed = self.users_changed = False
            if blobs:
                callbacks = [*callbacks, lambda: self._discard(blobs)]
            for callback in callbacks:
                try:
                    callback()
                except Exception:
                    log.exception("callback %r failed", callback)

    def _discard(self, blobs: dict[str, Any]) -> None:
        from .storage.references import discard_unreferenced

        by_store: dict[int, tuple[Any, list[str]]] = {}
        for sha256, files in blobs.items():
            by_store.setdefault(id(files), (files, []))[1].append(sha256)
        for files, sha256s in by_store.values():
            discard_unreferenced(self.database, files, sha256s)

    def _bump_serial(self, session: Session) -> int:
        params: dict[str, Any] = {"state_token": new_token(), "commit_time": utcnow()}
        if self.config_changed:
            params["config_token"] = new_token()
        if self.users_changed:
            params["users_token"] = new_token()
        statement = _BUMP_SERIAL[(self.config_changed, self.users_changed)]
        serial: int = session.connection().execute(statement, params).scalar_one()
        return serial

    def _lock(self) -> None:
        lock = self.database.write_lock
        if lock is None or self._holds_lock:
            return
        if not lock.acquire(timeout=WRITE_LOCK_TIMEOUT):
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is busy"))
        self._holds_lock = True

    def _unlock(self) -> None:
        if self._holds_lock:
            self._holds_lock = False
            assert self.database.write_lock is not None
            self.database.write_lock.release()


def _bump_serial_statement(*, config: bool, users: bool) -> Any:
    values: dict[str, Any] = {
        "serial": _state.c.serial + 1,
        "state_token": bindparam("state_token"),
        "last_commit": bindparam("commit_time"),
    }
    if config:
        values["config_token"] = bindparam("config_token")
    if users:
        values["users_token"] = bindparam("users_token")
    return update(_state).where(_state.c.id == 1).values(**values).returning(_state.c.serial)


# Built once: every write transaction runs one of them.
_BUMP_SERIAL = {
    (config, users): _bump_serial_statement(config=config, users=users)
    for config in (False, True)
    for users in (False, True)
}
