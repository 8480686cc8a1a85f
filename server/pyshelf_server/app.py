"""The process-wide parts of a running server, and the per-request view of them.

``AppState`` lives on the Pyramid registry as ``registry.pyshelf``: settings, the plugin
manager, the database (engine and units of work), the file store, the auth helpers and the
caches. Per request: ``request.uow`` is its one unit of work (``request.db`` that unit's
current session), ``request.shelf`` a ``RequestState`` giving a consistent snapshot of the index
layout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pluggy
from sqlalchemy.engine import Engine

from . import __version__
from .accounts.htpasswd import HtpasswdUsers
from .accounts.readonly import ReadOnlyUsers
from .accounts.tokens import TokenKeys
from .db import ServerState, StateReader, read_state
from .indexes.backends import StageBackend
from .indexes.inheritance import Inheritance
from .indexes.registry import IndexInfo, IndexRegistry, IndexSnapshot
from .indexes.types import IndexType
from .lifecycle.yanks import inherited_yanks_reader
from .oidc import minting
from .oidc.service import TrustedPublishing
from .packages.downloads import DownloadCounter
from .plugins import plugin_versions
from .responses import APIError, IndexNotFound
from .retention.job import RetentionJob
from .security import CredentialCache, LoginTokens, VerifiedPasswords
from .settings import ServerSettings
from .simple.cache import PageCache
from .storage.files import open_store
from .storage.orphans import OrphanSweeper
from .unit_of_work import Database
from .upload.targets import AllowedHosts


class AppState:
    def __init__(
        self,
        *,
        settings: ServerSettings,
        pm: pluggy.PluginManager,
        database: Database,
        secret: bytes,
    ) -> None:
        self.settings = settings
        self.pm = pm
        self.database = database
        self.engine: Engine = database.engine
        self.state_reader = StateReader(self.engine, database.commits)
        self.files = open_store(settings)
        self.login_tokens = LoginTokens(secret, settings.login_token_seconds)
        self.verified_passwords = VerifiedPasswords(secret)
        self.password_hashes = CredentialCache()
        self.token_keys = TokenKeys(secret, settings)
        self.trusted_publishing = TrustedPublishing(settings)
        minting.register()
        self.htpasswd = HtpasswdUsers(settings.htpasswd) if settings.htpasswd else None
        self.read_only_users = ReadOnlyUsers()
        self.secret = secret
        self.started = time.time()
        # What "now" is for age rules (lifecycle.age); tests replace it instead of waiting.
        self.clock: Callable[[], float] = time.time
        # The Pyramid registry this state belongs to (set when the application is assembled),
        # for hooks called outside requests.
        self.pyramid_registry: Any = None
        self.version = __version__
        # Installed plugin distributions and their versions, for /+api, /+status and --version.
        self.plugins = plugin_versions(pm)
        self.index_types: dict[str, IndexType] = {}
        for types in pm.hook.pyshelf_get_index_types():
            for type_class in types or ():
                self.index_types[type_class.name] = type_class()
        self.registry = IndexRegistry({name for name, t in self.index_types.items() if t.is_mirror})
        self.page_cache = PageCache()
        self.push_allow_hosts = AllowedHosts.parse(settings.push_allow_hosts)
        self.downloads = DownloadCounter(self.database)
        self.orphans = OrphanSweeper(
            self.database, self.files, grace_seconds=settings.orphan_grace_seconds
        )
        self.retention = RetentionJob(
            self.database, self.files, interval=settings.cleanup_interval
        )
        with self.database.reading() as session:
            self.uuid = session.get(ServerState, 1).uuid

    def index_type(self, name: str) -> IndexType:
        try:
            return self.index_types[name]
        except KeyError:
            raise APIError(400, f"unknown index type {name!r}") from None


def opens_for_writing(request: Any) -> bool:
    """Whether the request's unit of work writes from the start. Uploads start reading and
    switch to writing once the file is stored (see ``views.helpers.begin_write``); so do
    PUT and PATCH (changes of users and indexes), once their input is checked and a new
    password hashed: work proportional to a client's input never holds the write lock."""
    if request.method in ("GET", "HEAD", "OPTIONS", "PUT", "PATCH"):
        return False
    # The raw path: ``request.path`` raises on bytes that are not UTF-8, which the shelf tween
    # refuses with a 400 after this is asked.
    if request.method == "POST" and request.environ.get("PATH_INFO", "").endswith("/+warm"):
        # Warming a mirror waits on upstream for minutes; what it stores goes in short
        # transactions of its own (``mirror.warm``).
        return False
    return not (request.method == "POST" and request.content_type == "multipart/form-data")


def request_unit_of_work(request: Any) -> Any:
    """``request.uow``: the request's one unit of work, finished by the shelf tween."""
    database: Database = request.registry.pyshelf.database
    return database.unit_of_work(write=opens_for_writing(request))


def request_session(request: Any) -> Any:
    """``request.db``: the session of the request's unit of work (a new one after
    ``begin_write``)."""
    return request.uow.session


class RequestState:
    """Per-request access to the index layout, as of the server state the request read first
    (from its write session, or from the state reader when it starts by reading)."""

    def __init__(self, request: Any) -> None:
        self.request = request
        self.app: AppState = request.registry.pyshelf
        self._backends: dict[int, StageBackend] = {}
        self._state: tuple[int, str, str, str] | None = None
        self._yanks: Any = None

    @property
    def state(self) -> tuple[int, str, str, str]:
        if self._state is None:
            uow = self.request.uow
            if not uow.opened and not uow.writing:
                # A request that starts by reading need not open a session for this: whatever
                # its session reads later is at least as new as the state read here.
                self._state = self.app.state_reader.read()
            else:
                self._state = read_state(uow.session)
        return self._state

    @property
    def serial(self) -> int:
        return self.state[0]

    @property
    def serial_read(self) -> int | None:
        """The serial the request began from, if it read one (None: it read none)."""
        return self._state[0] if self._state is not None else None

    @property
    def snapshot(self) -> IndexSnapshot:
        config_token = self.state[2]
        current = self.app.registry.current()
        if current is not None and current.token == config_token:
            # Without asking for the request's session: it is needed only to load the layout.
            return current
        uow = self.request.uow
        # A unit of work that changed the layout must not publish its uncommitted view.
        return self.app.registry.snapshot(
            uow.session, config_token, publish=not uow.config_changed
        )

    def refresh(self) -> None:
        """Forget what was read: the request began writing, or changed the layout itself."""
        self._state = None
        self._backends.clear()
        self._yanks = None

    def index(self, fullname: str) -> IndexInfo | None:
        return self.snapshot.get(fullname)

    def require_index(self, fullname: str) -> IndexInfo:
        info = self.index(fullname)
        if info is None:
            raise IndexNotFound(fullname)
        return info

    def type_for(self, index: IndexInfo) -> IndexType:
        return self.app.index_type(index.type)

    def backend(self, index: IndexInfo) -> StageBackend:
        backend = self._backends.get(index.id)
        if backend is None:
            backend = self.type_for(index).make_backend(
                session=self.request.db, index=index, app=self.app
            )
            self._backends[index.id] = backend
        return backend

    @property
    def inheritance(self) -> Inheritance:
        if self._yanks is None:
            self._yanks = inherited_yanks_reader(lambda: self.request.db)
        return Inheritance(
            self.snapshot, self.backend, self.type_for, inherited_yanks=self._yanks,
            clock=self.app.clock,
        )  # fmt: skip
