"""Cached project pages of one mirror: when to trust the cache, when to revalidate, and what
to serve when upstream fails (the project list is ``listcache``'s).

* A page checked within ``mirror_cache_expiry`` seconds is served from the database.
* After that it is revalidated (``If-None-Match`` with upstream's ETag); a 304 only renews it.
* When upstream fails (timeout, connection error, 5xx) a cached page is served as it was,
  marked stale; a project never fetched raises :class:`UpstreamError` (the view's 502).
* When upstream's host has as many requests waiting on it as allowed (``UpstreamPlaces``),
  a cached page is served stale at once; a project never fetched raises
  :class:`UpstreamBusy` (the view's 503).
* An upstream 404 is remembered for a minute in memory.
* Offline mode never asks upstream.

Upstream is never asked inside a database transaction: pages are stored afterwards in a short
write session of their own.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from ..db import new_token
from ..metrics import metrics_of
from ..unit_of_work import end_read_transaction
from .links import guess_version
from .models import MirrorProject
from .options import MirrorPart
from .runtime import NOT_FOUND_SECONDS, RETRY_DELAY
from .upstream import (
    NotFound,
    NotModified,
    ProjectPage,
    UpstreamBusy,
    UpstreamError,
    UpstreamUnavailable,
    safe_url,
)

log = logging.getLogger(__name__)

_INSERT = insert(MirrorProject.__table__)
# The small columns of a stored page: all but its links.
_HEAD = select(
    MirrorProject.name,
    MirrorProject.display_name,
    MirrorProject.checked,
    MirrorProject.etag,
    MirrorProject.serial,
    MirrorProject.change_token,
)


def _row_columns(state: PageState) -> dict[str, Any]:
    """A stored page's small columns, cut to their sizes in the table."""
    return {
        "display_name": state.display_name[:200],
        "checked": state.checked,
        "etag": (state.etag or "")[:400] or None,
        "serial": state.serial,
        "change_token": state.change_token,
    }


@dataclass(frozen=True)
class PageState:
    name: str
    display_name: str
    # None when only the row's small columns were read (``MirrorPages.cached``).
    links: list[dict[str, Any]] | None
    checked: float
    etag: str | None
    serial: int | None
    change_token: str
    # Why upstream could not confirm the page, when it is served stale.
    stale: str | None = None


class MirrorPages(MirrorPart):
    # -- project pages -------------------------------------------------------------------

    def cached(self, session: Session, name: str, *, with_links: bool = True) -> PageState | None:
        """The stored page of ``name``, or None. Without ``with_links`` its links are not read
        (``links`` is None): what a cache token or an existence check needs is in the row's
        small columns, and a page's links can be a megabyte of JSON."""
        row = session.execute(_HEAD.where(*self._where(name))).one_or_none()
        if row is None:
            return None
        links = self._links(session, {name: row.change_token}).get(name, []) if with_links else None
        return PageState(
            name=row.name, display_name=row.display_name, links=links, checked=row.checked,
            etag=row.etag, serial=row.serial, change_token=row.change_token,
        )

    def cached_links(self, session: Session, names: list[str]) -> list[tuple[str, list[Any]]]:
        """(name, links) of the stored pages among ``names``."""
        tokens = dict(
            session.execute(
                select(MirrorProject.name, MirrorProject.change_token).where(
                    MirrorProject.index_id == self.index.id, MirrorProject.name.in_(names)
                )
            ).all()
        )
        return list(self._links(session, tokens).items())

    def _links(self, session: Session, tokens: dict[str, str]) -> dict[str, list[Any]]:
        """The links of the stored pages named in ``tokens`` (name -> change token): from the
        recent pages where they are current, else decoded from the rows in one query."""
        found: dict[str, list[Any]] = {}
        for name, token in tokens.items():
            links = self.runtime.recent.get((self.index.id, name), token)
            if links is not None:
                found[name] = links
        missing = [name for name in tokens if name not in found]
        if missing:
            rows = session.execute(
                select(MirrorProject.name, MirrorProject.links).where(
                    MirrorProject.index_id == self.index.id, MirrorProject.name.in_(missing)
                )
            )
            for name, stored in rows:
                found[name] = list(stored or [])
                self._remember(name, tokens[name], found[name])
        return found

    def _remember(self, name: str, token: str, links: list[Any] | None) -> None:
        if links is not None:
            self.runtime.recent.put((self.index.id, name), token, links)

    def _where(self, name: str) -> tuple[Any, ...]:
        return (MirrorProject.index_id == self.index.id, MirrorProject.name == name)

    def fresh_until(self, state: PageState) -> float:
        if state.stale is not None:
            return time.time() + RETRY_DELAY
        return state.checked + self.expiry

    def is_unknown(self, name: str) -> bool:
        """Whether upstream said recently that it has no such project."""
        return bool(self.runtime.not_found.get((self.index.id, name)))

    def get(self, session: Session, name: str) -> PageState | None:
        """The page to serve for ``name``; None when upstream has no such project. Raises
        :class:`UpstreamError` when upstream fails and nothing is cached."""
        record = metrics_of(self.app).mirror_page
        try:
            state, result = self._get(session, name)
        except UpstreamError:
            record(self.index.fullname, "error")
            raise
        record(self.index.fullname, "stale" if state is not None and state.stale else result)
        return state

    def _get(self, session: Session, name: str) -> tuple[PageState | None, str]:
        """The page and how it was had: ``hit`` (fresh in the cache), ``revalidated`` (cached
        and confirmed or updated by upstream) or ``miss`` (not cached)."""
        cached = self.cached(session, name)
        if self.offline:
            return cached, "hit" if cached is not None else "miss"
        if cached is not None and time.time() < cached.checked + self.expiry:
            return cached, "hit"
        if cached is None and self.is_unknown(name):
            return None, "miss"
        failure = self._recent_failure(name)
        if failure is not None:
            if cached is not None:
                return replace(cached, stale=failure), "stale"
            raise UpstreamUnavailable(failure)
        # No connection is held while upstream is asked.
        end_read_transaction(session)
        try:
            with self.runtime.places.held(self.mirror_url):
                state = self.runtime.flight.run(
                    ("page", self.index.id, name), lambda: self._revalidate(name, cached)
                )
        except UpstreamBusy as error:
            if cached is not None:
                return replace(cached, stale=str(error)), "stale"
            raise
        return state, "miss" if cached is None else "revalidated"

    def _recent_failure(self, name: str) -> str | None:
        failures = self.runtime.failures
        return failures.get((self.index.id, name)) or failures.get((self.index.id, None))

    def _revalidate(self, name: str, cached: PageState | None) -> PageState | None:
        if not self.mirror_url:
            raise UpstreamError(f"mirror {self.index.fullname} has no mirror_url")
        try:
            answer = self.runtime.upstream.fetch_project(
                self.mirror_url, name, etag=cached.etag if cached else None
            )
        except UpstreamError as error:
            message = str(error)
            log.warning("%s: %s", self.index.fullname, message)
            self.runtime.failures.put((self.index.id, name), message, RETRY_DELAY)
            if isinstance(error, UpstreamUnavailable):
                # Unreachable: every project is affected, not only this one.
                self.runtime.failures.put((self.index.id, None), message, RETRY_DELAY)
            if cached is not None:
                # Whatever went wrong upstream, a project we have stays available.
                return replace(cached, stale=message)
            raise
        now = time.time()
        if isinstance(answer, NotFound):
            remember = min(NOT_FOUND_SECONDS, self.expiry)
            self.runtime.not_found.put((self.index.id, name), True, remember)
            if cached is not None:
                self._delete(name)
            return None
        if isinstance(answer, NotModified):
            if cached is None:
                raise UpstreamError(
                    f"upstream {safe_url(self.mirror_url)} answered 304 to an unconditional request"
                )
            return self._store(replace(cached, checked=now), changed=False)
        assert isinstance(answer, ProjectPage)
        ignore_serial = bool(self.index.options.get("mirror_ignore_serial_header"))
        if (
            cached is not None and not ignore_serial and answer.serial is not None
            and cached.serial is not None and answer.serial < cached.serial
        ):
            # An older copy than the one we have (a lagging upstream cache): keep ours.
            log.warning("%s: upstream sent serial %s for %s, older than our %s",
                        self.index.fullname, answer.serial, name, cached.serial)
            return self._store(replace(cached, checked=now), changed=False)
        display = answer.name or (cached.display_name if cached else name)
        links = self._with_versions(display, answer.links)
        if cached is not None and cached.links == links:
            state = replace(cached, checked=now, etag=answer.etag, serial=answer.serial)
            return self._store(state, changed=False)
        state = PageState(
            name=name, display_name=display, links=links, checked=now, etag=answer.etag,
            serial=answer.serial, change_token=new_token(),
        )
        if cached is None and self._insert(state):
            return state
        return self._store(state, changed=True)

    def _with_versions(self, display: str, links: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.index.options.get("mirror_provides_core_metadata") is False:
            links = [{k: v for k, v in link.items() if k != "core_metadata"} for link in links]
        for link in links:
            version = guess_version(display, link["filename"])
            if version:
                link["version"] = version
        return links

    def _insert(self, state: PageState) -> bool:
        """Store a page not stored before with one prebuilt INSERT (the ORM's unit of work cost
        a few ms per page, a tenth of what a cold page costs the server); False when a row was
        there after all (another process stored it: :meth:`_store` updates it)."""
        try:
            with self.app.database.writing() as uow:
                uow.session.execute(
                    _INSERT,
                    {
                        "index_id": self.index.id,
                        "name": state.name,
                        "links": state.links,
                        **_row_columns(state),
                    },
                )
                # A new page is a change clients see: the commit raises the serial.
                uow.changed()
        except IntegrityError:
            return False
        self._remember(state.name, state.change_token, state.links)
        self._announce(state.name)
        return True

    def _store(self, state: PageState, *, changed: bool) -> PageState:
        """Write the page in a short transaction of its own. Only a change of the links is a
        change clients see (a new serial); a mere confirmation is bookkeeping."""
        for _attempt in range(2):
            try:
                with self.app.database.writing() as uow:
                    session = uow.session
                    # The stored links are not read: they are replaced, or left as they are.
                    row = session.execute(
                        select(MirrorProject)
                        .options(defer(MirrorProject.links))
                        .where(*self._where(state.name))
                    ).scalar_one_or_none()
                    if row is None:
                        row = MirrorProject(index_id=self.index.id, name=state.name)
                        session.add(row)
                        changed = True
                    for column, value in _row_columns(state).items():
                        setattr(row, column, value)
                    if changed:
                        row.links = state.links
                    uow.counts_as_change = changed
            except IntegrityError:
                # Another process stored the same page meanwhile (or the index was deleted).
                continue
            self._remember(state.name, state.change_token, state.links)
            if changed:
                self._announce(state.name)
            return state
        return state

    def _delete(self, name: str) -> None:
        self.runtime.recent.forget((self.index.id, name))
        with self.app.database.writing() as uow:
            uow.session.execute(
                delete(MirrorProject).where(
                    MirrorProject.index_id == self.index.id, MirrorProject.name == name
                )
            )
        self._announce(name)

    def _announce(self, name: str) -> None:
        """Tell plugins (the web's search) that a cached page appeared, changed or went."""
        try:
            self.app.pm.hook.pyshelf_on_mirror_project_changed(
                registry=self.app.pyramid_registry, app=self.app, index=self.index, project=name
            )
        except Exception:  # a plugin's bug must not fail the page that was fetched
            log.exception("%s: a plugin failed on the change of %s", self.index.fullname, name)

    def forget(self, name: str) -> None:
        self.runtime.not_found.forget((self.index.id, name))
        self.runtime.failures.forget((self.index.id, name))
