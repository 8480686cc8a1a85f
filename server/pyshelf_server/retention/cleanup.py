"""What the retention rules delete, and deleting it so that the disk space comes back.

The rules are index options (``indexes.types``):

* on stages, ``keep_versions`` (the newest N versions of each project, by version order) and
  ``drop_prereleases_after`` (pre- and dev releases whose version was created longer ago):
  whole versions go, with every file of theirs. Only volatile stages are cleaned, unless the
  run is forced (``pyshelf-server --cleanup --force``, which only the server's operator runs);
  versions that do not parse as PEP 440 are never deleted, having no place in the order.
* on mirrors, ``evict_unused_after`` (files not downloaded for that long, or since they were
  stored) and ``max_size`` (least recently downloaded files first until the mirror's files
  fit the size). An evicted file is fetched from upstream again when asked for.

A run plans in read transactions and deletes in short write transactions of at most
``BATCH`` rows, so uploads and downloads go on meanwhile. Deleted rows leave no tombstone (the
database must not grow from deletions); after each batch the blobs that no row refers to any
more are removed from the store through ``storage.references.discard_unreferenced``, which
decides under the write lock as every other removal does. Bytes freed are the sizes of the
blobs actually removed; a dry run reports the blobs that only the planned rows refer to.
On SQLite, the pages the deleted rows took are returned to the file system at the end
(``PRAGMA incremental_vacuum``, see ``db.make_engine``).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from packaging.version import InvalidVersion
from packaging.version import Version as PackagingVersion
from sqlalchemy import delete, func, select, update

from ..accounts.models import User
from ..db import new_token, utcnow
from ..indexes.models import Index
from ..mirror.models import MirrorFile
from ..packages.models import File, Project, Version
from ..storage.references import discard_unreferenced, reference_counts

log = logging.getLogger(__name__)

# Rows deleted per write transaction, and blob names asked about per query.
BATCH = 500
STAGE_RULES = ("keep_versions", "drop_prereleases_after")
MIRROR_RULES = ("evict_unused_after", "max_size")
# SQLite's ``PRAGMA auto_vacuum`` value for incremental.
INCREMENTAL = 2


@dataclass(frozen=True, slots=True)
class Removal:
    """One file a rule deletes. ``row_id`` is the ``files`` row of a stage, the
    ``mirror_files`` row of a mirror; ``version_id`` the stage version it goes with."""

    index: str
    rule: str
    project: str
    version: str | None
    filename: str
    sha256: str
    size: int
    row_id: int
    version_id: int | None = None
    metadata_sha256: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "rule": self.rule, "project": self.project,
            "version": self.version, "filename": self.filename, "sha256": self.sha256,
            "size": self.size,
        }


@dataclass
class IndexCleanup:
    index: str
    removals: list[Removal] = field(default_factory=list)
    # Skipped: why the index's rules were not applied (a non-volatile stage, unforced).
    skipped: str | None = None
    bytes_freed: int = 0
    blobs_removed: int = 0

    @property
    def files(self) -> int:
        return len(self.removals)


@dataclass
class CleanupReport:
    dry_run: bool
    indexes: list[IndexCleanup] = field(default_factory=list)
    # SQLite only: bytes of the database file given back to the file system.
    database_bytes_freed: int = 0

    @property
    def files(self) -> int:
        return sum(index.files for index in self.indexes)

    @property
    def bytes_freed(self) -> int:
        return sum(index.bytes_freed for index in self.indexes)

    @property
    def blobs_removed(self) -> int:
        return sum(index.blobs_removed for index in self.indexes)

    def as_json(self, *, listed: bool = True) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "files": self.files,
            "bytes_freed": self.bytes_freed,
            "blobs_removed": self.blobs_removed,
            "database_bytes_freed": self.database_bytes_freed,
            "indexes": {
                cleanup.index: {
                    "files": cleanup.files,
                    "bytes_freed": cleanup.bytes_freed,
                    "blobs_removed": cleanup.blobs_removed,
                    "skipped": cleanup.skipped,
                    **({"removals": [r.as_json() for r in cleanup.removals]} if listed else {}),
                }
                for cleanup in self.indexes
            },
        }


def run_cleanup(
    database: Any,
    files: Any,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> CleanupReport:
    """Apply the retention rules of every index that has some."""
    now = now or utcnow()
    report = CleanupReport(dry_run=dry_run)
    for index_id, fullname, kind, volatile, options in _indexes_with_rules(database):
        cleanup = IndexCleanup(fullname)
        report.indexes.append(cleanup)
        if kind == "stage" and not volatile and not force:
            cleanup.skipped = "non-volatile stage: its releases are kept unless the run is forced"
            continue
        with database.reading() as session:
            if kind == "stage":
                cleanup.removals = _plan_stage(session, index_id, fullname, options, now)
            else:
                cleanup.removals = _plan_mirror(session, index_id, fullname, options, now)
        if dry_run:
            _estimate(database, files, cleanup)
        else:
            _delete(database, files, cleanup, hosted=kind == "stage")
    if not dry_run and report.files:
        report.database_bytes_freed = _return_free_pages(database)
    return report


def _indexes_with_rules(database: Any) -> Iterator[tuple[int, str, str, bool, dict[str, Any]]]:
    with database.reading() as session:
        rows = session.execute(
            select(Index.id, User.name, Index.name, Index.volatile, Index.options)
            .join(User, Index.user_id == User.id)
            .order_by(User.name, Index.name)
        ).all()
    # Which rules an index has says what it is: its type accepts only its own (index types).
    for index_id, user, name, volatile, options in rows:
        fullname = f"{user}/{name}"
        options = options or {}
        if any(rule in options for rule in STAGE_RULES):
            yield index_id, fullname, "stage", bool(volatile), options
        elif any(rule in options for rule in MIRROR_RULES):
            yield index_id, fullname, "mirror", bool(volatile), options


def _plan_stage(
    session: Any, index_id: int, fullname: str, options: dict[str, Any], now: datetime
) -> list[Removal]:
    keep = options.get("keep_versions")
    pre_after = options.get("drop_prereleases_after")
    pre_cutoff = now - timedelta(seconds=pre_after) if pre_after else None
    by_project: dict[str, list[tuple[PackagingVersion, int, datetime]]] = defaultdict(list)
    for version_id, version, created, project in session.execute(
        select(Version.id, Version.version, Version.created, Project.name)
        .join(Project, Version.project_id == Project.id)
        .where(Project.index_id == index_id)
    ):
        try:
            parsed = PackagingVersion(version)
        except InvalidVersion:
            continue  # never deleted: it has no place in the order
        by_project[project].append((parsed, version_id, created))
    doomed: dict[int, str] = {}
    for versions in by_project.values():
        versions.sort(reverse=True)
        for position, (parsed, version_id, created) in enumerate(versions):
            if keep is not None and position >= keep:
                doomed[version_id] = "keep_versions"
            elif pre_cutoff is not None and parsed.is_prerelease and created < pre_cutoff:
                doomed[version_id] = "drop_prereleases_after"
    removals: list[Removal] = []
    ids = sorted(doomed)
    for start in range(0, len(ids), BATCH):
        batch = ids[start:start + BATCH]
        for row in session.execute(
            select(File.id, File.version_id, File.filename, File.sha256, File.size,
                   File.metadata_sha256, Version.version, Project.name)
            .join(Version, File.version_id == Version.id)
            .join(Project, Version.project_id == Project.id)
            .where(File.version_id.in_(batch))
            .order_by(Project.name, File.version_id, File.id)
        ):
            removals.append(Removal(
                index=fullname, rule=doomed[row.version_id], project=row.name,
                version=row.version, filename=row.filename, sha256=row.sha256, size=row.size,
                row_id=row.id, version_id=row.version_id, metadata_sha256=row.metadata_sha256,
            ))
    return removals


def _plan_mirror(
    session: Any, index_id: int, fullname: str, options: dict[str, Any], now: datetime
) -> list[Removal]:
    unused_after = options.get("evict_unused_after")
    max_size = options.get("max_size")
    cutoff = now - timedelta(seconds=unused_after) if unused_after else None
    used = func.coalesce(MirrorFile.last_download, MirrorFile.stored)
    rows = session.execute(
        select(MirrorFile.id, MirrorFile.project, MirrorFile.version, MirrorFile.filename,
               MirrorFile.sha256, MirrorFile.size, used.label("used"))
        .where(MirrorFile.index_id == index_id)
        # Least recently used first; the id breaks ties the same way every time.
        .order_by(used, MirrorFile.id)
    ).all()
    removals: list[Removal] = []
    total = sum(row.size for row in rows)
    for row in rows:
        if cutoff is not None and row.used < cutoff:
            rule = "evict_unused_after"
        elif max_size is not None and total > max_size:
            rule = "max_size"
        else:
            continue
        total -= row.size
        removals.append(Removal(
            index=fullname, rule=rule, project=row.project, version=row.version,
            filename=row.filename, sha256=row.sha256, size=row.size, row_id=row.id,
        ))
    return removals


def _blob_sizes(files: Any, removals: list[Removal]) -> dict[str, int]:
    sizes = {r.sha256: r.size for r in removals}
    for removal in removals:
        meta = removal.metadata_sha256
        if meta and meta not in sizes:
            sizes[meta] = files.size(meta) if files.exists(meta) else 0
    return sizes


def _references(removals: list[Removal]) -> Counter[str]:
    refs: Counter[str] = Counter(r.sha256 for r in removals)
    refs.update(r.metadata_sha256 for r in removals if r.metadata_sha256)
    return refs


def _estimate(database: Any, files: Any, cleanup: IndexCleanup) -> None:
    """What deleting the planned rows would free: the blobs nothing else refers to."""
    planned = _references(cleanup.removals)
    sizes = _blob_sizes(files, cleanup.removals)
    names = list(planned)
    with database.reading() as session:
        for start in range(0, len(names), BATCH):
            batch = names[start:start + BATCH]
            counts = reference_counts(session, batch)
            for sha256 in batch:
                if counts[sha256] <= planned[sha256]:
                    cleanup.blobs_removed += 1
                    cleanup.bytes_freed += sizes[sha256]


def _delete(database: Any, files: Any, cleanup: IndexCleanup, *, hosted: bool) -> None:
    sizes = _blob_sizes(files, cleanup.removals)
    removals = cleanup.removals
    for start in range(0, len(removals), BATCH):
        batch = removals[start:start + BATCH]
        # Deleting hosted releases changes what clients see (a new serial); evicting a
        # mirrored file does not, it is fetched again when asked for.
        with database.writing(counts_as_change=hosted) as uow:
            connection = uow.session.connection()
            if hosted:
                _delete_versions(connection, batch)
                uow.changed()
            else:
                connection.execute(
                    delete(MirrorFile).where(MirrorFile.id.in_([r.row_id for r in batch]))
                )
        removed = discard_unreferenced(database, files, list(_references(batch)))
        cleanup.blobs_removed += len(removed)
        cleanup.bytes_freed += sum(sizes[sha256] for sha256 in removed)


def _delete_versions(connection: Any, batch: list[Removal]) -> None:
    """Delete the files of ``batch`` and the versions left without release files. The
    projects stay (claiming their names, see ``PackageService.delete_version``) and get a
    new change token, so cached pages of them go."""
    connection.execute(delete(File).where(File.id.in_([r.row_id for r in batch])))
    version_ids = sorted({r.version_id for r in batch if r.version_id is not None})
    still_used = set(
        connection.execute(
            select(File.version_id).where(File.version_id.in_(version_ids)).distinct()
        ).scalars()
    )
    empty = [v for v in version_ids if v not in still_used]
    projects = set(
        connection.execute(
            select(Version.project_id).where(Version.id.in_(version_ids)).distinct()
        ).scalars()
    )
    if empty:
        connection.execute(delete(Version).where(Version.id.in_(empty)))
    for project_id in sorted(projects):
        connection.execute(
            update(Project).where(Project.id == project_id).values(change_token=new_token())
        )


def _return_free_pages(database: Any) -> int:
    """On SQLite with incremental auto-vacuum, give the free pages back to the file system;
    the bytes given back (0 elsewhere)."""
    if database.engine.dialect.name != "sqlite":
        return 0
    raw = database.engine.raw_connection()
    try:
        sqlite = raw.driver_connection
        if sqlite.execute("PRAGMA auto_vacuum").fetchone()[0] != INCREMENTAL:
            log.warning(
                "the SQLite database was made before incremental auto-vacuum: run "
                "'pyshelf-server --migrate' once so that deletions shrink its file"
            )
            return 0
        page_size = sqlite.execute("PRAGMA page_size").fetchone()[0]
        free = sqlite.execute("PRAGMA freelist_count").fetchone()[0]
        # In a transaction of its own (the connection is in autocommit mode). A script, as
        # the pragma frees one page per step and a plain execute steps once.
        sqlite.executescript("PRAGMA incremental_vacuum;")
        left = sqlite.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        raw.close()
    return int((free - left) * page_size)
