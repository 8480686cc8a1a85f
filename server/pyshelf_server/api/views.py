"""``/+api`` (what drives the devpi client), ``/+login``, ``/+status`` and ``GET /``."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from pyramid.response import Response
from pyramid.view import view_config

from .. import __version__, logs
from ..accounts.services import UserService, user_json
from ..indexes.services import IndexService
from ..lifecycle.status import held_back
from ..nodes import live_nodes
from ..responses import APIError, result
from ..security import current_password_hash
from ..views.helpers import absolute, json_body, root_url

FEATURES = ["push-no-docs", "push-only-docs", "push-register-project", "server-keyvalue-parsing"]


def _authstatus(request: Any) -> list[Any]:
    identity = request.identity
    if identity is None:
        return ["noauth", "", []]
    return ["ok", identity.username, list(identity.groups)]


def apiconfig(request: Any, index: Any = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "login": f"{root_url(request)}/+login",
        "authstatus": _authstatus(request),
        "features": FEATURES,
        "plugins": request.registry.pyshelf.plugins,
    }
    if index is not None:
        data["index"] = absolute(request, index.fullname)
        data["simpleindex"] = absolute(request, f"{index.fullname}/+simple/")
        if not index.is_mirror and not request.shelf.type_for(index).read_only:
            data["pypisubmit"] = absolute(request, f"{index.fullname}/")
    return data


@view_config(route_name="api.root", request_method=("GET", "HEAD"))
@view_config(route_name="api.user", request_method=("GET", "HEAD"))
def api_root(request: Any) -> Any:
    return result("apiconfig", apiconfig(request))


@view_config(route_name="api.index", request_method=("GET", "HEAD"))
def api_index(request: Any) -> Any:
    return result("apiconfig", apiconfig(request, request.context.index))


@view_config(route_name="login", request_method="POST")
def login(request: Any) -> Any:
    body = json_body(request, default={})
    if not isinstance(body, dict) or "user" not in body or "password" not in body:
        raise APIError(400, "Bad request: no user/password specified")
    username, password = body["user"], body["password"]
    if not isinstance(username, str) or not isinstance(password, str):
        raise APIError(400, "Bad request: user and password must be strings")
    app = request.registry.pyshelf
    name = app.pm.hook.pyshelf_authenticate(request=request, username=username, secret=password)
    # A login token is not a password: logging in with one would extend it for ever.
    if name is None or password.startswith("["):
        logs.event("login of user %r from %s failed", username, request.client_addr)
        if username == "root" and password == "":
            raise APIError(401, empty_root_password_message(app.settings.serverdir))
        raise APIError(401, f"user {username!r} could not be authenticated")
    logs.event("user %r logged in from %s", name, request.client_addr)
    token = app.login_tokens.create(name, current_password_hash(request, name) or "")
    return result(
        "proxyauth",
        {"password": token, "expiration": app.settings.login_token_seconds},
        message="login successful",
    )


def empty_root_password_message(serverdir: Any) -> str:
    """For devpi's habit of an empty root password: where root's password is."""
    from ..serverdir import ROOT_PASSWORD_FILE

    if (serverdir / ROOT_PASSWORD_FILE).exists():
        return (
            "root's password is not empty here (as devpi's starts): pyshelf-init generated "
            f"one, printed it and stored it in the server directory's {ROOT_PASSWORD_FILE} "
            f"file (on the server: cat SERVERDIR/{ROOT_PASSWORD_FILE})"
        )
    return (
        "root's password is not empty here (as devpi's starts): use the one given to "
        "pyshelf-init (--root-passwd or PYSHELF_ROOT_PASSWORD)"
    )


@view_config(route_name="status", request_method=("GET", "HEAD"))
def status(request: Any) -> Any:
    return result("status", status_info(request))


def status_info(request: Any) -> dict[str, Any]:
    """What ``/+status`` reports, plugins' keys included (the web plugin shows it as HTML)."""
    app = request.registry.pyshelf
    serial = request.shelf.serial
    info: dict[str, Any] = {
        "serverdir": str(app.settings.serverdir),
        "uuid": app.uuid,
        "role": "STANDALONE",
        "versioninfo": {"pyshelf-server": __version__, **app.plugins},
        "host": app.settings.host,
        "port": app.settings.port,
        "outside-url": app.settings.outside_url,
        "serial": serial,
        "event-serial": serial,
        "started": app.started,
        "database": app.engine.dialect.name,
        "offline-mode": app.settings.offline_mode,
        "nodes": live_nodes(request.db.connection()),
        "metrics": [],
        # Per index with a minimum release age or cut-off: what it holds back now.
        "held-back": held_back(request.db, request.shelf.inheritance),
    }
    for extra in app.pm.hook.pyshelf_get_status_info(request=request):
        for key, value in (extra or {}).items():
            if key == "metrics":
                info["metrics"].extend(value)
            else:
                info[key] = value
    identity = request.identity
    if identity is None or not identity.is_root:
        # Where the server keeps its files is for its administrator only.
        del info["serverdir"]
    return info


@view_config(route_name="root", request_method=("GET", "HEAD"))
def root(request: Any) -> Any:
    from ..security import index_listed

    users = UserService(request.uow)
    indexes = IndexService(request.uow, request.registry.pyshelf)
    data = {}
    for user in users.all():
        data[user.name] = user_json(
            user,
            {
                index.name: indexes.config_json(index)
                for index in indexes.of_user(user)
                if index_listed(request, request.shelf.index(f"{user.name}/{index.name}"))
            },
        )
    return result("list:userconfig", data)


_INDEX_PATH = re.compile(r"^/([^+/][^/]*)/([^+/][^/]*)/\+(f|e|simple)(/|$)")


@view_config(route_name="authcheck", request_method=("GET", "HEAD"))
def authcheck(request: Any) -> Any:
    """For a front proxy's ``auth_request``: may this request's credentials read the URI in
    ``X-Original-URI``? Files and simple pages need ``pkg_read`` on their index; ``+api`` and
    ``+login`` are always allowed. The answer is only a status: 200, 401 or 403."""
    from ..permissions import Permission
    from ..resources import IndexContext

    original = request.headers.get("X-Original-URI", "")
    path = unquote(original.split("?", 1)[0])
    match = _INDEX_PATH.match(path)
    allowed = True
    if match:
        index = request.shelf.index(f"{match.group(1)}/{match.group(2)}")
        if index is not None:
            allowed = bool(
                request.has_permission(Permission.PKG_READ, IndexContext(request, index))
            )
    if allowed:
        return Response(status=200)
    return Response(status=401 if request.identity is None else 403)
