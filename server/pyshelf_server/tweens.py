"""What wraps every request: its unit of work, plugin auth checks, devpi's headers.

The request's unit of work (``request.uow``) commits when the answer is a success and rolls
back otherwise, so a failed request never leaves half its writes behind. This is the one place
a request's unit of work ends. Events for plugins are fired only after the commit succeeded.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

from pyramid.interfaces import IRoutesMapper
from pyramid.response import Response

from . import __version__, logs
from .settings import URI_CHARACTERS, outside_url_problem
from .views.helpers import USES_OUTSIDE_URL

log = logging.getLogger("pyshelf_server.requests")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def server_headers(uuid: str) -> list[tuple[str, str]]:
    """The headers on every answer that devpi-client reads (and ours)."""
    return [
        ("X-Devpi-Api-Version", "2"),
        ("X-Devpi-Server-Version", __version__),
        ("X-Devpi-Uuid", uuid),
        ("X-Devpi-Master-Uuid", uuid),
        ("X-Devpi-Primary-Uuid", uuid),
        ("X-Pyshelf-Version", __version__),
    ]


# A Host header as clients send it: a name or IPv4 address, or an IPv6 one in brackets, and a
# port. Links and redirects are built on it when no outside URL is set.
HOST = re.compile(r"(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def request_problem(request: Any) -> str | None:
    """Why a request cannot be answered whatever it asks, or None."""
    path = request.environ.get("PATH_INFO", "")
    if "\x00" in path:
        # No name can hold it, and PostgreSQL refuses it in any query.
        return "the path must not contain NUL"
    try:
        # A WSGI path holds the request's bytes as Latin-1 characters; names are UTF-8.
        path.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return "the path must be UTF-8 (percent-encoded)"
    outside = request.environ.get("HTTP_X_OUTSIDE_URL")
    if outside:
        problem = outside_url_problem(outside)
        if problem:
            return f"the X-Outside-Url header must be an http or https URL: {problem}"
    host = request.environ.get("HTTP_HOST")
    if host and not HOST.fullmatch(host):
        return "the Host header must be a host name or address, with an optional port"
    return None


def uri_safe(url: str) -> str:
    """``url`` with every character a URI cannot hold percent-encoded, as the bytes the header
    would have carried (a WSGI string holds bytes as Latin-1 characters). Redirects copy the
    request's path and query: control bytes in them must not reach a ``Location`` raw."""
    if set(url) <= URI_CHARACTERS:
        return url
    return "".join(
        char
        if char in URI_CHARACTERS
        else quote(char, safe="", encoding="latin-1" if ord(char) < 256 else "utf-8")
        for char in url
    )


def add_vary(response: Any, header: str) -> None:
    named = response.vary or ()
    if header.lower() not in (name.lower() for name in named):
        response.vary = (*named, header)


def shelf_tween_factory(handler: Any, registry: Any) -> Any:
    app = registry.pyshelf
    static_headers = server_headers(app.uuid)
    authcheck = app.pm.hook.pyshelf_authcheck
    routes = registry.queryUtility(IRoutesMapper)

    def route_name(request: Any) -> str | None:
        # The tween runs before the router matched the request: match it the way the router
        # will, so that a plugin can decide by route before the route's context is built.
        if routes is None:
            return None
        route = routes(request)["route"]
        return route.name if route is not None else None

    def shelf_tween(request: Any) -> Response:
        request.pyshelf_events = []
        try:
            problem = request_problem(request)
            if problem:
                from .views.errors import error_response

                response = error_response(request, 400, problem)
            else:
                denial = None
                if authcheck.get_hookimpls():
                    denial = authcheck(
                        request=request, identity=request.identity, route_name=route_name(request)
                    )
                response = denial if denial is not None else handler(request)
        except BaseException:
            request.uow.rollback()
            raise
        committed = 200 <= response.status_code < 400
        try:
            serial = _finish(request, commit=committed)
        except Exception:
            # The commit itself failed (a constraint, a lost database): nothing was stored, and
            # the client hears so in the usual form instead of a bare server error.
            log.exception("finishing %s %s failed", request.method, request.path_qs)
            from .views.errors import error_response

            committed = False
            response = error_response(request, 503, "the change could not be stored, try again")
            serial = request.registry.pyshelf.state_reader.read()[0]
        if committed and request.pyshelf_events:
            try:
                _fire_events(request, response)
            finally:
                # A plugin that read through the request after the commit opened a session
                # again (on SQLite a write one holds the process's write lock): end it.
                request.uow.rollback()
        response.headerlist.extend(static_headers)
        if request.environ.get(USES_OUTSIDE_URL):
            add_vary(response, "X-Outside-Url")
        location = response.headers.get("Location")
        if location is not None:
            response.headers["Location"] = uri_safe(location)
        if serial is not None:
            response.headers["X-Devpi-Serial"] = str(serial)
        if logs.REQUESTS.isEnabledFor(logging.INFO):
            request.environ[logs.USER_KEY] = _username(request)
        return response

    return shelf_tween


def _username(request: Any) -> str | None:
    """Who the request authenticated as, for the request log; None when its credentials are
    not valid."""
    try:
        identity = request.identity
    except Exception:
        return None
    return identity.username if identity is not None else None


def _finish(request: Any, *, commit: bool) -> int:
    """End the request's unit of work; return the serial to report: the one it committed,
    else the one it began from, else the current one."""
    uow = request.uow
    if commit:
        committed = uow.commit()
        if committed is not None:
            return committed
    else:
        uow.rollback()
    known = request.shelf.serial_read
    if known is not None:
        return known
    serial: int = request.registry.pyshelf.state_reader.read()[0]
    return serial


def _fire_events(request: Any, response: Any) -> None:
    failures = []
    for fire in request.pyshelf_events:
        try:
            results = fire()
        except Exception as error:  # a plugin's bug must not turn a stored upload into an error
            log.exception("plugin event failed")
            failures.append(str(error))
            continue
        failures.extend(str(r) for r in results or [] if r)
    if failures and getattr(request, "is_upload", False):
        from .responses import reason_phrase

        response.status = f"{response.status_code} " + reason_phrase(
            "OK, but a trigger plugin failed: " + "; ".join(failures)
        )
