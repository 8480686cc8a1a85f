"""Serving cached simple pages without going through Pyramid.

The simple project page is what installers ask for most, often hundreds of times a second. When
its rendered page is in the cache and still current, answering it needs one query (is the
server state unchanged?) and a dictionary lookup; routing, security policy, view derivers and
an ORM session would cost several times that. This WSGI middleware answers exactly that case
and passes everything else — a miss, an unusual URL, any doubt — to the application.

It only runs when no plugin takes part in read permissions (``pyshelf_permits`` or
``pyshelf_authcheck``): with a read lock-down installed every request goes the full way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from ..names import normalize_name
from ..tweens import server_headers
from .negotiation import INSTALLER_AGENT, media_type_for
from .render import HTML_TYPE, JSON_TYPE, RELATIVE_PREFIX
from .services import PAGE_VARY

PATTERN = re.compile(r"^/([^+/][^/]*)/([^+/][^/]*)/\+simple/(?:([^/]+)/)?$")
PROJECT_LIST = "+list"


class SimpleFastPath:
    def __init__(self, app: Callable[..., Iterable[bytes]], state: Any) -> None:
        self.app = app
        self.state = state
        # Callers (the command line, tests) reach the Pyramid registry through the app.
        self.registry = getattr(app, "registry", None)
        hook = state.pm.hook
        self.enabled = (
            not (hook.pyshelf_permits.get_hookimpls() or hook.pyshelf_authcheck.get_hookimpls())
            and not state.settings.absolute_urls
        )
        # The prefix the full application gives a project page's links (simple.views), so
        # that both find the same cached page.
        outside_url = state.settings.outside_url
        self.link_prefix = outside_url.rstrip("/") + "/" if outside_url else RELATIVE_PREFIX
        self.reader = state.state_reader
        self.static_headers = [("Vary", PAGE_VARY), *server_headers(state.uuid)]

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if self.enabled and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            answer = self._try(environ, start_response)
            if answer is not None:
                return answer
        return self.app(environ, start_response)

    def _try(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes] | None:
        match = PATTERN.match(environ.get("PATH_INFO", ""))
        if match is None or environ.get("QUERY_STRING"):
            return None
        if "HTTP_X_OUTSIDE_URL" in environ or "HTTP_X_DEVPI_ABSOLUTE_URLS" in environ:
            return None
        user, index_name, project = match.groups()
        if project is None:
            project, prefix = PROJECT_LIST, ""
        elif not project.isascii() or normalize_name(project) != project:
            return None
        else:
            prefix = self.link_prefix
        # Credentials only matter for reading when a plugin restricts reads (then we are off);
        # but a request carrying them may be a devpi client expecting its login checked: only
        # installers and anonymous browsers take the fast path.
        if ("HTTP_AUTHORIZATION" in environ or "HTTP_X_DEVPI_AUTH" in environ) and not (
            INSTALLER_AGENT.match(environ.get("HTTP_USER_AGENT", ""))
        ):
            return None
        snapshot = self.state.registry.current()
        if snapshot is None:
            return None
        serial, state_token, config_token, _users_token = self.reader.read()
        if snapshot.token != config_token:
            return None
        info = snapshot.get(f"{user}/{index_name}")
        if info is None:
            return None
        media_type = media_type_for(environ.get("HTTP_ACCEPT"))
        page = self.state.page_cache.get((info.id, project, media_type, prefix))
        if page is None or page.state_token != state_token:
            return None
        if page.fresh_until is not None and self.state.clock() >= page.fresh_until:
            return None
        headers = [
            ("ETag", f'"{page.etag}"'),
            *self.static_headers,
            *page.headers,
            ("X-Devpi-Serial", str(serial)),
        ]
        if _matches(environ.get("HTTP_IF_NONE_MATCH"), page.etag):
            start_response("304 Not Modified", headers)
            return []
        content_type = (
            JSON_TYPE if page.content_type == JSON_TYPE else HTML_TYPE + "; charset=utf-8"
        )
        headers += [("Content-Type", content_type), ("Content-Length", str(len(page.body)))]
        start_response("200 OK", headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [page.body]


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    return any(
        tag.strip().strip('"').removeprefix("W/").strip('"') in (etag, "*")
        for tag in header.split(",")
    )
