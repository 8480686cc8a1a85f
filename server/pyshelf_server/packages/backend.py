"""The hosted stage's answers to inheritance, read from the database."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..indexes.backends import Link
from ..indexes.registry import IndexInfo
from ..lifecycle.provenance import SUFFIX as PROVENANCE_SUFFIX
from ..simple.render import JSON_TYPE, html_tail, json_tail
from .models import File, Project, Version


def file_path(fullname: str, sha256: str, filename: str) -> str:
    """A stored file's path below the server root, for the index ``fullname`` (devpi's
    layout)."""
    return f"{fullname}/+f/{sha256[:3]}/{sha256[3:16]}/{filename}"


def release_link(
    fullname: str,
    *,
    filename: str,
    sha256: str,
    version: str | None,
    requires_python: str | None = None,
    yanked: bool = False,
    yanked_reason: str | None = None,
    size: int | None = None,
    upload_time: datetime | None = None,
    metadata_sha256: str | None = None,
    provenance: bool = False,
) -> Link:
    path = file_path(fullname, sha256, filename)
    return Link(
        filename=filename,
        path=path,
        hashes={"sha256": sha256},
        stage=fullname,
        version=version,
        requires_python=requires_python,
        yanked=(yanked_reason or True) if yanked else False,
        size=size,
        upload_time=upload_time,
        core_metadata={"sha256": metadata_sha256} if metadata_sha256 else None,
        provenance=path + PROVENANCE_SUFFIX if provenance else None,
    )


def simple_tails(fullname: str, **file: Any) -> dict[str, str]:
    """The ``simple_html`` and ``simple_json`` column values of a new release file, described
    by the keyword arguments :func:`release_link` takes."""
    link = release_link(fullname, **file)
    return {"simple_html": html_tail(link), "simple_json": json_tail(link)}


def _release_files(project_id: int, *columns: Any) -> Any:
    """``columns`` of a project's release files, in upload order."""
    return (
        select(*columns)
        .join(Version, Version.id == File.version_id)
        .where(Version.project_id == project_id, File.rel == "releasefile")
        .order_by(File.id)
    )


class HostedBackend:
    stores_page_entries = True
    holds_hosted_files = True

    def __init__(self, *, session: Session, index: IndexInfo, app: Any = None) -> None:
        self.session = session
        self.index = index
        # Answers are memoised per request: inheritance asks the same questions repeatedly.
        self._project_row = cache(self._load_project_row)

    def _load_project_row(self, name: str) -> tuple[int, str, str] | None:
        row = self.session.execute(
            select(Project.id, Project.display_name, Project.change_token).where(
                Project.index_id == self.index.id, Project.name == name
            )
        ).first()
        return (row[0], row[1], row[2]) if row else None

    def project_names(self) -> Iterable[str]:
        return self.session.execute(
            select(Project.name).where(Project.index_id == self.index.id).order_by(Project.name)
        ).scalars()

    def has_project(self, name: str) -> bool:
        return self._project_row(name) is not None

    def display_name(self, name: str) -> str | None:
        row = self._project_row(name)
        return row[1] if row else None

    def cache_token(self, name: str) -> tuple[str | None, float | None]:
        row = self._project_row(name)
        return (row[2] if row else None), None

    def links(self, name: str) -> list[Link] | None:
        row = self._project_row(name)
        if row is None:
            return None
        query = _release_files(
            row[0],
            File.filename,
            File.sha256,
            File.requires_python,
            File.yanked,
            File.yanked_reason,
            File.size,
            File.upload_time,
            File.metadata_sha256,
            File.provenance.is_not(None),
            Version.version,
        )
        stage = self.index.fullname
        return [
            release_link(
                stage,
                filename=filename,
                sha256=sha256,
                version=version,
                requires_python=rp,
                yanked=yanked,
                yanked_reason=reason,
                size=size,
                upload_time=uploaded,
                metadata_sha256=meta_sha,
                provenance=has_provenance,
            )
            for (
                filename,
                sha256,
                rp,
                yanked,
                reason,
                size,
                uploaded,
                meta_sha,
                has_provenance,
                version,
            ) in self.session.connection().execute(query).all()
        ]

    def page_entries(self, name: str, media_type: str) -> list[Any] | None:
        """(filename, version, stored tail) of each release file of ``name`` in upload order;
        None when the project does not exist here. A tail is None for files stored before
        tails were kept, or changed since."""
        row = self._project_row(name)
        if row is None:
            return None
        tail = File.simple_json if media_type == JSON_TYPE else File.simple_html
        query = _release_files(row[0], File.filename, Version.version, tail)
        return list(self.session.connection().execute(query).all())

    def versions(self, name: str) -> dict[str, dict[str, Any]] | None:
        row = self._project_row(name)
        if row is None:
            return None
        versions = self.session.execute(
            select(Version).where(Version.project_id == row[0]).order_by(Version.id)
        ).scalars()
        return {v.version: version_data(self.index, v) for v in versions}


def link_data(index: IndexInfo, file: File, by_id: dict[int, File]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "rel": file.rel,
        "href": file_path(index.fullname, file.sha256, file.filename),
        "hash_spec": f"sha256={file.sha256}",
        "hashes": {"sha256": file.sha256},
        "log": list(file.log or []),
    }
    if file.rel == "releasefile" and file.yanked:
        data["yanked"] = file.yanked_reason or True
    if file.for_file_id is not None and file.for_file_id in by_id:
        target = by_id[file.for_file_id]
        data["for_href"] = file_path(index.fullname, target.sha256, target.filename)
    return data


def version_data(index: IndexInfo, version: Version) -> dict[str, Any]:
    data = dict(version.meta or {})
    data["name"] = data.get("name") or version.project.display_name
    data["version"] = version.version
    by_id = {f.id: f for f in version.files}
    data["+links"] = [link_data(index, f, by_id) for f in version.files]
    return data
