"""Which rows refer to a blob: the one place that knows, so that no feature removes a blob
another still needs. Hosted files (and their PEP 658 metadata), mirrored files and mirrors'
project lists all share the content-addressed store.

Blobs are removed in two cases only, both decided here under the write lock: what a unit of
work stored or released (``UnitOfWork.discard_if_rolled_back``, ``collect_after_commit``,
which call :func:`discard_unreferenced` when the work ended), and orphans a killed process
left behind (``orphans``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..responses import APIError


def _referring_columns() -> tuple[Any, ...]:
    from ..mirror.models import MirrorFile, MirrorState
    from ..packages.models import File

    return (File.sha256, File.metadata_sha256, MirrorFile.sha256, MirrorState.list_sha256)


def referenced_blobs(session: Session, sha256s: Collection[str]) -> set[str]:
    """Those of ``sha256s`` that a row refers to (at most a few hundred at a time)."""
    wanted = list(sha256s)
    found: set[str] = set()
    for column in _referring_columns():
        found.update(session.execute(select(column).where(column.in_(wanted))).scalars())
    return found


def reference_counts(session: Session, sha256s: Collection[str]) -> Counter[str]:
    """How many row columns refer to each of ``sha256s`` (at most a few hundred at a time):
    what deleting some of those rows would leave."""
    wanted = list(sha256s)
    counts: Counter[str] = Counter()
    for column in _referring_columns():
        for sha256, n in session.execute(
            select(column, func.count()).where(column.in_(wanted)).group_by(column)
        ):
            counts[sha256] += n
    return counts


def blob_in_use(session: Session, sha256: str) -> bool:
    return bool(referenced_blobs(session, [sha256]))


def discard_unreferenced(
    database: Any, files: Any, sha256s: Collection[str], *, untouched_since: float | None = None
) -> list[str]:
    """Remove those blobs of ``sha256s`` that no row refers to, deciding under the write lock;
    with ``untouched_since`` (a ``time.time()``), only those not modified since then (see
    :func:`..orphans.sweep_orphans`). Returns those that went.

    Another request may have found such a blob in the store (the same content uploaded at
    the same moment) and be about to commit a row that refers to it. That request checks,
    under the same lock and before it commits, that the blob is still there
    (:func:`require_blobs`). So either its row is committed and seen here, or the blob is gone
    before it commits and it refuses the upload: never a row without its bytes.
    """
    uow = database.unit_of_work(write=True)
    removed: list[str] = []
    try:
        # A write transaction holds the write lock from its first statement on (``db``).
        session = uow.session
        for sha256 in set(sha256s) - referenced_blobs(session, sha256s):
            if untouched_since is None:
                files.remove(sha256)
                removed.append(sha256)
            elif files.remove_if_older(sha256, untouched_since):
                removed.append(sha256)
    finally:
        # Nothing was written: ending it is only letting go of the lock.
        uow.rollback()
    return removed


def require_blobs(files: Any, sha256s: list[str]) -> None:
    """Before committing rows that refer to these blobs: make sure they still exist. Called in
    a write transaction, which holds the write lock from its first statement to its commit
    (SQLite's BEGIN IMMEDIATE, PostgreSQL's lock on the state row: ``db.make_engine``), the
    lock :func:`discard_unreferenced` decides under."""
    for sha256 in sha256s:
        if not files.exists(sha256):
            raise APIError(
                503, "the stored file was removed by a concurrent request; please upload again"
            )


def release_index_blobs(uow: Any, files: Any, index_id: int) -> None:
    """Delete the rows through which index ``index_id`` refers to blobs, and collect the blobs
    nothing else refers to after the commit. Used when the index itself goes."""
    session = uow.session
    from ..mirror.models import MirrorFile, MirrorState
    from ..packages.models import File

    shas: set[str] = set()
    for column in (File.sha256, File.metadata_sha256):
        shas.update(
            s
            for s in session.execute(select(column).where(File.index_id == index_id)).scalars()
            if s
        )
    shas.update(
        session.execute(select(MirrorFile.sha256).where(MirrorFile.index_id == index_id)).scalars()
    )
    shas.update(
        s
        for s in session.execute(
            select(MirrorState.list_sha256).where(MirrorState.index_id == index_id)
        ).scalars()
        if s
    )
    session.execute(delete(File).where(File.index_id == index_id))
    session.execute(delete(MirrorFile).where(MirrorFile.index_id == index_id))
    session.execute(delete(MirrorState).where(MirrorState.index_id == index_id))
    session.flush()
    for sha in shas:
        uow.collect_after_commit(files, sha)
