"""Lock the server down in the application itself: every request needs an authenticated
identity except the few a client needs to log in, and each index may restrict who reads it
(``acl_read``). ``/+authcheck`` keeps devpi-lockdown's answers for a front proxy's
``auth_request``.
"""

from __future__ import annotations

import html
import json
import secrets
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from pyramid.interfaces import IRoutesMapper
from pyramid.request import Request
from pyramid.response import Response

from pyshelf_server import hookimpl
from pyshelf_server.plugin_api import (
    ANONYMOUS,
    AUTHENTICATED,
    IndexInfo,
    Option,
    Permission,
    RootContext,
    absolute_url,
    is_installer,
    log_in,
    reader,
    to_acl,
)

AUTH_COOKIE = "auth_tkt"
CSRF_COOKIE = "lockdown_csrf"
REALM = 'Basic realm="pyshelf"'
# Routes every client may reach without credentials: what it needs to log in.
OPEN_ROUTES = frozenset(
    {"api.root", "api.user", "api.index", "login", "authcheck", "lockdown.logout"}
)
# Pyramid names the route of a static view "__<prefix>".
STATIC_ROUTE_PREFIX = "__"
DEFAULT_ACL_READ = [AUTHENTICATED]


# -- who may read what --------------------------------------------------------------------


@hookimpl
def pyshelf_index_options(index_type: str) -> dict[str, Any]:
    return {"acl_read": Option(to_acl, default=lambda owner: list(DEFAULT_ACL_READ))}


def may_read(index: IndexInfo, identity: Any) -> bool:
    acl = index.option("acl_read", None) or DEFAULT_ACL_READ
    if ANONYMOUS in acl:
        return True
    if identity is None:
        return False
    if identity.is_root or AUTHENTICATED in acl or identity.username in acl:
        return True
    return any(f":{group}" in acl for group in identity.groups)


def unreadable_stage(request: Any, index: IndexInfo, identity: Any) -> IndexInfo | None:
    """The first index of ``index``'s resolution order ``identity`` may not read, or None.
    Reading an index shows what its bases hold, so it needs read permission on each of them:
    an index whose readers may not read a base is refused to them as a whole."""
    for stage in reader(request).resolution_order(index):
        if not may_read(stage, identity):
            return stage
    return None


@hookimpl
def pyshelf_permits(request: Any, context: Any, permission: str, identity: Any) -> bool | None:
    index = getattr(context, "index", None)
    if permission != Permission.PKG_READ or index is None:
        return None
    return unreadable_stage(request, index, identity) is None


@hookimpl
def pyshelf_index_hidden(request: Any, index: Any, identity: Any) -> bool:
    return unreadable_stage(request, index, identity) is not None


# -- the lock -----------------------------------------------------------------------------


def is_open(route_name: str | None) -> bool:
    return route_name in OPEN_ROUTES or (route_name or "").startswith(STATIC_ROUTE_PREFIX)


def match_route(request: Any, path: str) -> tuple[str | None, dict[str, str]]:
    """The route (name, match) the router would pick for ``path`` with ``request``'s method."""
    mapper = request.registry.queryUtility(IRoutesMapper)
    probe = Request.blank(path, environ={"REQUEST_METHOD": request.method})
    probe.registry = request.registry
    info = mapper(probe)
    route = info["route"]
    return (route.name if route is not None else None), dict(info["match"] or {})


def is_devpi_client(request: Any) -> bool:
    return "devpi-client" in request.headers.get("User-Agent", "")


def wants_page(request: Any) -> bool:
    """A browser asking for a page (installers ask for text/html as well, at low quality)."""
    accept = request.headers.get("Accept", "")
    return (
        request.method in ("GET", "HEAD")
        and accept.startswith("text/html")
        and not is_installer(request)
        and not is_devpi_client(request)
    )


def refusal(request: Any) -> Response:
    """devpi-lockdown's answer to an anonymous request: 401 asking for Basic credentials
    (pip, uv and twine then send theirs), 403 for devpi-client so that it prints a message,
    and for a browser the login form."""
    if wants_page(request):
        target = "/+login?" + urlencode({"goto_url": request.path_qs})
        return Response(status=302, location=absolute_url(request, target.lstrip("/")))
    if is_devpi_client(request):
        return json_answer(403, "this server needs a login: run 'devpi login'")
    response = json_answer(401, "this server needs a login")
    response.headers["WWW-Authenticate"] = REALM
    return response


def json_answer(status: int, message: str) -> Response:
    return Response(
        status=status,
        body=json.dumps({"message": message}).encode(),
        content_type="application/json",
        charset="utf-8",
    )


@hookimpl
def pyshelf_authcheck(request: Any, identity: Any, route_name: str | None) -> Any:
    if route_name == "authcheck":
        return proxy_authcheck(request, identity)
    if is_open(route_name):
        return None
    # Each route of an index is decided by its ``acl_read`` (which may admit anonymous
    # readers); everything else needs a login.
    _name, match = match_route(request, request.path_info)
    index = None
    if "user" in match and "index" in match:
        index = reader(request).index(f"{match['user']}/{match['index']}")
    if index is None or (identity is not None and not is_read(request)):
        return refusal(request) if identity is None else None
    hidden = unreadable_stage(request, index, identity)
    if hidden is None:
        return None
    if identity is None:
        return refusal(request)
    if hidden.fullname == index.fullname:
        return json_answer(403, f"{identity.username!r} may not read {index.fullname}")
    return json_answer(
        403,
        f"{identity.username!r} may not read {index.fullname}: "
        f"it inherits from {hidden.fullname}, which {identity.username!r} may not read",
    )


def is_read(request: Any) -> bool:
    """Whether the request reads an index's content; writes are decided by the index's
    ``acl_upload`` and the like, whatever its readers are."""
    if request.method in ("GET", "HEAD"):
        return True
    # XML-RPC search (web plugin) answers with what the index holds.
    return request.method == "POST" and request.content_type == "text/xml"


def proxy_authcheck(request: Any, identity: Any) -> Any:
    """``/+authcheck`` for nginx ``auth_request``, as devpi-lockdown answers it: 200 for the
    login routes and static files, 403 for a path no route serves, 401 (403 for
    devpi-client) without credentials; with them, the core's own check (``pkg_read`` on the
    index of files and simple pages) decides."""
    original = request.headers.get("X-Original-URI", "")
    path = unquote(original.split("?", 1)[0]) or "/"
    route_name, _match = match_route(request, path)
    if route_name is None:
        return Response(status=403)
    if is_open(route_name):
        return Response(status=200)
    if identity is None:
        return Response(status=403 if is_devpi_client(request) else 401)
    return None


# -- the login cookie ---------------------------------------------------------------------


@hookimpl
def pyshelf_get_credentials(request: Any) -> tuple[str, str] | None:
    # Credentials a client sends itself win over a browser's cookie.
    if request.headers.get("Authorization") or request.headers.get("X-Devpi-Auth"):
        return None
    value = request.cookies.get(AUTH_COOKIE)
    if not value:
        return None
    user, sep, token = unquote(value).partition(":")
    return (user, token) if sep and user else None


def is_https(request: Any) -> bool:
    return absolute_url(request, "").startswith("https://")


def csrf_token(request: Any, response: Response) -> str:
    """The token the forms carry: a random value also kept in a cookie the form's POST must
    send back (a page of another site can neither read the cookie nor set the field)."""
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    response.set_cookie(
        CSRF_COOKIE, token, path="/", httponly=True, samesite="Strict", secure=is_https(request)
    )
    return token


def csrf_ok(request: Any) -> bool:
    sent = request.POST.get("csrf_token", "")
    kept = request.cookies.get(CSRF_COOKIE, "")
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
    return bool(sent and kept) and secrets.compare_digest(sent.encode(), kept.encode())


class BadGoto(ValueError):
    pass


def checked_goto(request: Any, goto: str | None) -> str:
    """``goto_url`` when it points to this server (a path, or an absolute URL on its host);
    never somewhere else, so the login form cannot forward a user to a lookalike site."""
    if not goto:
        return "/"
    parts = urlsplit(goto)
    if parts.scheme or parts.netloc:
        own = urlsplit(absolute_url(request, ""))
        if parts.scheme not in ("http", "https") or parts.netloc.lower() not in (
            own.netloc.lower(),
            request.host.lower(),
        ):
            raise BadGoto("goto_url must point to this server")
        return goto
    if not goto.startswith("/") or goto.startswith("//") or "\\" in goto:
        raise BadGoto("goto_url must be a path on this server")
    return goto


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - pyshelf</title></head>
<body><main>
<h1>{title}</h1>
{who}{error}
<form method="post" action="{action}">
<input type="hidden" name="csrf_token" value="{csrf}">
{fields}
<button type="submit" name="submit">{title}</button>
</form>
</main></body></html>
"""

LOGIN_FIELDS = """<p><label>Username <input name="username" autocomplete="username"
 value="{username}" required></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password"
 required></label></p>"""


def page(
    request: Any, status: int, title: str, action: str, fields: str, error: str = ""
) -> Response:
    response = Response(status=status, content_type="text/html", charset="utf-8")
    identity = request.identity
    who = (
        f'<p class="identity">Logged in as <strong>{html.escape(identity.username)}</strong></p>'
        if identity is not None
        else '<p class="identity">Not logged in</p>'
    )
    response.text = PAGE.format(
        title=html.escape(title),
        who=who,
        error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
        action=html.escape(action),
        csrf=html.escape(csrf_token(request, response)),
        fields=fields,
    )
    return response


def login_form(request: Any, status: int = 200, error: str = "", username: str = "") -> Response:
    goto = request.params.get("goto_url", "")
    action = "/+login" + (f"?{urlencode({'goto_url': goto})}" if goto else "")
    fields = LOGIN_FIELDS.format(username=html.escape(username))
    return page(request, status, "Login", absolute_url(request, action.lstrip("/")), fields, error)


def show_login(request: Any) -> Response:
    try:
        checked_goto(request, request.params.get("goto_url"))
    except BadGoto as error:
        return page_error(request, 400, str(error))
    return login_form(request)


def submit_login(request: Any) -> Response:
    try:
        goto = checked_goto(request, request.params.get("goto_url"))
    except BadGoto as error:
        return page_error(request, 400, str(error))
    if not csrf_ok(request):
        return page_error(request, 403, "the form's CSRF token is missing or wrong; reload it")
    username = request.POST.get("username", "")
    password = request.POST.get("password", "")
    answer = log_in(request, username, password) if username and password else None
    if answer is None:
        return login_form(request, 401, "wrong username or password", username)
    token, seconds = answer
    target = goto if urlsplit(goto).scheme else absolute_url(request, goto.lstrip("/"))
    response = Response(status=302, location=target)
    response.set_cookie(
        AUTH_COOKIE,
        quote(f"{username}:{token}", safe=""),
        max_age=seconds,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=is_https(request),
    )
    return response


def show_logout(request: Any) -> Response:
    return page(request, 200, "Logout", absolute_url(request, "+logout"), "")


def submit_logout(request: Any) -> Response:
    if not csrf_ok(request):
        return page_error(request, 403, "the form's CSRF token is missing or wrong; reload it")
    response = Response(status=302, location=absolute_url(request, ""))
    response.delete_cookie(AUTH_COOKIE, path="/")
    return response


def page_error(request: Any, status: int, message: str) -> Response:
    response = Response(status=status, content_type="text/html", charset="utf-8")
    response.text = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Error</title></head>"
        f"<body><p class='error' role='alert'>{html.escape(message)}</p></body></html>"
    )
    return response


@hookimpl
def pyshelf_account_links(request: Any) -> list[tuple[str, str]]:
    if request.identity is None:
        return [("Log in", absolute_url(request, "+login"))]
    return [("Log out", absolute_url(request, "+logout"))]


FORM_POST = "Content-Type:application/x-www-form-urlencoded.*"


@hookimpl
def pyshelf_pyramid_configure(config: Any, settings: Any) -> None:
    config.add_route("lockdown.logout", "/+logout", factory=RootContext)
    config.add_view(show_login, route_name="login", request_method=("GET", "HEAD"))
    # The core answers JSON logins (devpi-client) on the same route.
    config.add_view(submit_login, route_name="login", request_method="POST", header=FORM_POST)
    config.add_view(show_logout, route_name="lockdown.logout", request_method=("GET", "HEAD"))
    config.add_view(submit_logout, route_name="lockdown.logout", request_method="POST")

