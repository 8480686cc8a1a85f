"""The read facade: a :class:`ShelfReader` of a request (``reader``) or of its own read
transaction (``open_reader``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from ..accounts.models import User
from ..db import read_state
from ..indexes.backends import Link, StageBackend
from ..indexes.inheritance import Inheritance
from ..indexes.registry import IndexInfo, IndexSnapshot
from ..indexes.types import IndexType
from ..lifecycle.yanks import inherited_yanks_reader
from ..mirror.links import file_key
from ..mirror.models import MirrorFile
from ..packages.backend import HostedBackend
from ..packages.models import File, Project
from ..responses import IndexNotFound
from ..security import index_listed
from .summaries import ProjectSummary, hosted_summary, summary_from_versions
from .values import StoredFile, UserInfo, VersionInfo


def reader(request: Any) -> ShelfReader:
    """The read facade of ``request``: what the request's transaction sees."""
    shelf = request.shelf
    return ShelfReader(
        request.registry.pyshelf,
        session=lambda: request.db,
        snapshot=lambda: shelf.snapshot,
        backend=shelf.backend,
        listed=lambda index: index_listed(request, index),
    )


@contextmanager
def open_reader(registry: Any) -> Iterator[ShelfReader]:
    """A read facade outside requests, over one read transaction of its own (closed when the
    block ends). Nothing is remembered between calls: a long walk over every project does not
    accumulate what it read."""
    app = registry.pyshelf
    with app.database.reading() as session:
        snapshot = app.registry.snapshot(session, read_state(session)[2])

        def backend(info: IndexInfo) -> StageBackend:
            made: StageBackend = app.index_type(info.type).make_backend(
                session=session, index=info, app=app
            )
            return made

        yield ShelfReader(app, session=lambda: session, snapshot=lambda: snapshot, backend=backend)


class ShelfReader:
    """Users, indexes, projects, versions and files, read-only. Obtain one with
    :func:`reader` or :func:`open_reader`."""

    def __init__(
        self,
        app: Any,
        *,
        session: Callable[[], Session],
        snapshot: Callable[[], IndexSnapshot],
        backend: Callable[[IndexInfo], StageBackend],
        listed: Callable[[IndexInfo], bool] | None = None,
    ) -> None:
        self._app = app
        self._session = session
        self._snapshot = snapshot
        self._backend = backend
        # Which indexes listings may name (``pyshelf_index_hidden``); all outside requests.
        self._listed = listed or (lambda index: True)

    # -- indexes -------------------------------------------------------------------------

    def indexes(self) -> list[IndexInfo]:
        """Every index the requester may see listed, sorted by full name."""
        listed = [i for i in self._snapshot().by_name.values() if self._listed(i)]
        return sorted(listed, key=lambda i: i.fullname)

    def index(self, fullname: str) -> IndexInfo | None:
        return self._snapshot().get(fullname)

    def require_index(self, fullname: str) -> IndexInfo:
        """The index, or the server's 404 answer."""
        info = self.index(fullname)
        if info is None:
            raise IndexNotFound(fullname)
        return info

    def resolution_order(self, index: IndexInfo) -> list[IndexInfo]:
        """devpi's order: the index itself, its bases breadth-first, every mirror last."""
        return self._snapshot().resolution_order(index)

    def index_type(self, index: IndexInfo) -> IndexType:
        index_type: IndexType = self._app.index_type(index.type)
        return index_type

    # -- users ---------------------------------------------------------------------------

    def users(self) -> list[UserInfo]:
        """Every user with their indexes, sorted by name."""
        return self._users(None)

    def user(self, name: str) -> UserInfo | None:
        found = self._users(name)
        return found[0] if found else None

    def _users(self, only: str | None) -> list[UserInfo]:
        query = select(User.name, User.title, User.description).order_by(User.name)
        if only is not None:
            query = query.where(User.name == only)
        by_user: dict[str, list[IndexInfo]] = {}
        for info in self._snapshot().by_name.values():
            if self._listed(info):
                by_user.setdefault(info.user, []).append(info)
        return [
            UserInfo(
                name,
                title or "",
                description or "",
                tuple(sorted(by_user.get(name, ()), key=lambda i: i.name)),
            )
            for name, title, description in self._session().execute(query)
        ]

    # -- projects and versions through an index --------------------------------------------

    def projects(self, index: IndexInfo) -> list[tuple[str, str]]:
        """(project, full name of the stage it comes from), sorted, of the index's own and
        inherited hosted projects, as the index type lets them through. Mirrors are left out:
        their lists have hundreds of thousands of names (see ``mirror_names_with_prefix``)."""
        index_type = self.index_type(index)
        seen: dict[str, str] = {}
        for stage in self.resolution_order(index):
            if stage.is_mirror:
                continue
            names = index_type.filter_projects(index, self._backend(stage).project_names())
            for name in names:
                seen.setdefault(name, stage.fullname)
        return sorted(seen.items())

    def versions(self, index: IndexInfo, project: str) -> list[VersionInfo] | None:
        """Every version of ``project`` (normalised name) visible through ``index``, in the
        order the stages answered, with the stage each comes from; None when no stage allowed
        to answer has the project."""
        answers = self._inheritance().version_answers(index, project)
        if answers is None:
            return None
        return [
            VersionInfo(version, first.fullname, data, tuple(s.fullname for s, _ in shadowing))
            for version, ((first, data), *shadowing) in answers.items()
        ]

    def links(self, index: IndexInfo, project: str) -> list[Link] | None:
        """The release-file links of ``project`` through ``index``, as its simple page lists
        them; None when no allowed stage has the project."""
        return self._inheritance().links(index, project)

    def _inheritance(self) -> Inheritance:
        return Inheritance(
            self._snapshot(), self._backend, self.index_type,
            inherited_yanks=inherited_yanks_reader(self._session), clock=self._app.clock,
        )  # fmt: skip

    # -- one index's own projects --------------------------------------------------------------

    def own_projects(self, stage: IndexInfo) -> list[str]:
        """Normalised names of the projects ``stage`` holds itself. For a mirror, only those
        whose page was fetched: its upstream list is never read for this."""
        backend = self._backend(stage)
        if stage.is_mirror:
            fetched = getattr(backend, "fetched_project_names", None)
            return list(fetched()) if fetched is not None else []
        return list(backend.project_names())

    def own_links(self, stage: IndexInfo, project: str) -> list[Link]:
        """The release-file links ``stage`` itself holds for ``project`` (none inherited, no
        index type filter); [] when it has none. Never asks a mirror's upstream for a page
        it has not fetched."""
        if stage.is_mirror and project not in self.own_projects(stage):
            return []
        return list(self._backend(stage).links(project) or [])

    def display_name(self, stage: IndexInfo, project: str) -> str | None:
        """The name as uploaded (or as upstream spells it); None when ``stage`` does not have
        the project. Never asks a mirror's upstream."""
        return self._backend(stage).display_name(project)

    def project_summary(
        self,
        stage: IndexInfo,
        project: str,
        choose: Callable[[Iterable[str]], str | None],
    ) -> ProjectSummary | None:
        """The versiondata of one version of ``stage``'s own ``project`` — the one ``choose``
        picks from its version strings (given in upload order) — and the docs zip of each
        version; None when the stage does not have the project.

        A hosted index reads only the version strings, the chosen version's metadata and the
        docs zips' rows: building every version's data of a project with thousands of versions
        holds tens of MB for a moment. Other index types are read through their backend."""
        backend = self._backend(stage)
        if type(backend) is HostedBackend:
            return hosted_summary(self._session(), stage, project, choose)
        return summary_from_versions(stage, project, backend.versions(project) or {}, choose)

    # -- files -------------------------------------------------------------------------------

    def stored_files(self, hrefs: Iterable[str]) -> dict[str, StoredFile]:
        """The records of files by their ``href`` in versiondata (``user/index/+f/…/name``);
        hrefs without a record (mirrored files, unknown indexes) are left out."""
        snapshot = self._snapshot()
        wanted: dict[tuple[int, str], str] = {}
        for href in hrefs:
            info = snapshot.get("/".join(href.split("/", 2)[:2]))
            if info is not None:
                wanted[(info.id, href.rsplit("/", 1)[-1])] = href
        if not wanted:
            return {}
        rows = self._session().execute(
            select(File).where(tuple_(File.index_id, File.filename).in_(list(wanted)))
        ).scalars()
        found = {}
        for row in rows:
            href = wanted[(row.index_id, row.filename)]
            found[href] = StoredFile(
                index=snapshot.by_id[row.index_id].fullname,
                filename=row.filename,
                rel=row.rel,
                sha256=row.sha256,
                size=row.size,
                upload_time=row.upload_time,
                uploader=row.uploader,
                download_count=row.download_count or 0,
                yanked=bool(row.yanked),
            )
        return found

    def download_counts(self, hrefs: Iterable[str]) -> dict[str, int]:
        """How often the files behind versiondata ``href``s were downloaded, hosted and
        mirrored ones alike (mirrored files not fetched yet are left out)."""
        hrefs = list(hrefs)
        counts = {href: row.download_count for href, row in self.stored_files(hrefs).items()}
        snapshot = self._snapshot()
        wanted: dict[tuple[int, str, str], str] = {}
        for href in hrefs:
            parts = href.split("/")
            info = snapshot.get("/".join(parts[:2])) if len(parts) >= 5 else None
            if href in counts or info is None or not info.is_mirror:
                continue
            if parts[2] == "+f" and len(parts) == 6:
                key = file_key(parts[3], parts[4])
            elif parts[2] == "+e" and len(parts) == 5:
                key = file_key(parts[3], "")
            else:
                continue
            wanted[(info.id, parts[-1], key)] = href
        if wanted:
            rows = self._session().execute(
                select(
                    MirrorFile.index_id, MirrorFile.filename, MirrorFile.key,
                    MirrorFile.download_count,
                ).where(
                    tuple_(MirrorFile.index_id, MirrorFile.filename, MirrorFile.key).in_(
                        list(wanted)
                    )
                )
            )
            for index_id, filename, key, count in rows:
                counts[wanted[(index_id, filename, key)]] = count or 0
        return counts

    def open_file(self, sha256: str) -> BinaryIO:
        """The stored content with ``sha256``, opened for reading (seekable).
        ``FileNotFoundError`` when it is not stored."""
        return self._app.files.open(sha256)

    def project_tokens(self) -> dict[tuple[str, str], str]:
        """``{(index full name, project): change token}`` of every project an index holds
        itself (for a mirror: every page it fetched). A project's token changes with every
        change to what it shows, whichever server process made it: a plugin that keeps a copy
        of its own (a search index) compares tokens to find what changed."""
        from ..mirror.models import MirrorProject

        names = {info.id: info.fullname for info in self._snapshot().by_name.values()}
        found: dict[tuple[str, str], str] = {}
        for model in (Project, MirrorProject):
            rows = self._session().execute(
                select(model.index_id, model.name, model.change_token)
            )
            for index_id, name, token in rows:
                fullname = names.get(index_id)
                if fullname is not None:
                    found[fullname, name] = token
        return found

    def file_in_use(self, sha256: str) -> bool:
        """Whether any index still holds a file with this content."""
        count = self._session().execute(
            select(func.count(File.id)).where(File.sha256 == sha256)
        ).scalar_one()
        return bool(count)

    def stored_bytes(self) -> int:
        """Bytes of stored files, each content counted once however many indexes hold it."""
        sizes = (
            select(File.sha256, func.max(File.size).label("size")).group_by(File.sha256).subquery()
        )
        total = self._session().execute(select(func.coalesce(func.sum(sizes.c.size), 0)))
        return int(total.scalar_one())

    # -- mirrors -------------------------------------------------------------------------------

    def mirror_names_with_prefix(self, mirror: IndexInfo, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` names of the mirror's stored project list starting with ``prefix``
        (normalised); [] when no list is stored. Never downloads the list."""
        lookup = getattr(self._backend(mirror), "project_names_with_prefix", None)
        return list(lookup(prefix, limit)) if lookup is not None else []

    def mirror_status(self, mirror: IndexInfo) -> dict[str, Any] | None:
        """Facts about the mirror's upstream (last fetch, last error), when its type reports
        them."""
        report = getattr(self._backend(mirror), "upstream_status", None)
        return report() if report is not None else None
