"""The server's public API for plugins.

A plugin talks to the server through the hooks of :mod:`pyshelf_server.hookspecs`
(implemented with ``pyshelf_server.hookimpl``) and through this module — nothing else of
``pyshelf_server``: models, services and the request's internals may change in any release.
Everything listed in ``__all__`` keeps its meaning; see ``docs/plugins.md``.

Reading what the server holds goes through a :class:`ShelfReader`:

* ``reader(request)`` inside a request: it reads the request's own transaction, so what a
  view shows agrees with the request's permissions and serial;
* ``with open_reader(registry) as shelf:`` outside requests (a background thread, a command
  run by ``pyshelf_cmdline_run``): it opens a read transaction of its own and closes it at the
  end of the block.

Indexes are :class:`IndexInfo` values (frozen): what hooks receive as ``index`` and what
``request.context.index`` is on the routes of an index. Reads "through" an index follow
devpi's inheritance: its resolution order, the mirror whitelist, and the index type's filters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from . import __version__ as SERVER_VERSION
from .accounts.models import User
from .api.views import status_info
from .cli.options import env_default, env_name
from .db import read_state
from .indexes.backends import Link, StageBackend
from .indexes.inheritance import Inheritance
from .indexes.registry import IndexInfo, IndexSnapshot
from .indexes.types import (
    COMMON_OPTIONS,
    IndexType,
    Option,
    OptionError,
    StageType,
    to_acl,
    to_any,
    to_bool,
    to_int,
    to_list,
    to_text,
    to_url,
)
from .lifecycle.yanks import inherited_yanks_reader
from .memory import release_free_memory
from .mirror.links import file_key
from .mirror.models import MirrorFile
from .names import normalize_name
from .packages.backend import HostedBackend
from .packages.models import File, Project, Version
from .packages.services import FileInfo
from .permissions import ANONYMOUS, AUTHENTICATED, Permission
from .resources import IndexContext, RootContext, UserContext
from .responses import APIError, IndexNotFound
from .routes import NAME
from .security import Identity, index_listed
from .settings import ServerSettings
from .simple.negotiation import is_installer, wants_api_json, wants_simple_json
from .views.helpers import absolute

__all__ = [
    "ANONYMOUS",
    "AUTHENTICATED",
    "COMMON_OPTIONS",
    "NAME",
    "ROUTE_INDEX",
    "ROUTE_PROJECT",
    "ROUTE_ROOT",
    "ROUTE_STATUS",
    "ROUTE_USER",
    "ROUTE_USER_TOKENS",
    "ROUTE_VERSION",
    "SERVER_VERSION",
    "APIError",
    "FileInfo",
    "Identity",
    "IndexContext",
    "IndexInfo",
    "IndexType",
    "Link",
    "Option",
    "OptionError",
    "Permission",
    "ProjectSummary",
    "RootContext",
    "ServerSettings",
    "ShelfReader",
    "StageBackend",
    "StageType",
    "StoredFile",
    "TokenSummary",
    "Tokens",
    "UserContext",
    "UserInfo",
    "VersionInfo",
    "absolute_url",
    "account_links",
    "env_default",
    "env_name",
    "index_page_links",
    "is_installer",
    "is_upload_request",
    "log_in",
    "normalize_name",
    "open_reader",
    "reader",
    "register_token_caveat",
    "release_free_memory",
    "server_serial",
    "server_settings",
    "status_info",
    "to_acl",
    "to_any",
    "to_bool",
    "to_int",
    "to_list",
    "to_text",
    "to_url",
    "tokens",
    "wants_api_json",
    "wants_simple_json",
]

# Names of the core's routes, for ``request.route_url`` and for view registrations that add a
# representation (the web's HTML pages) to a core URL. Route factories: ``RootContext``,
# ``UserContext`` (``.username``) and ``IndexContext`` (``.index``, an ``IndexInfo``).
ROUTE_ROOT = "root"
ROUTE_STATUS = "status"
ROUTE_USER = "user"
# ``/{user}/+tokens``: the user's API tokens (``Tokens`` reads and revokes them).
ROUTE_USER_TOKENS = "user.tokens"
ROUTE_INDEX = "index"
ROUTE_PROJECT = "project"
ROUTE_VERSION = "version"


# -- plain values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserInfo:
    name: str
    title: str
    description: str
    # The user's indexes, by name.
    indexes: tuple[IndexInfo, ...]


@dataclass(frozen=True)
class VersionInfo:
    """One version as seen through an index: the first stage of the resolution order that has
    it answers, later stages that have it too are ``shadowed``."""

    version: str
    # Full name of the index the data comes from.
    stage: str
    # devpi's versiondata: core metadata, ``name``, ``version`` and ``+links`` (each with
    # ``rel``, ``href`` below the server root, ``hashes``, ``log``, and ``for_href`` for tox
    # results).
    data: dict[str, Any]
    shadowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredFile:
    """What the server records about a file stored in an index (mirrored files that were never
    fetched have none)."""

    index: str
    filename: str
    rel: str
    sha256: str
    size: int
    upload_time: datetime | None
    uploader: str | None
    download_count: int
    yanked: bool


@dataclass(frozen=True)
class ProjectSummary:
    """A project of one index (its own versions, not inherited ones), as a search entry
    describes it: one chosen version's data and where its docs are."""

    stage: str
    name: str
    # The chosen version and its versiondata (``name`` is the name as uploaded).
    version: str
    data: dict[str, Any]
    # sha256 of the first docs zip of each version that has one.
    doc_zips: dict[str, str]


# -- helpers -----------------------------------------------------------------------------------


def absolute_url(request: Any, path: str) -> str:
    """``path`` (below the server root) as an absolute URL, honouring ``--outside-url`` and the
    ``X-Outside-Url`` header."""
    return absolute(request, path)


def server_settings(registry_or_request: Any) -> ServerSettings:
    """The server's settings; plugin options are in ``.options`` keyed by argparse ``dest``."""
    registry = getattr(registry_or_request, "registry", registry_or_request)
    settings: ServerSettings = registry.pyshelf.settings
    return settings


def is_upload_request(request: Any) -> bool:
    """Whether ``request`` is an upload (setuptools' form POST): its errors are answered in the
    form upload tools read, never as a page."""
    return bool(getattr(request, "is_upload", False))


def account_links(request: Any) -> list[tuple[str, str]]:
    """``(label, URL)`` of the account pages plugins serve (``pyshelf_account_links``)."""
    answers = request.registry.pyshelf.pm.hook.pyshelf_account_links(request=request)
    return [link for answer in answers for link in answer or ()]


def index_page_links(request: Any, index: IndexInfo) -> list[tuple[str, str]]:
    """``(label, URL)`` of the pages plugins serve about ``index``
    (``pyshelf_index_page_links``), for a web page to link."""
    answers = request.registry.pyshelf.pm.hook.pyshelf_index_page_links(
        request=request, index=index
    )
    return [link for answer in answers for link in answer or ()]


def log_in(request: Any, username: str, password: str) -> tuple[str, int] | None:
    """Check ``password`` (a password, never a login token: logging in with one would extend
    it for ever) and answer ``(login token, seconds it lasts)`` as ``/+login`` does, or None.
    The token authenticates as ``username`` wherever the core takes credentials, e.g. from a
    ``pyshelf_get_credentials`` implementation."""
    from .security import current_password_hash

    app = request.registry.pyshelf
    if password.startswith("["):
        return None
    name = app.pm.hook.pyshelf_authenticate(request=request, username=username, secret=password)
    if name is None:
        return None
    token = app.login_tokens.create(name, current_password_hash(request, name) or "")
    return token, app.settings.login_token_seconds


# -- API tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenSummary:
    """One API token as its owner may see it (never the token itself)."""

    id: str
    restrictions: tuple[str, ...]
    description: str | None
    created: datetime
    expires: datetime | None


def register_token_caveat(name: str, checker: Callable[[Any, str], str | None]) -> None:
    """Accept tokens carrying the caveat ``<name>=<value>``; ``checker(request, value)`` is
    asked at use (once per request) and answers None, or the message of a 403."""
    from .accounts.tokens import register_caveat

    register_caveat(name, checker)


class Tokens:
    """The API tokens facade of one request (``tokens(request)``); see
    ``pyshelf_server.accounts.tokens`` for what a token is and allows."""

    def __init__(self, request: Any) -> None:
        self.request = request

    def _service(self) -> Any:
        from .accounts.tokens import TokenService

        return TokenService.for_request(self.request)

    def _user(self, username: str) -> Any:
        from .accounts.services import UserService

        return UserService(self.request.uow).require(username)

    def _check_owner(self, username: str) -> None:
        identity = self.request.identity
        if identity is None:
            raise APIError(401, "authentication required")
        if identity.grant is not None:
            raise APIError(403, "a token cannot change users or create tokens")
        if identity.username not in (username, "root"):
            raise APIError(403, f"no permission to manage the tokens of {username!r}")

    def list(self, username: str) -> list[TokenSummary]:
        """``username``'s tokens, for that user or root."""
        self._check_owner(username)
        return [
            TokenSummary(t.id, tuple(t.restrictions), t.description, t.created, t.expires)
            for t in self._service().list(self._user(username))
        ]

    def revoke(self, username: str, token_id: str) -> bool:
        """Revoke ``username``'s token (for that user or root); False: no such token."""
        from .views.helpers import begin_write

        self._check_owner(username)
        begin_write(self.request)
        return bool(self._service().revoke(self._user(username), token_id))

    def mint(
        self,
        username: str,
        *,
        expires: int | None,
        allowed: Iterable[str] | None = None,
        indexes: Iterable[str] | None = None,
        projects: Iterable[str] | None = None,
        description: str | None = None,
        caveats: dict[str, str] | None = None,
    ) -> tuple[str, str]:
        """A token acting as ``username`` with these restrictions, made on the server's own
        authority (no permission of the request is asked; the caller decided): ``(token id,
        token)``. ``expires`` in epoch seconds (None: never); ``caveats`` must be registered
        with :func:`register_token_caveat`."""
        from .views.helpers import begin_write

        begin_write(self.request)
        return tuple(
            self._service().create(
                self._user(username),
                expires=expires,
                allowed=allowed,
                indexes=indexes,
                projects=projects,
                description=description,
                caveats=caveats,
                policy=False,
            )
        )  # type: ignore[return-value]


def tokens(request: Any) -> Tokens:
    """The API tokens facade of ``request``."""
    return Tokens(request)


# -- the read facade ---------------------------------------------------------------------------


def server_serial(registry: Any) -> int:
    """The server's serial (``X-Devpi-Serial``) as last read: it grows with every committed
    change, of any server process on the database. Cheap enough to poll."""
    serial: int = registry.pyshelf.state_reader.read()[0]
    return serial


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
            return _hosted_summary(self._session(), stage, project, choose)
        return _summary_from_versions(stage, project, backend.versions(project) or {}, choose)

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
        from .mirror.models import MirrorProject

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


def _hosted_summary(
    session: Session,
    stage: IndexInfo,
    project: str,
    choose: Callable[[Iterable[str]], str | None],
) -> ProjectSummary | None:
    row = session.execute(
        select(Project.id, Project.display_name).where(
            Project.index_id == stage.id, Project.name == project
        )
    ).first()
    if row is None:
        return None
    project_id, display_name = row
    # Streamed in id order, as the backend's versions are ordered.
    chosen = choose(
        session.execute(
            select(Version.version)
            .where(Version.project_id == project_id)
            .order_by(Version.id)
            .execution_options(yield_per=500)
        ).scalars()
    )
    if chosen is None:
        return None
    meta = session.execute(
        select(Version.meta).where(Version.project_id == project_id, Version.version == chosen)
    ).scalar_one()
    data = dict(meta or {})
    data["name"] = data.get("name") or display_name
    data["version"] = chosen
    # Few versions have docs: only theirs are read, the first zip of each as in ``+links``.
    zips: dict[str, str] = {}
    for version, sha256 in session.execute(
        select(Version.version, File.sha256)
        .join(File, File.version_id == Version.id)
        .where(Version.project_id == project_id, File.rel == "doczip")
        .order_by(Version.id, File.id)
    ):
        if sha256:
            zips.setdefault(version, sha256)
    return ProjectSummary(stage.fullname, project, chosen, data, zips)


def _summary_from_versions(
    stage: IndexInfo,
    project: str,
    versions: dict[str, dict[str, Any]],
    choose: Callable[[Iterable[str]], str | None],
) -> ProjectSummary | None:
    if not versions:
        return None
    chosen = choose(list(versions)) or next(iter(versions))
    zips: dict[str, str] = {}
    for version, data in versions.items():
        for link in data.get("+links", []):
            sha256 = (link.get("hashes") or {}).get("sha256")
            if link.get("rel") == "doczip" and sha256:
                zips.setdefault(version, sha256)
    return ProjectSummary(stage.fullname, project, chosen, dict(versions[chosen]), zips)
