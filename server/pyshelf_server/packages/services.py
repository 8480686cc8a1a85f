"""Projects, versions and files of hosted indexes: storing, overwriting and deleting them.

The bytes are stored (atomically, content-addressed) before a row refers to them; a row that is
rolled back takes a blob it created with it, and a blob no row refers to any more is removed
after the deleting transaction commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session, lazyload

from ..db import new_token, utcnow
from ..indexes.models import Index
from ..indexes.registry import IndexInfo
from ..names import normalize_name
from ..storage.files import BlobStore, StoredBlob
from ..storage.references import release_index_blobs
from ..unit_of_work import UnitOfWork
from .backend import file_path, simple_tails
from .metadata import empty_metadata
from .models import DeletedFile, File, Project, Version


@dataclass(frozen=True)
class FileInfo:
    """What plugins are told about a stored file."""

    index: str
    project: str
    version: str
    filename: str
    sha256: str
    size: int
    rel: str
    uploader: str | None

    @property
    def path(self) -> str:
        """Below the server root, as the file is served."""
        return file_path(self.index, self.sha256, self.filename)


@dataclass(frozen=True)
class ProjectRecord:
    """A project row as the creation half of :class:`PackageService` returns it."""

    id: int
    name: str
    display_name: str


@dataclass(frozen=True)
class VersionRecord:
    """A version row as :meth:`PackageService.ensure_version` returns it."""

    id: int
    project_id: int
    # The project's display name.
    display_name: str
    version: str
    meta: dict[str, Any]


@dataclass(frozen=True)
class FileRecord:
    """A file row as :meth:`PackageService.add_file` returns it."""

    id: int
    version: VersionRecord | Version
    filename: str
    sha256: str
    size: int
    rel: str
    uploader: str | None


def log_entry(what: str, who: str | None, dst: str, **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    entry = {
        "what": what,
        "who": who,
        "when": [now.year, now.month, now.day, now.hour, now.minute, now.second],
        "dst": dst,
    }
    entry.update(extra)
    return entry


class PackageService:
    def __init__(self, uow: UnitOfWork, files: BlobStore | None = None) -> None:
        self.uow = uow
        self.files = files
        # The session whose transaction ``touch`` wrote change tokens in, and for which projects.
        self._touched_in: Session | None = None
        self._touched: set[int] = set()

    @property
    def session(self) -> Session:
        # The unit of work's current session (a new one once it began writing).
        return self.uow.session

    # -- lookups -------------------------------------------------------------------------

    def project(self, index_id: int, name: str) -> Project | None:
        return self.session.execute(
            _PROJECT_BY_NAME, {"index_id": index_id, "name": normalize_name(name)}
        ).scalar_one_or_none()

    def version(self, project: Project, version: str) -> Version | None:
        return self.session.execute(
            _VERSION_BY_NAME, {"project_id": project.id, "version": version}
        ).scalar_one_or_none()

    def file_by_name(self, index_id: int, filename: str) -> File | None:
        return self.session.execute(
            _FILE_BY_NAME, {"index_id": index_id, "filename": filename}
        ).scalar_one_or_none()

    def deleted_file(self, index_id: int, filename: str, sha_prefix: str) -> DeletedFile | None:
        return (
            self.session.execute(
                select(DeletedFile).where(
                    DeletedFile.index_id == index_id,
                    DeletedFile.filename == filename,
                    DeletedFile.sha256.startswith(sha_prefix),
                )
            )
            .scalars()
            .first()
        )

    # -- creation ------------------------------------------------------------------------
    # Core statements built once (below the class): recording a file is the write every upload
    # makes, and the ORM's unit of work (identity map, flush ordering, object events) cost
    # several times what the three rows themselves do. The rows come back as plain records.

    def ensure_project(self, index: Index | IndexInfo | int, name: str) -> ProjectRecord:
        index_id = index if isinstance(index, int) else index.id
        connection = self.session.connection()
        normalized = normalize_name(name)
        params = {"index_id": index_id, "name": normalized}
        row = connection.execute(_FIND_PROJECT, params).first()
        if row is not None:
            return ProjectRecord(row[0], normalized, row[1])
        inserted = connection.execute(
            _INSERT_PROJECT, {**params, "display_name": name, "change_token": new_token()}
        )
        self.uow.changed()
        return ProjectRecord(inserted.inserted_primary_key[0], normalized, name)

    def ensure_version(
        self,
        project: ProjectRecord | Project,
        version: str,
        meta: dict[str, Any] | None = None,
        *,
        replace: bool = False,
    ) -> VersionRecord:
        """Get or create ``version``. New versions get every metadata key with a default; on an
        existing version only the keys given are updated (or all of them with ``replace``)."""
        connection = self.session.connection()
        row = connection.execute(
            _FIND_VERSION, {"project_id": project.id, "version": version}
        ).first()
        if row is None:
            data = empty_metadata()
            data.update(meta or {})
            data["name"] = project.display_name
        else:
            data = empty_metadata() if replace else dict(row[1] or {})
            data.update(meta or {})
            data["name"] = data.get("name") or project.display_name
        data["version"] = version
        if row is None:
            inserted = connection.execute(
                _INSERT_VERSION,
                {"project_id": project.id, "version": version, "meta": data, "created": utcnow()},
            )
            version_id = inserted.inserted_primary_key[0]
            self.touch(project.id)
        else:
            version_id = row[0]
            if data != row[1]:
                connection.execute(_UPDATE_VERSION, {"version_id": version_id, "meta": data})
                self.touch(project.id)
        return VersionRecord(version_id, project.id, project.display_name, version, data)

    def touch(self, project_id: int) -> None:
        """A project's versions or files changed: its simple-page caches key on the token.
        Once per transaction is enough, as no other transaction sees it before the commit."""
        session = self.session
        if self._touched_in is not session:
            self._touched_in, self._touched = session, set()
        if project_id in self._touched:
            return
        session.connection().execute(
            _TOUCH_PROJECT, {"project_id": project_id, "change_token": new_token()}
        )
        self._touched.add(project_id)
        self.uow.changed()

    def add_file(
        self,
        *,
        index: Index | IndexInfo,
        version: VersionRecord | Version,
        filename: str,
        replacing: File | None,
        blob: StoredBlob,
        rel: str = "releasefile",
        uploader: str | None,
        log: list[dict[str, Any]],
        requires_python: str | None = None,
        metadata_blob: StoredBlob | None = None,
        for_file: FileRecord | File | None = None,
        upload_time: datetime | None = None,
        provenance: str | None = None,
        yanked: bool = False,
        yanked_reason: str | None = None,
        download_count: int = 0,
    ) -> FileRecord:
        """Add the file row. ``replacing`` is the index's file of that name, as the caller
        looked it up (``file_by_name``) to check that the index allows replacing it: it goes.
        ``yanked``, ``yanked_reason`` and ``download_count``: a file carried over from an
        export keeps them."""
        self.uow.discard_if_rolled_back(self.files, blob)
        self.uow.discard_if_rolled_back(self.files, metadata_blob)
        if replacing is not None:
            self._drop_file(replacing, tombstone=replacing.sha256 != blob.sha256)
        connection = self.session.connection()
        # A file may come back after it was deleted: it is no longer "gone".
        connection.execute(
            _UNDELETE_FILE, {"index_id": index.id, "filename": filename, "sha256": blob.sha256}
        )
        upload_time = upload_time or utcnow()
        metadata_sha256 = metadata_blob.sha256 if metadata_blob else None
        values: dict[str, Any] = {
            "index_id": index.id,
            "version_id": version.id,
            "rel": rel,
            "filename": filename,
            "sha256": blob.sha256,
            "size": blob.size,
            "requires_python": requires_python,
            "yanked": yanked,
            "yanked_reason": yanked_reason,
            "upload_time": upload_time,
            "uploader": uploader,
            "metadata_sha256": metadata_sha256,
            "for_file_id": for_file.id if for_file else None,
            "log": log,
            "download_count": download_count,
            "simple_html": None,
            "simple_json": None,
            "provenance": provenance,
        }
        # A provenance URL is relative to the page like the file's: such an entry cannot be
        # stored without the page's URL prefix, and is rendered with it.
        if rel == "releasefile" and provenance is None:
            values.update(
                simple_tails(
                    index.fullname,
                    filename=filename,
                    sha256=blob.sha256,
                    version=version.version,
                    requires_python=requires_python,
                    yanked=yanked,
                    yanked_reason=yanked_reason,
                    size=blob.size,
                    upload_time=upload_time,
                    metadata_sha256=metadata_sha256,
                )
            )
        file_id = connection.execute(_INSERT_FILE, values).inserted_primary_key[0]
        self.touch(version.project_id)
        return FileRecord(
            id=file_id,
            version=version,
            filename=filename,
            sha256=blob.sha256,
            size=blob.size,
            rel=rel,
            uploader=uploader,
        )

    # -- deletion ------------------------------------------------------------------------

    def delete_file(self, file: File) -> None:
        version = file.version
        project = version.project
        self._drop_file(file, tombstone=True)
        self.session.flush()
        self.session.refresh(version)
        if not [f for f in version.files if f.rel != "toxresult"]:
            self.session.delete(version)
            self.session.flush()
        self.touch(project.id)
        self.session.flush()

    def delete_version(self, version: Version) -> None:
        project = version.project
        for file in list(version.files):
            self._drop_file(file, tombstone=True)
        # The collection still holds the rows just deleted; deleting the version must not
        # cascade to them a second time.
        self.session.expire(version, ["files"])
        self.session.delete(version)
        # The project stays, without versions, until it is deleted itself: while it exists it
        # claims its name in this stage and keeps hiding the mirrors behind it (see
        # ``indexes.inheritance``). Dropping it with its last version let an installer fetch
        # an upstream project of the same name instead.
        self.touch(project.id)
        self.session.flush()

    def delete_project(self, project: Project) -> None:
        for version in list(project.versions):
            for file in list(version.files):
                self._drop_file(file, tombstone=True)
            self.session.expire(version, ["files"])
        self.session.delete(project)
        self.session.flush()

    def delete_index_contents(self, index: Index) -> None:
        release_index_blobs(self.uow, self.files, index.id)
        self.session.execute(delete(Project).where(Project.index_id == index.id))
        self.session.execute(delete(DeletedFile).where(DeletedFile.index_id == index.id))
        self.session.flush()

    def _drop_file(self, file: File, *, tombstone: bool) -> None:
        if tombstone:
            exists = self.session.execute(
                select(DeletedFile.id).where(
                    DeletedFile.index_id == file.index_id,
                    DeletedFile.filename == file.filename,
                    DeletedFile.sha256 == file.sha256,
                )
            ).first()
            if not exists:
                self.session.add(
                    DeletedFile(index_id=file.index_id, filename=file.filename, sha256=file.sha256)
                )
        # Tox results belong to their release file.
        for result in self.session.execute(
            select(File).where(File.for_file_id == file.id)
        ).scalars():
            self._drop_file(result, tombstone=tombstone)
        shas = [file.sha256] + ([file.metadata_sha256] if file.metadata_sha256 else [])
        self.session.delete(file)
        self.session.flush()
        for sha in shas:
            self.uow.collect_after_commit(self.files, sha)


# Lookups, built once: building a statement costs more than running it.
_PROJECT_BY_NAME = select(Project).where(
    Project.index_id == bindparam("index_id"), Project.name == bindparam("name")
)
# Its files are loaded when asked for: storing a file into the version needs none.
_VERSION_BY_NAME = (
    select(Version)
    .options(lazyload(Version.files))
    .where(Version.project_id == bindparam("project_id"), Version.version == bindparam("version"))
)
_FILE_BY_NAME = select(File).where(
    File.index_id == bindparam("index_id"), File.filename == bindparam("filename")
)

_projects = Project.__table__
_versions = Version.__table__
_files = File.__table__
_deleted = DeletedFile.__table__

_FIND_PROJECT = select(_projects.c.id, _projects.c.display_name).where(
    _projects.c.index_id == bindparam("index_id"), _projects.c.name == bindparam("name")
)
_INSERT_PROJECT = insert(_projects)
_TOUCH_PROJECT = (
    update(_projects)
    .where(_projects.c.id == bindparam("project_id"))
    .values(change_token=bindparam("change_token"))
)
_FIND_VERSION = select(_versions.c.id, _versions.c.meta).where(
    _versions.c.project_id == bindparam("project_id"),
    _versions.c.version == bindparam("version"),
)
_INSERT_VERSION = insert(_versions)
_UPDATE_VERSION = (
    update(_versions)
    .where(_versions.c.id == bindparam("version_id"))
    .values(meta=bindparam("meta", type_=_versions.c.meta.type))
)
_UNDELETE_FILE = delete(_deleted).where(
    _deleted.c.index_id == bindparam("index_id"),
    _deleted.c.filename == bindparam("filename"),
    _deleted.c.sha256 == bindparam("sha256"),
)
_INSERT_FILE = insert(_files)
