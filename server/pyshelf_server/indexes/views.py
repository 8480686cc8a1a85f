"""``/{user}/{index}``: create, show, configure and delete indexes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from pyramid.response import Response
from pyramid.view import view_config

from .. import limits, logs
from ..accounts.services import UserService
from ..permissions import Permission
from ..resources import UserContext
from ..responses import JSON_CONTENT_TYPE, APIError, message, result
from ..simple.negotiation import is_installer, wants_simple_json
from ..views.helpers import begin_write, flag, json_body, require
from .models import Index
from .registry import IndexInfo
from .services import IndexService


def _service(request: Any) -> IndexService:
    return IndexService(request.uow, request.registry.pyshelf)


@view_config(route_name="index", request_method=("GET", "HEAD"))
def show_index(request: Any) -> Any:
    if wants_simple_json(request) or is_installer(request):
        from ..simple.views import project_list

        return project_list(request)
    info = request.context.index
    service = _service(request)
    index = service.require(info.user, info.name)
    config = service.config_json(index)
    if not flag(request, "no_projects") and "no_projects" not in request.GET:
        backend = request.shelf.backend(info)
        if getattr(backend, "streams_project_names", False):
            # A mirror lists every upstream name (about a million): stream them from its
            # stored list instead of building them as Python strings.
            return _streamed_indexconfig(config, backend.project_names())
        config["projects"] = sorted(backend.project_names())
    return result("indexconfig", config)


def _streamed_indexconfig(config: dict[str, Any], names: Iterable[str]) -> Response:
    head = json.dumps({"type": "indexconfig", "result": config})[:-2]
    separator = ", " if config else ""

    def body() -> Iterator[bytes]:
        yield f'{head}{separator}"projects": ['.encode()
        batch: list[str] = []
        first = True
        for name in names:
            batch.append(("" if first else ", ") + json.dumps(name))
            first = False
            if len(batch) >= 4096:
                yield "".join(batch).encode()
                batch = []
        batch.append("]}}\n")
        yield "".join(batch).encode()

    response = Response(app_iter=body(), content_type=None)
    response.headers["Content-Type"] = JSON_CONTENT_TYPE
    return response


@view_config(route_name="index", request_method="PUT")
def create_index(request: Any) -> Any:
    user_name = request.matchdict["user"]
    index_name = request.matchdict["index"]
    require(
        request,
        Permission.INDEX_CREATE,
        _user_context(request),
        f"only {user_name} and root may create index {user_name}/{index_name}",
    )
    body = json_body(request, default={}, max_bytes=limits.MAX_CONFIG_BODY_BYTES)
    _service(request).new_config(user_name, index_name, body)
    begin_write(request)
    owner = UserService(request.uow).get(user_name)
    if owner is None:
        raise APIError(404, f"no user {user_name!r}")
    service = _service(request)
    index = service.create(owner, index_name, body, by=request.authenticated_userid)
    announce(request, "pyshelf_index_created", index=_info(request, index))
    logs.after_commit(request, "%s created index %s/%s", request.authenticated_userid,
                      user_name, index_name)
    return result("indexconfig", service.config_json(index))


@view_config(route_name="index", request_method="PATCH")
def modify_index(request: Any) -> Any:
    info = request.context.index
    require(request, Permission.INDEX_MODIFY,
            message=f"only {info.user} and root may change index {info.fullname}")
    body = json_body(request, allow_empty=False, max_bytes=limits.MAX_CONFIG_BODY_BYTES)
    service = _service(request)
    service.modified_config(service.require(info.user, info.name), body)
    begin_write(request)
    service = _service(request)
    index = service.require(info.user, info.name)
    old_options = service.config_json(index)
    service.modify(
        index, body, by=request.authenticated_userid, error_on_noop="error_on_noop" in request.GET
    )
    announce(
        request, "pyshelf_index_changed", index=_info(request, index), old_options=old_options
    )
    logs.after_commit(request, "%s changed index %s: %s", request.authenticated_userid,
                      info.fullname, ", ".join(sorted(body)))
    return result("indexconfig", service.config_json(index))


@view_config(route_name="index", request_method="DELETE")
def delete_index(request: Any) -> Any:
    info = request.context.index
    require(request, Permission.INDEX_DELETE,
            message=f"only {info.user} and root may delete index {info.fullname}")
    service = _service(request)
    service.delete(service.require(info.user, info.name))
    announce(request, "pyshelf_index_deleted", index=info)
    logs.after_commit(request, "%s deleted index %s", request.authenticated_userid,
                      info.fullname)
    return message(f"index {info.fullname} deleted", status=201)


def announce(request: Any, hook_name: str, **kwargs: Any) -> None:
    """Call the plugins' hook ``hook_name`` once the request's transaction committed."""
    hook = getattr(request.registry.pyshelf.pm.hook, hook_name)
    request.pyshelf_events.append(lambda: hook(request=request, **kwargs))


def _info(request: Any, index: Index) -> IndexInfo:
    """``index`` as plugins see it, taken before the commit (which expires the row)."""
    return IndexInfo(
        id=index.id,
        user=index.user.name,
        name=index.name,
        type=index.type,
        volatile=bool(index.volatile),
        options=dict(index.options or {}),
        bases=tuple(link.base.fullname for link in index.base_links),
        is_mirror=request.registry.pyshelf.index_type(index.type).is_mirror,
    )


def _user_context(request: Any) -> UserContext:
    # The index route's context is the index, which does not exist yet when it is created;
    # creating is a permission on the user.
    return UserContext(request)
