"""Which rows refer to a blob: the one place that knows, so that no feature removes a blob
another still needs. Hosted files (and their PEP 658 metadata), mirrored files and mirrors'
project lists all share the content-addressed store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session

from ..db import after_commit


def blob_in_use(session: Session, sha256: str) -> bool:
    from ..mirror.models import MirrorFile, MirrorState
    from ..packages.models import File

    counts = (
        select(func.count(File.id)).where(
            (File.sha256 == sha256) | (File.metadata_sha256 == sha256)
        ),
        select(func.count(MirrorFile.id)).where(MirrorFile.sha256 == sha256),
        select(func.count()).select_from(MirrorState).where(MirrorState.list_sha256 == sha256),
    )
    return any(session.execute(query).scalar_one() for query in counts)


def collect_blob(session: Session, files: Any, sha256: str) -> None:
    """Remove blob ``sha256`` after the commit unless something still refers to it then.

    The check waits for the commit: within one transaction a row may be dropped and another
    added with the same content (an identical file uploaded again to a volatile index), and
    the blob is still needed."""
    if files is not None:
        session.info.setdefault("collect_blobs", {})[sha256] = files


@event.listens_for(Session, "before_commit")
def _collect_unused_blobs(session: Session) -> None:
    pending = session.info.pop("collect_blobs", None)
    for sha256, files in (pending or {}).items():
        if not blob_in_use(session, sha256):
            after_commit(session, lambda files=files, sha256=sha256: files.remove(sha256))


def release_index_blobs(session: Session, files: Any, index_id: int) -> None:
    """Delete the rows through which index ``index_id`` refers to blobs, and collect the blobs
    nothing else refers to. Used when the index itself goes."""
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
        collect_blob(session, files, sha)
