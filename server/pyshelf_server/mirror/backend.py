"""The mirror's answers to inheritance (the ``StageBackend`` contract of ``indexes.backends``):
project existence, links, versions and cache tokens, plus the optional file, refresh and removal
methods the views call. One instance per request and index; answers are memoised for the
request, and a page fetched during the request is used as fetched (the request's own database
snapshot may predate its storage)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..indexes.backends import Link
from ..indexes.registry import IndexInfo
from ..names import normalize_name
from ..responses import APIError, reason_phrase
from .links import to_link, version_data
from .listcache import MirrorProjectList
from .models import MirrorFile, MirrorProject, MirrorState
from .pages import MirrorPages, PageState
from .runtime import runtime
from .upstream import UpstreamBusy, UpstreamError

log = logging.getLogger(__name__)
_UNREAD = object()


def upstream_api_error(index: IndexInfo, error: UpstreamError) -> APIError:
    """The answer when upstream could not give what a request needs: 503 with ``Retry-After``
    when its host was too busy to be asked, else 502."""
    if isinstance(error, UpstreamBusy):
        return APIError(
            503, f"{index.fullname}: {error}", headers={"Retry-After": str(error.retry_after)}
        )
    return APIError(502, f"{index.fullname}: {error}")


class MirrorBackend:
    # Tells inheritance that project_names() is sorted, unique, possibly huge, and safe to
    # iterate after the request's session is closed, so a listing can stream it.
    streams_project_names = True
    # Its links come from upstream pages and are rendered.
    stores_page_entries = False
    # Uploads, pushes and tox results to a mirror are refused, and an index never changes
    # its type: its files are all upstream's.
    holds_hosted_files = False

    def __init__(self, *, session: Session, index: IndexInfo, app: Any) -> None:
        self.session = session
        self.index = index
        self.app = app
        self.runtime = runtime(app)
        # A request for this mirror: its project list is not fetched in the background now.
        self.runtime.touch(index.id)
        self.pages = MirrorPages(app=app, runtime=self.runtime, index=index)
        self.project_list = MirrorProjectList(app=app, runtime=self.runtime, index=index)
        self.offline = bool(app.settings.offline_mode)
        # Pages asked for in this request (revalidated if needed), and pages only read.
        self._states: dict[str, PageState | None] = {}
        self._rows: dict[str, PageState | None] = {}
        self._names: Any = _UNREAD
        self._list_state: Any = _UNREAD

    # -- reading -------------------------------------------------------------------------

    def _row(self, name: str) -> PageState | None:
        if name in self._states:
            return self._states[name]
        if name not in self._rows:
            self._rows[name] = self.pages.cached(self.session, name, with_links=False)
        return self._rows[name]

    def page(self, name: str) -> PageState | None:
        """The page to serve, revalidated when expired; a 502 when upstream fails and nothing
        is cached."""
        if name not in self._states:
            try:
                self._states[name] = self.pages.get(self.session, name)
            except UpstreamError as error:
                raise upstream_api_error(self.index, error) from None
        return self._states[name]

    def _name_list(self) -> Any:
        if self._names is _UNREAD:
            self._names = self.project_list.names(self.session, wait=False)
        return self._names

    # -- the StageBackend contract -----------------------------------------------------

    def project_names(self) -> Iterable[str]:
        if self.index.options.get("mirror_no_project_list"):
            return []
        try:
            names = self.project_list.names(self.session, wait=True)
        except UpstreamError as error:
            log.warning("%s: no project list to show: %s", self.index.fullname, error)
            return []
        return names if names is not None else []

    def has_project(self, name: str) -> bool | None:
        if self._row(name) is not None:
            return True
        if self.offline or self.pages.is_unknown(name):
            return False
        if self.index.options.get("mirror_no_project_list"):
            return None
        names = self._name_list()
        if names is None:
            # The list has not been fetched yet (it is on its way): ask upstream directly.
            return None
        return name in names

    def display_name(self, name: str) -> str | None:
        state = self._row(name)
        return state.display_name if state is not None else None

    def links(self, name: str) -> list[Link] | None:
        state = self.page(name)
        if state is None:
            return None
        links = state.links
        if self.offline:
            stored = self._stored_filenames(name)
            links = [link for link in links if link["filename"] in stored]
        return [to_link(self.index.fullname, link) for link in links]

    def versions(self, name: str) -> dict[str, dict[str, Any]] | None:
        state = self.page(name)
        if state is None:
            return None
        links = state.links
        if self.offline:
            stored = self._stored_filenames(name)
            links = [link for link in links if link["filename"] in stored]
        return version_data(self.index.fullname, state.display_name, links)

    def cache_token(self, name: str) -> tuple[str | None, float | None]:
        state = self._row(name)
        if state is None:
            # Not cached: what the mirror would answer depends on its project list.
            return f"list:{self._list_sha()}", None
        token = state.change_token + (":stale" if state.stale else "")
        if self.offline:
            return token + ":offline", None
        return token, self.pages.fresh_until(state)

    def _list_sha(self) -> str | None:
        if self._list_state is _UNREAD:
            state = self.session.get(MirrorState, self.index.id)
            self._list_state = state.list_sha256 if state is not None else None
        return self._list_state

    def page_headers(self, name: str) -> dict[str, str]:
        """Headers for a simple page built with this mirror's answer for ``name``."""
        state = self._states.get(name)
        if state is None:
            return {}
        headers: dict[str, str] = {}
        if state.serial is not None and state.serial > 0:
            headers["X-PyPI-Last-Serial"] = str(state.serial)
        if state.stale is not None:
            age = int(time.time() - state.checked)
            headers["X-Pyshelf-Stale"] = reason_phrase(
                f"{self.index.fullname} served from cache ({age}s old): {state.stale}"
            )
            headers["Warning"] = '110 pyshelf "Response is Stale"'
        return headers

    def _stored_filenames(self, name: str) -> set[str]:
        return set(
            self.session.execute(
                select(MirrorFile.filename).where(
                    MirrorFile.index_id == self.index.id, MirrorFile.project == name
                )
            ).scalars()
        )

    # -- what the web plugin shows (never waits for upstream) -----------------------------

    def project_names_with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Names from the stored project list that start with ``prefix`` (normalised).

        Only reads a list already stored: a search box must not start a download of upstream's
        whole list (nearly a million names), which costs a minute and hundreds of MB.
        """
        if self.index.options.get("mirror_no_project_list"):
            return []
        state = self.session.get(MirrorState, self.index.id)
        if state is None or not state.list_sha256:
            return []
        names = self.runtime.name_list(self.index.id, state.list_sha256)
        return names.with_prefix(prefix, limit) if names is not None else []

    def fetched_project_names(self) -> list[str]:
        """The projects whose page has been fetched and is cached."""
        return list(
            self.session.execute(
                select(MirrorProject.name).where(MirrorProject.index_id == self.index.id)
            ).scalars()
        )

    def upstream_status(self) -> dict[str, Any]:
        """Facts about the upstream's health for the status page."""
        state = self.session.get(MirrorState, self.index.id)
        cached = self.session.execute(
            select(func.count(MirrorProject.id)).where(MirrorProject.index_id == self.index.id)
        ).scalar_one()
        failures = self.runtime.failures
        error = failures.get((self.index.id, None)) or failures.get((self.index.id, "+list"))
        checked = state.list_checked if state is not None and state.list_sha256 else None
        return {
            "project list": f"{state.list_count} names" if checked else "not fetched yet",
            "list checked": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(checked))
            if checked else "never",
            "cached project pages": cached,
            "last error": error or "none",
        }

    # -- files -------------------------------------------------------------------------

    def file_response(self, request: Any, first: str, second: str, filename: str) -> Any:
        from .serving import serve_file

        return serve_file(self, request, first, second, filename)

    # -- changes (the request's own write session) ---------------------------------------

    def refresh(self, name: str) -> None:
        """Forget that the cached page is fresh: the next request asks upstream."""
        name = normalize_name(name)
        self.session.execute(
            update(MirrorProject)
            .where(MirrorProject.index_id == self.index.id, MirrorProject.name == name)
            .values(checked=0.0, etag=None)
        )
        self.pages.forget(name)
        self._states.pop(name, None)
        self._rows.pop(name, None)

    def remove_project(self, name: str, uow: Any) -> bool:
        """Drop the cached page and files of ``name`` in ``uow`` (the request's unit of work,
        whose session this backend reads); the next request fetches it again."""
        name = normalize_name(name)
        had_page = self._row(name) is not None
        shas = set(
            self.session.execute(
                select(MirrorFile.sha256).where(
                    MirrorFile.index_id == self.index.id, MirrorFile.project == name
                )
            ).scalars()
        )
        if not had_page and not shas:
            return False
        self.session.execute(
            delete(MirrorProject).where(
                MirrorProject.index_id == self.index.id, MirrorProject.name == name
            )
        )
        self.session.execute(
            delete(MirrorFile).where(
                MirrorFile.index_id == self.index.id, MirrorFile.project == name
            )
        )
        self.session.flush()
        # Core deletes, which the session does not count: the project is gone for clients.
        uow.changed()
        for sha256 in shas:
            uow.collect_after_commit(self.app.files, sha256)
        self.pages.forget(name)
        self.runtime.recent.forget((self.index.id, name))
        self._states.pop(name, None)
        self._rows.pop(name, None)
        return True
