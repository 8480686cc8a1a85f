"""Projects, versions and files of hosted indexes: storing, overwriting and deleting them.

The bytes are stored (atomically, content-addressed) before a row refers to them; a row that is
rolled back takes a blob it created with it, and a blob no row refers to any more is removed
after the deleting transaction commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
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

    @property
    def session(self) -> Session:
        # The unit of work's current session (a new one once it began writing).
        return self.uow.session

    # -- lookups -------------------------------------------------------------------------

    def project(self, index_id: int, name: str) -> Project | None:
        return self.session.execute(
            select(Project).where(
                Project.index_id == index_id, Project.name == normalize_name(name)
            )
        ).scalar_one_or_none()

    def version(self, project: Project, version: str) -> Version | None:
        # Its files are loaded when asked for: storing a file into the version needs none.
        return self.session.execute(
            select(Version)
            .options(lazyload(Version.files))
            .where(Version.project_id == project.id, Version.version == version)
        ).scalar_one_or_none()

    def file_by_name(self, index_id: int, filename: str) -> File | None:
        return self.session.execute(
            select(File).where(File.index_id == index_id, File.filename == filename)
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

    def ensure_project(self, index: Index | IndexInfo | int, name: str) -> Project:
        index_id = index if isinstance(index, int) else index.id
        project = self.project(index_id, name)
        if project is None:
            project = Project(index_id=index_id, name=normalize_name(name), display_name=name)
            self.session.add(project)
            self.session.flush()
        return project

    def ensure_version(
        self,
        project: Project,
        version: str,
        meta: dict[str, Any] | None = None,
        *,
        replace: bool = False,
    ) -> Version:
        """Get or create ``version``. New versions get every metadata key with a default; on an
        existing version only the keys given are updated (or all of them with ``replace``)."""
        existing = self.version(project, version)
        if existing is None:
            data = empty_metadata()
            data.update(meta or {})
            data["name"] = project.display_name
            data["version"] = version
            existing = Version(project=project, version=version, meta=data)
            self.session.add(existing)
        else:
            data = empty_metadata() if replace else dict(existing.meta or {})
            data.update(meta or {})
            data["name"] = data.get("name") or project.display_name
            data["version"] = version
            existing.meta = data
        self.touch(project)
        # Not flushed here: the rows go with the caller's next flush, in one round with the
        # file an upload adds (each flush is a round of the ORM's unit of work).
        return existing

    def touch(self, project: Project) -> None:
        project.change_token = new_token()

    def add_file(
        self,
        *,
        index: Index | IndexInfo,
        version: Version,
        filename: str,
        replacing: File | None,
        blob: StoredBlob,
        rel: str = "releasefile",
        uploader: str | None,
        log: list[dict[str, Any]],
        requires_python: str | None = None,
        metadata_blob: StoredBlob | None = None,
        for_file: File | None = None,
        upload_time: datetime | None = None,
        provenance: str | None = None,
    ) -> File:
        """Add the file row. ``replacing`` is the index's file of that name, as the caller
        looked it up (``file_by_name``) to check that the index allows replacing it: it goes."""
        self.uow.discard_if_rolled_back(self.files, blob)
        self.uow.discard_if_rolled_back(self.files, metadata_blob)
        if replacing is not None:
            self._drop_file(replacing, tombstone=replacing.sha256 != blob.sha256)
        # A file may come back after it was deleted: it is no longer "gone". No tombstone is
        # pending (``_drop_file`` flushes its own), so the rows pending from ``ensure_version``
        # wait for the one flush below, with the file's.
        with self.session.no_autoflush:
            self.session.execute(
                delete(DeletedFile).where(
                    DeletedFile.index_id == index.id,
                    DeletedFile.filename == filename,
                    DeletedFile.sha256 == blob.sha256,
                )
            )
        row = File(
            index_id=index.id,
            version=version,
            rel=rel,
            filename=filename,
            sha256=blob.sha256,
            size=blob.size,
            requires_python=requires_python,
            uploader=uploader,
            log=log,
            metadata_sha256=metadata_blob.sha256 if metadata_blob else None,
            for_file_id=for_file.id if for_file else None,
            upload_time=upload_time or utcnow(),
            provenance=provenance,
        )
        # A provenance URL is relative to the page like the file's: such an entry cannot be
        # stored without the page's URL prefix, and is rendered with it.
        if rel == "releasefile" and provenance is None:
            tails = simple_tails(
                index.fullname,
                filename=filename,
                sha256=blob.sha256,
                version=version.version,
                requires_python=requires_python,
                size=blob.size,
                upload_time=row.upload_time,
                metadata_sha256=row.metadata_sha256,
            )
            row.simple_html, row.simple_json = tails["simple_html"], tails["simple_json"]
        self.session.add(row)
        self.touch(version.project)
        self.session.flush()
        return row

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
        self.touch(project)
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
        self.touch(project)
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
