"""Recording a new release file in the database with a handful of prebuilt Core statements.

An upload writes its rows while it holds the database's write lock, and every other upload
waits for that lock. Through the ORM's unit of work the rows of one upload took about 10 ms
(loading the index with its owner and bases, the version with its files, flushing three
objects); these statements, run on the driver's cursor (:mod:`..statements`), take ~0.3 ms.
Only the common case comes here: a file name the index does not hold yet. Replacing a file on a
volatile index goes through :class:`~pyshelf_server.packages.services.PackageService`, which
knows how to drop the old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Connection

from ..db import new_token, utcnow
from ..indexes.models import Index
from ..names import normalize_name
from ..statements import DriverStatement
from ..storage.files import StoredBlob
from .backend import simple_tails
from .metadata import empty_metadata
from .models import DeletedFile, File, Project, Version

_indexes = Index.__table__
_projects = Project.__table__
_versions = Version.__table__
_files = File.__table__
_deleted = DeletedFile.__table__

# Whether the index exists, holds a file of that name, and holds a tombstone of that very file:
# one statement instead of three.
_SURVEY = DriverStatement(
    select(
        select(_indexes.c.id).where(_indexes.c.id == bindparam("index_id")).scalar_subquery(),
        select(_files.c.id)
        .where(
            _files.c.index_id == bindparam("index_id"), _files.c.filename == bindparam("filename")
        )
        .scalar_subquery(),
        select(_deleted.c.id)
        .where(
            _deleted.c.index_id == bindparam("index_id"),
            _deleted.c.filename == bindparam("filename"),
            _deleted.c.sha256 == bindparam("sha256"),
        )
        .scalar_subquery(),
    )
)
_PROJECT = DriverStatement(
    select(_projects.c.id, _projects.c.display_name).where(
        _projects.c.index_id == bindparam("index_id"), _projects.c.name == bindparam("name")
    )
)
_INSERT_PROJECT = DriverStatement.insert(_projects, returning=[_projects.c.id])
_TOUCH_PROJECT = DriverStatement(
    update(_projects)
    .where(_projects.c.id == bindparam("project_id"))
    .values(change_token=bindparam("token"))
)
_VERSION = DriverStatement(
    select(_versions.c.id, _versions.c.meta).where(
        _versions.c.project_id == bindparam("project_id"),
        _versions.c.version == bindparam("version_string"),
    )
)
_INSERT_VERSION = DriverStatement.insert(_versions, returning=[_versions.c.id])
_UPDATE_VERSION_META = DriverStatement(
    update(_versions)
    .where(_versions.c.id == bindparam("version_id"))
    .values(meta=bindparam("data"))
)
_INSERT_FILE = DriverStatement.insert(_files, returning=[_files.c.id])
_FORGET_TOMBSTONE = DriverStatement(
    delete(_deleted).where(
        _deleted.c.index_id == bindparam("index_id"),
        _deleted.c.filename == bindparam("filename"),
        _deleted.c.sha256 == bindparam("sha256"),
    )
)


@dataclass(frozen=True)
class Survey:
    index_exists: bool
    file_exists: bool
    # A tombstone of this very file (name and content): the upload brings it back.
    tombstone: bool


@dataclass(frozen=True)
class RecordedFile:
    # The normalised name, as plugins are told it (FileInfo.project).
    project: str
    version: str
    file_id: int
    requires_python: str | None


class ReleaseRecorder:
    """Writes the rows of a new file (and its project and version when they are new) on a
    connection in a write transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def survey(self, index_id: int, filename: str, sha256: str) -> Survey:
        row = _SURVEY.rows(
            self.connection, {"index_id": index_id, "filename": filename, "sha256": sha256}
        )[0]
        return Survey(row[0] is not None, row[1] is not None, row[2] is not None)

    def record(
        self,
        *,
        index_id: int,
        index_fullname: str,
        name: str,
        version: str,
        filename: str,
        blob: StoredBlob,
        meta: dict[str, Any],
        uploader: str | None,
        log: list[dict[str, Any]],
        rel: str = "releasefile",
        metadata_blob: StoredBlob | None = None,
        tombstone: bool = True,
    ) -> RecordedFile:
        """Insert the file row; the caller has made sure no file of that name is in the index
        (:meth:`survey`), and says whether a tombstone of it is to be removed."""
        connection = self.connection
        project_id, display_name, new_project = self._ensure_project(index_id, name)
        version_id, data = self._ensure_version(project_id, display_name, version, meta)
        requires_python = data.get("requires_python") or None
        row = {
            "index_id": index_id,
            "version_id": version_id,
            "rel": rel,
            "filename": filename,
            "sha256": blob.sha256,
            "size": blob.size,
            "requires_python": requires_python,
            "upload_time": utcnow(),
            "uploader": uploader,
            "log": log,
            "metadata_sha256": metadata_blob.sha256 if metadata_blob else None,
            "simple_html": None,
            "simple_json": None,
        }
        if rel == "releasefile":
            row.update(
                simple_tails(
                    index_fullname,
                    filename=filename,
                    sha256=blob.sha256,
                    version=version,
                    requires_python=requires_python,
                    size=blob.size,
                    upload_time=row["upload_time"],
                    metadata_sha256=row["metadata_sha256"],
                )
            )
        (file_id,) = _INSERT_FILE.rows(connection, row)[0]
        if not new_project:
            # A new project's row was inserted with a token of its own.
            _TOUCH_PROJECT.rows(connection, {"project_id": project_id, "token": new_token()})
        if tombstone:
            # A file may come back after it was deleted: it is no longer "gone".
            _FORGET_TOMBSTONE.rows(
                connection, {"index_id": index_id, "filename": filename, "sha256": blob.sha256}
            )
        return RecordedFile(
            project=normalize_name(name),
            version=version,
            file_id=file_id,
            requires_python=requires_python,
        )

    def _ensure_project(self, index_id: int, name: str) -> tuple[int, str, bool]:
        """(id, display name, whether it was inserted now)."""
        normalized = normalize_name(name)
        row = _PROJECT.first(self.connection, {"index_id": index_id, "name": normalized})
        if row is not None:
            return row[0], row[1], False
        (project_id,) = _INSERT_PROJECT.rows(
            self.connection, {"index_id": index_id, "name": normalized, "display_name": name}
        )[0]
        return project_id, name, True

    def _ensure_version(
        self, project_id: int, display_name: str, version: str, meta: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """The same merge as ``PackageService.ensure_version``: a new version gets every key
        with a default, an existing one only the keys given."""
        row = _VERSION.first(self.connection, {"project_id": project_id, "version_string": version})
        if row is None:
            data = empty_metadata()
            data.update(meta)
            data["name"] = display_name
            data["version"] = version
            (version_id,) = _INSERT_VERSION.rows(
                self.connection, {"project_id": project_id, "version": version, "meta": data}
            )[0]
            return version_id, data
        version_id, stored = row[0], row[1] or {}
        data = dict(stored)
        data.update(meta)
        data["name"] = data.get("name") or display_name
        data["version"] = version
        if data != stored:
            _UPDATE_VERSION_META.rows(self.connection, {"version_id": version_id, "data": data})
        return version_id, data
