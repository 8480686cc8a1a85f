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
from .htpasswd import IN_HTPASSWD_FILE
from .services import UserService, checked_user_fields, user_json
from .tokens import TokenService


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


def _only_root_sets_read_only(request: Any, fields: dict[str, Any], now: bool = False) -> None:
    # A read-only user must not lift their own flag. Clients send a user's whole record back
    # with a change (devpi's do): the flag as it is is no change.
    changes = "read_only" in fields and fields["read_only"] != now
    if changes and request.authenticated_userid != "root":
        raise APIError(403, "only root may make a user read-only or lift it")


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
    _only_root_sets_read_only(request, fields)
    name = request.context.username
    htpasswd = request.registry.pyshelf.htpasswd
    if "password_hash" not in fields and htpasswd is not None and htpasswd.hash_of(name):
        # A user of the htpasswd file made ahead of their first login (to be marked read-only
        # or given indexes): their password stays in the file.
        fields["password_hash"] = IN_HTPASSWD_FILE
    begin_write(request)
    user = UserService(request.uow).create(name, fields)
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
    _only_root_sets_read_only(request, fields, user.read_only)
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


TOKEN_REQUEST_KEYS = ("expires", "not_before", "allowed", "indexes", "projects", "description")


def _token_owner(request: Any, action: str) -> Any:
    user = UserService(request.uow).require(request.context.username)
    require(request, Permission.USER_MODIFY, message=f"no permission to {action} of {user.name!r}")
    return user


@view_config(route_name="user.token_create", request_method="POST")
def create_token(request: Any) -> Any:
    user = _token_owner(request, "create tokens")
    body = json_body(request, default={}, max_bytes=limits.MAX_CONFIG_BODY_BYTES)
    if not isinstance(body, dict):
        raise APIError(400, "token restrictions must be a JSON object")
    unknown = sorted(set(body) - set(TOKEN_REQUEST_KEYS))
    if unknown:
        raise APIError(400, f"Unknown restriction '{unknown[0]}'.")
    lists = {}
    for kind in ("allowed", "indexes", "projects"):
        value = body.get(kind)
        if value is not None and not isinstance(value, list):
            raise APIError(400, f"The {kind} restriction must be a list")
        lists[kind] = value
    not_before = body.get("not_before")
    if not_before is not None:
        try:
            not_before = int(not_before)
        except (TypeError, ValueError):
            raise APIError(400, f"Invalid value {not_before!r} for not before") from None
    description = body.get("description")
    if description is not None and (
        not isinstance(description, str) or len(description) > limits.MAX_DESCRIPTION_LENGTH
    ):
        raise APIError(
            400, f"description must be a string of at most {limits.MAX_DESCRIPTION_LENGTH} "
            "characters"
        )  # fmt: skip
    token_id, token = TokenService.for_request(request).create(
        user,
        expires=body.get("expires"),
        not_before=not_before,
        description=description,
        may_extend=request.authenticated_userid == "root",
        **lists,
    )
    return result("token-info", {"token": token, "id": token_id})


@view_config(route_name="user.tokens", request_method=("GET", "HEAD"))
def list_tokens(request: Any) -> Any:
    user = _token_owner(request, "list the tokens")
    tokens = TokenService.for_request(request).list(user)
    return result("tokens-info", {"tokens": {info.id: info.json() for info in tokens}})


@view_config(route_name="user.token", request_method="DELETE")
def delete_token(request: Any) -> Any:
    user = _token_owner(request, "delete the tokens")
    token_id = request.matchdict["token"]
    if not TokenService.for_request(request).revoke(user, token_id):
        raise APIError(404, f"No token with id {token_id}")
    return message(f"token {token_id} deleted")
