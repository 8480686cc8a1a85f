"""Rendering pages: one Jinja2 environment owned by the plugin, and the headers every page gets.

Autoescaping is on for every template, so metadata, index descriptions and names can never
inject markup; the only ``Markup`` that reaches a template is sanitised description HTML and
search highlights that escape everything but their own ``<mark>`` tags.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from pyramid.response import Response

from pyshelf_server.plugin_api import (
    ANONYMOUS,
    AUTHENTICATED,
    ROUTE_INDEX,
    ROUTE_PROJECT,
    ROUTE_ROOT,
    ROUTE_STATUS,
    ROUTE_USER,
    ROUTE_USER_TOKENS,
    ROUTE_VERSION,
    SERVER_VERSION,
    absolute_url,
    account_links,
)

from . import __version__

if TYPE_CHECKING:
    from jinja2 import Environment

# Pages load only the plugin's own CSS and JS. Images may come from anywhere over HTTPS because
# long descriptions show badges; nothing may frame the site except the site itself.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-src 'self'; frame-ancestors 'self'"
)
STATIC_PREFIX = f"/+static-{__version__}"
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
}


def filesize(value: Any) -> str:
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)


def timestamp(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(value)


def number(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def principal(value: Any) -> str:
    """An ACL entry as people say it (devpi writes anonymous access as ``:ANONYMOUS:``)."""
    text = str(value)
    names = {ANONYMOUS: "anyone", AUTHENTICATED: "any logged-in user"}
    return names.get(text.upper(), text)


def people(data: Any, role: str) -> list[tuple[str, str]]:
    """The authors (``role`` "author") or maintainers of a version's metadata as (name, mail
    address or ""). Metadata from pyproject.toml puts names and addresses together in
    ``author_email`` ("Jane Doe <jane@example.org>, bob@example.org"); older metadata puts the
    name in ``author`` and the address in ``author_email``."""
    from email.utils import getaddresses

    name = str(data.get(role) or "").strip()
    addresses = [
        (display.strip(), address.strip())
        for display, address in getaddresses([str(data.get(f"{role}_email") or "")])
        if address.strip()
    ]
    if len(addresses) == 1 and name and not addresses[0][0]:
        return [(name, addresses[0][1])]
    found = [(display or address, address) for display, address in addresses]
    if name and not any(display == name for display, _ in found):
        found.insert(0, (name, ""))
    return found


def keyword_list(value: Any) -> list[str]:
    """Keywords as a list: metadata holds them comma separated (or, in old metadata, separated
    by spaces), or already as a list."""
    if not value:
        return []
    if isinstance(value, list | tuple):
        words = [str(v) for v in value]
    else:
        text = str(value)
        words = text.split(",") if "," in text else text.split()
    return list(dict.fromkeys(word.strip() for word in words if word.strip()))


def make_environment() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("pyshelf_web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["filesize"] = filesize
    env.filters["timestamp"] = timestamp
    env.filters["number"] = number
    env.filters["principal"] = principal
    env.filters["people"] = people
    env.filters["keyword_list"] = keyword_list
    return env


class Links:
    """URLs of the pages, absolute so that ``--outside-url`` and ``X-Outside-Url`` hold."""

    def __init__(self, request: Any) -> None:
        self.request = request

    def _route(self, name: str, **parts: Any) -> str:
        # Pyramid percent-encodes "+" ("/%2Bsearch"); the server decodes both spellings alike
        # (pip sends "%2Bf"), and names cannot contain "+", so show the readable one.
        path = self.request.route_path(name, **parts).replace("%2B", "+")
        return absolute_url(self.request, path)

    def root(self) -> str:
        return self._route(ROUTE_ROOT)

    def user(self, user: str) -> str:
        return self._route(ROUTE_USER, user=user, slash="")

    def tokens(self, user: str) -> str:
        return self._route(ROUTE_USER_TOKENS, user=user, slash="")

    def token_revoke(self, user: str, token_id: str) -> str:
        return self._route("web.token.revoke", user=user, token=token_id)

    def index(self, fullname: str, **query: Any) -> str:
        user, index = fullname.split("/", 1)
        url = self._route(ROUTE_INDEX, user=user, index=index, slash="")
        return url + ("?" + urlencode(query) if query else "")

    def project(self, fullname: str, project: str) -> str:
        user, index = fullname.split("/", 1)
        return self._route(ROUTE_PROJECT, user=user, index=index, project=project, slash="")

    def version(self, fullname: str, project: str, version: str) -> str:
        user, index = fullname.split("/", 1)
        return self._route(
            ROUTE_VERSION, user=user, index=index, project=project, version=version, slash=""
        )

    def version_yank(self, fullname: str, project: str, version: str) -> str:
        user, index = fullname.split("/", 1)
        return self._route(
            "web.version.yank", user=user, index=index, project=project, version=version
        )

    def docs(
        self, fullname: str, project: str, version: str, path: str = "", raw: bool = False
    ) -> str:
        user, index = fullname.split("/", 1)
        return self._route(
            "web.doc.raw" if raw else "web.doc.frame",
            user=user,
            index=index,
            project=project,
            version=version,
            path=path,
        )

    def file(self, href: str) -> str:
        return absolute_url(self.request, href)

    def search(self, index: str | None = None, **query: Any) -> str:
        if index:
            user, name = index.split("/", 1)
            url = self._route("web.search.index", user=user, index=name)
        else:
            url = self._route("web.search")
        return url + ("?" + urlencode(query) if query else "")

    def status(self) -> str:
        return self._route(ROUTE_STATUS)

    def static(self, path: str) -> str:
        # Built by hand: Pyramid's static_path would percent-encode the "+" of the prefix.
        return absolute_url(self.request, f"{STATIC_PREFIX}/{path}")


class Page:
    """A slice of a long list, for pagination."""

    def __init__(self, items: list[Any], number: int, size: int) -> None:
        self.total = len(items)
        self.size = size
        self.count = max(1, math.ceil(self.total / size))
        self.number = number
        self.items = items[(number - 1) * size : number * size]

    @classmethod
    def already_sliced(cls, items: list[Any], total: int, number: int, size: int) -> Page:
        """A page whose items were cut out by someone else (the search)."""
        page = cls([], number, size)
        page.total, page.items = total, items
        page.count = max(1, math.ceil(total / size))
        return page

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.count


def render(request: Any, template: str, *, status: int = 200, **context: Any) -> Response:
    web = request.registry.pyshelf_web
    body = web.templates.get_template(template).render(
        request=request,
        links=Links(request),
        account_links=account_links(request),
        web_version=__version__,
        server_version=SERVER_VERSION,
        **context,
    )
    response = Response(
        body=body.encode("utf-8"), status=status, content_type="text/html", charset="utf-8"
    )
    response.headers.update(PAGE_HEADERS)
    # The same URL answers JSON to the API: caches must keep the two apart.
    response.vary = ("Accept", "User-Agent")
    return response
