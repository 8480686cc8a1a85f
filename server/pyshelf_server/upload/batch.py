"""Group commit for concurrent uploads of new release files.

Every write transaction costs a fixed price on top of its rows: a session, the write lock,
BEGIN IMMEDIATE, the serial bump and the COMMIT. When many uploads arrive at once they share
one: the first upload that finds no batch being written becomes the leader, takes every
upload queued meanwhile (its own among them), records them, commits once and wakes the others.

A failure in one upload fails that upload alone. Uploads are first recorded one after the
other without savepoints (two statements each saved; nearly every batch succeeds whole). If
one of them fails, that transaction is rolled back and the batch is written again with each
upload under a savepoint, so a write may run twice and must only write to the connection. A
failed commit fails the whole batch, whose uploads then answer as a failed commit of their own
would have.

Only the common case comes here (:func:`~.services.record_new_release`); a file that must
replace another goes its own way through the request's write session. The batch is written on
a Core connection, not an ORM session: the uploads write prebuilt statements only, and the
session's unit of work around them (its begin, savepoints, flush checks and commit events) cost
more than the statements themselves.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Engine

from ..db import bump_serial
from ..responses import APIError

log = logging.getLogger(__name__)

MAX_BATCH = 64


@dataclass
class _Job:
    write: Callable[[Connection], Any]
    done: bool = False
    result: Any = None
    error: BaseException | None = None
    serial: int | None = None


class BatchWriter:
    def __init__(self, engine: Engine) -> None:
        # Begins its transactions with the write lock (BEGIN IMMEDIATE on SQLite, see db.py).
        self.engine = engine.execution_options(pyshelf_write=True)
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._writing = False

    def run(self, write: Callable[[Connection], Any]) -> tuple[Any, int | None]:
        """Run ``write(connection)`` in a shared write transaction; return its result and the
        serial the transaction committed. A ``write`` that wrote nothing returns None."""
        job = _Job(write)
        with self._cond:
            self._queue.append(job)
            while not job.done:
                if not self._writing:
                    self._writing = True
                    batch = self._queue[:MAX_BATCH]
                    del self._queue[:MAX_BATCH]
                    self._cond.release()
                    try:
                        self._write(batch)
                    finally:
                        self._cond.acquire()
                        self._writing = False
                        self._cond.notify_all()
                    continue
                self._cond.wait()
        if job.error is not None:
            raise job.error
        return job.result, job.serial

    def _write(self, batch: list[_Job]) -> None:
        try:
            if not self._commit(batch, isolated=False):
                self._commit(batch, isolated=True)
        except BaseException:
            log.exception("committing a batch of %d uploads failed", len(batch))
            for job in batch:
                if job.error is None:
                    job.result = None
                    job.error = APIError(503, "the change could not be stored, try again")
        finally:
            for job in batch:
                job.done = True

    def _commit(self, batch: list[_Job], *, isolated: bool) -> bool:
        """Write and commit the batch; with ``isolated``, each job under a savepoint of its
        own. Without, False (and nothing written) as soon as one job fails."""
        with self.engine.connect() as connection:
            with connection.begin() as transaction:
                for job in batch:
                    job.result = job.error = None
                    savepoint = connection.begin_nested() if isolated else None
                    try:
                        job.result = job.write(connection)
                    except BaseException as error:  # this upload's answer, not the batch's
                        if savepoint is None:
                            transaction.rollback()
                            return False
                        savepoint.rollback()
                        job.error = error
                    else:
                        if savepoint is not None:
                            savepoint.commit()
                wrote = any(job.error is None and job.result is not None for job in batch)
                serial = bump_serial(connection) if wrote else None
        for job in batch:
            job.serial = serial
        return True
