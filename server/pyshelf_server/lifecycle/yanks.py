"""Yanking (PEP 592): a yanked file stays installable by an ``==`` pin and is marked yanked on
every page through the index and the indexes inheriting from it.

A release the index holds itself is yanked on its file rows. A release it only inherits (from a
mirror or another stage) is yanked by a row of ``inherited_yanks``: the stage's users see it
yanked, the index that holds the files is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..indexes.registry import IndexInfo
from ..limits import MAX_DESCRIPTION_LENGTH
from ..responses import APIError
from ..unit_of_work import UnitOfWork
from .models import InheritedYank


def inherited_yanks_reader(session: Callable[[], Session]) -> Callable[[list[int], str], list[Any]]:
    """What :class:`~..indexes.inheritance.Inheritance` asks for inherited yanks: the rows of
    the given indexes for a project, read once per request and project."""
    read: dict[tuple[tuple[int, ...], str], list[Any]] = {}

    def yanks(index_ids: list[int], project: str) -> list[Any]:
        key = (tuple(index_ids), project)
        if key not in read:
            read[key] = list(
                session().execute(
                    select(InheritedYank).where(
                        InheritedYank.index_id.in_(index_ids), InheritedYank.project == project
                    ).order_by(InheritedYank.id)
                ).scalars()
            )
        return read[key]

    return yanks


@dataclass(frozen=True)
class YankResult:
    # "hosted": the index's own files were changed; "inherited": a yank of the stage's own.
    kind: str
    files: list[str]


class YankService:
    """``inherited_files`` reads (it may fetch a mirror's page, which writes in a unit of work
    of its own: call it before the request begins writing); ``set_yanked`` writes."""

    def __init__(self, uow: UnitOfWork, request_state: Any) -> None:
        self.uow = uow
        self.shelf = request_state

    @property
    def session(self) -> Session:
        return self.uow.session

    def inherited_files(self, index: IndexInfo, project: str, version: str) -> list[str] | None:
        """The release files of ``project==version`` through ``index``, when the index does not
        hold that version itself (None when it does); 404 when there is no such version."""
        if index.is_mirror:
            raise APIError(
                400, f"{index.fullname} is a mirror: yank on a stage that inherits from it"
            )
        from ..packages.services import PackageService

        packages = PackageService(self.uow)
        own = packages.project(index.id, project)
        if own is not None and packages.version(own, version) is not None:
            return None
        answers = self.shelf.inheritance.version_answers(index, project)
        if answers is None or version not in answers:
            raise APIError(404, f"{project} {version} is not on {index.fullname}")
        return sorted(
            {
                str(link.get("href", "")).rsplit("/", 1)[-1]
                for _stage, data in answers[version]
                for link in data.get("+links", [])
                if link.get("rel") == "releasefile"
            }
        )

    def set_yanked(
        self,
        index: IndexInfo,
        project: str,
        version: str,
        *,
        inherited: list[str] | None,
        yanked: bool,
        reason: str | None,
        filename: str | None,
        who: str | None,
    ) -> YankResult:
        """Yank (or un-yank) every release file of ``project==version`` seen through
        ``index``, or only ``filename``; ``inherited`` is what :meth:`inherited_files` said."""
        if reason is not None and len(reason) > MAX_DESCRIPTION_LENGTH:
            raise APIError(400, f"a yank reason may be at most {MAX_DESCRIPTION_LENGTH} characters")
        if inherited is not None:
            return self._inherited(
                index, project, version, inherited, yanked, reason, filename, who
            )
        from ..packages.services import PackageService

        packages = PackageService(self.uow)
        own = packages.project(index.id, project)
        own_version = packages.version(own, version) if own is not None else None
        if own_version is None:
            raise APIError(404, f"{project} {version} is not on {index.fullname}")
        return self._hosted(packages, own_version, yanked, reason, filename)

    def _hosted(
        self, packages: Any, version: Any, yanked: bool, reason: str | None, filename: str | None
    ) -> YankResult:
        files = [f for f in version.files if f.rel == "releasefile"]
        if filename is not None:
            files = [f for f in files if f.filename == filename]
            if not files:
                raise APIError(404, f"{version.project.name} {version.version} has no file "
                                    f"{filename!r}")  # fmt: skip
        if not files:
            raise APIError(404, f"{version.project.name} {version.version} has no release files")
        for file in files:
            file.yanked = yanked
            file.yanked_reason = (reason or None) if yanked else None
        packages.touch(version.project_id)
        self.session.flush()
        return YankResult("hosted", [f.filename for f in files])

    def _inherited(
        self,
        index: IndexInfo,
        project: str,
        version: str,
        filenames: list[str],
        yanked: bool,
        reason: str | None,
        filename: str | None,
        who: str | None,
    ) -> YankResult:
        if filename is not None and filename not in filenames:
            raise APIError(404, f"{project} {version} has no file {filename!r}")
        key = filename or ""
        release = (index.id, project, version)
        rows = delete(InheritedYank).where(*_of_release(*release))
        if yanked or filename is not None:
            # Un-yanking the whole version lifts its single-file yanks too.
            rows = rows.where(InheritedYank.filename == key)
        self.session.execute(rows)
        if not yanked and filename is not None:
            self._split_version_yank(release, filenames, filename)
        if yanked:
            self.session.add(_yank_row(release, key, reason or None, who))
        self.session.flush()
        # No project row of this stage changes, so no page token would: a yank of an inherited
        # release is rare enough to count as a change of the layout, which every cached page
        # depends on.
        self.uow.changed(config=True)
        return YankResult("inherited", [filename] if filename else filenames)

    def _split_version_yank(
        self, release: tuple[int, str, str], filenames: list[str], filename: str
    ) -> None:
        """Un-yanking one file of a version the stage yanked as a whole: the other files stay
        yanked (as the files of a hosted release do), by rows of their own."""
        rows = {
            row.filename: row
            for row in self.session.execute(
                select(InheritedYank).where(*_of_release(*release))
            ).scalars()
        }
        whole = rows.get("")
        if whole is None:
            return
        for other in filenames:
            if other != filename and other not in rows:
                self.session.add(_yank_row(release, other, whole.reason, whole.who))
        self.session.delete(whole)


def _of_release(index_id: int, project: str, version: str) -> tuple[Any, ...]:
    """The conditions of a release's ``inherited_yanks`` rows on one index."""
    return (
        InheritedYank.index_id == index_id,
        InheritedYank.project == project,
        InheritedYank.version == version,
    )


def _yank_row(
    release: tuple[int, str, str], filename: str, reason: str | None, who: str | None
) -> InheritedYank:
    index_id, project, version = release
    return InheritedYank(
        index_id=index_id,
        project=project,
        version=version,
        filename=filename,
        reason=reason,
        who=who,
    )
