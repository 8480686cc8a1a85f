"""``/{user}``: create, show, change and delete users."""

from __future__ import annotations

from typing import Any

from pyramid.view import view_config

from .. import limits, logs
from ..indexes.services import IndexService
from ..indexes.views import announce
from ..permissions import Permission
from ..responses import APIError, message, result
from ..serverdir import update_root_password_file
from ..views.helpers import begin_write, json_body, require
from .services import UserService, checked_user_fields, user_json


def _user_json(request: Any, user: Any) -> dict[str, Any]:
    from ..security import index_listed

    indexes = IndexService(request.uow, request.registry.pyshelf)
    return user_json(
        user,
        {
            i.name: indexes.config_json(i)
            for i in indexes.of_user(user)
            if index_listed(request, request.shelf.index(f"{user.name}/{i.name}"))
        },
    )


@view_config(route_name="user", request_method=("GET", "HEAD"))
def show_user(request: Any) -> Any:
    user = UserService(request.uow).require(request.context.username)
    return result("userconfig", _user_json(request, user))


@view_config(route_name="user", request_method="PUT")
def create_user(request: Any) -> Any:
    from ..resources import RootContext

    require(request, Permission.USER_CREATE, RootContext(request), "only root may create users")
    body = json_body(request, default={}, max_bytes=limits.MAX_CONFIG_BODY_BYTES)
    if not isinstance(body, dict):
        raise APIError(400, "user configuration must be a JSON object")
    fields = checked_user_fields(body)
    begin_write(request)
    user = UserService(request.uow).create(request.context.username, fields)
    logs.after_commit(request, "%s created user %r", request.authenticated_userid, user.name)
    return result("userconfig", _user_json(request, user), status=201)


@view_config(route_name="user", request_method="PATCH")
def modify_user(request: Any) -> Any:
    name = UserService(request.uow).require(request.context.username).name
    require(
        request, Permission.USER_MODIFY, message=f"only {name!r} and root may change user {name!r}"
    )
    body = json_body(request, default={}, max_bytes=limits.MAX_CONFIG_BODY_BYTES)
    if not isinstance(body, dict):
        raise APIError(400, "user modification must be a JSON object")
    fields = checked_user_fields(body)
    begin_write(request)
    users = UserService(request.uow)
    user = users.require(name)
    changed = users.modify(user, fields)
    if changed and user.is_root:
        new_password = body["password"] if "password" in body else None
        serverdir = request.registry.pyshelf.settings.serverdir
        request.pyshelf_events.append(
            lambda: update_root_password_file(serverdir, new_password)
        )
    logs.after_commit(request, "%s changed user %r: %s", request.authenticated_userid,
                      user.name, ", ".join(sorted(fields)))
    if changed:
        app = request.registry.pyshelf
        token = app.login_tokens.create(user.name, user.password_hash)
        return result(
            "userpassword",
            {"password": token, "expiration": app.settings.login_token_seconds},
            message="user updated, new proxy auth",
        )
    return message("user updated")


@view_config(route_name="user", request_method="DELETE")
def delete_user(request: Any) -> Any:
    users = UserService(request.uow)
    user = users.require(request.context.username)
    require(
        request, Permission.USER_DELETE,
        message=f"only {user.name!r} and root may delete user {user.name!r}",
    )
    if user.is_root:
        raise APIError(403, "the root user cannot be deleted")
    # As they were: read before the deletion changes what the request's snapshot shows.
    indexes = [i for i in request.shelf.snapshot.by_name.values() if i.user == user.name]
    users.delete(user, request.registry.pyshelf.files)
    for info in indexes:
        announce(request, "pyshelf_index_deleted", index=info)
    logs.after_commit(request, "%s deleted user %r", request.authenticated_userid, user.name)
    return message(f"user {user.name!r} deleted")
