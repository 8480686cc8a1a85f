"""Building simple pages through inheritance, cached until something they show changes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from ..app import RequestState
from ..indexes.registry import IndexInfo
from .cache import CachedPage
from .render import (
    JSON_TYPE,
    Repository,
    html_page,
    json_page,
    project_html,
    project_json,
    project_list_html,
    project_list_json,
)

# The cache key's project part for an index's project list ("+" never starts a project name).
PROJECT_LIST = "+list"


class SimpleService:
    def __init__(self, shelf: RequestState) -> None:
        self.shelf = shelf
        self.cache = shelf.app.page_cache

    def project_page(
        self, index: IndexInfo, project: str, media_type: str, url_prefix: str
    ) -> CachedPage | None:
        """The page of ``project`` in ``media_type``, or None when no stage has it.

        ``url_prefix`` is what file paths are prefixed with: a relative ``../../../../`` or the
        server's absolute root URL.
        """
        key = (index.id, project, media_type, url_prefix)
        _serial, state_token, config_token, _users_token = self.shelf.state
        now = self.shelf.app.clock()
        entry = self.cache.get(key)
        if entry is not None and entry.state_token == state_token and _fresh(entry, now):
            return entry
        inheritance = self.shelf.inheritance
        token, fresh_until = inheritance.cache_token(index, project)
        token = (config_token, token)
        if (
            entry is not None
            and entry.token == token
            and (fresh_until is None or now < fresh_until)
            and (entry.held_until is None or now < entry.held_until)
        ):
            entry.state_token = state_token
            entry.fresh_until = _earliest(fresh_until, entry.held_until)
            return entry
        # When a file held back by an age rule comes of age (or an exemption ends).
        held_until: float | None = None
        repository = inheritance.repository(index, project)
        body = self._from_stored_tails(index, project, media_type, url_prefix, repository)
        if body is None:
            found = inheritance.visible_links(index, project)
            if found is None:
                return None
            links, held = found
            if held.changes_at is not None:
                held_until = held.changes_at.timestamp()
            for extra in self.shelf.app.pm.hook.pyshelf_simple_extra_links(
                request=self.shelf.request, index=index, project=project
            ):
                links = links + list(extra or [])
            render = project_json if media_type == JSON_TYPE else project_html
            body = render(project, links, url_prefix, repository)
        # Building may have refreshed a mirror, which changes the tokens: take them again.
        token, fresh_until = inheritance.cache_token(index, project)
        # Stages may qualify their answer (a mirror serving a stale copy says so).
        headers: list[tuple[str, str]] = []
        for stage in inheritance.resolution_order(index):
            stage_headers = getattr(self.shelf.backend(stage), "page_headers", None)
            if stage_headers is not None:
                headers.extend(stage_headers(project).items())
        page = CachedPage(
            body=body,
            content_type=media_type,
            etag=hashlib.sha256(body).hexdigest()[:32],
            token=(config_token, token),
            state_token=state_token,
            fresh_until=_earliest(fresh_until, held_until),
            headers=tuple(headers),
            held_until=held_until,
        )
        self.cache.put(key, page)
        return page

    def _from_stored_tails(
        self,
        index: IndexInfo,
        project: str,
        media_type: str,
        url_prefix: str,
        repository: Repository,
    ) -> bytes | None:
        """The page joined from the entries hosted files stored when they were uploaded, the
        same bytes as rendering their links; None when that cannot be done (a stage that is
        not hosted, an index type or plugin that changes the links, a file without stored
        entries, or no stage having the project), and the links are then rendered."""
        if self.shelf.type_for(index).changes_links:
            return None
        if self.shelf.app.pm.hook.pyshelf_simple_extra_links.get_hookimpls():
            return None
        merged = self.shelf.inheritance.page_entries(index, project, media_type)
        if merged is None:
            return None
        versions, tails = merged
        if None in tails:
            return None
        if media_type == JSON_TYPE:
            return json_page(project, versions, tails, url_prefix, repository)
        return html_page(project, tails, url_prefix, repository)

    def cached_project_list(self, index: IndexInfo, media_type: str) -> CachedPage | None:
        """The project list as one cached page, rebuilt after any write; None when a stage of
        the order streams its names (a mirror's million names are streamed, never cached)."""
        state_token = self.shelf.state[1]
        key = (index.id, PROJECT_LIST, media_type, "")
        entry = self.cache.get(key)
        if entry is not None and entry.state_token == state_token:
            return entry
        for stage in self.shelf.snapshot.resolution_order(index):
            if getattr(self.shelf.backend(stage), "streams_project_names", False):
                return None
        body = b"".join(self.project_list(index, media_type))
        page = CachedPage(
            body=body,
            content_type=media_type,
            etag=hashlib.sha256(body).hexdigest()[:32],
            token=None,
            state_token=state_token,
            fresh_until=None,
        )
        self.cache.put(key, page)
        return page

    def project_list(self, index: IndexInfo, media_type: str) -> Iterator[bytes]:
        sections = self.shelf.inheritance.project_lists(index)
        names = (name for _stage, stage_names in sections for name in stage_names)
        if media_type == JSON_TYPE:
            return project_list_json(names)
        return project_list_html(names)


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def _fresh(entry: CachedPage, now: float) -> bool:
    return entry.fresh_until is None or now < entry.fresh_until


# A simple page differs by the representation asked for, by whether an installer asks (a
# browser may be redirected) and by the outside URL its links may start with; the fast path
# answers without looking at the last, but says the same.
PAGE_VARY = "Accept, User-Agent, X-Outside-Url"


def page_headers(page: CachedPage) -> dict[str, Any]:
    return {"ETag": f'"{page.etag}"', "Vary": PAGE_VARY}
