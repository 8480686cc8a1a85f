"""``/{user}/{index}/+e/{digest}/{filename}``: mirrored files whose upstream link has no hash;
``/{user}/{index}/+warm``: pre-warming a mirror (``mirror.warm``)."""

from __future__ import annotations

from typing import Any

from pyramid.view import view_config

from ..permissions import Permission
from ..responses import APIError, result
from ..views.helpers import json_body, require
from .warm import parse_request, warm

# A lock file's worth of file names for one project, with room to spare.
MAX_WARM_BODY = 1024 * 1024


@view_config(route_name="files.external", request_method=("GET", "HEAD"))
def external_file(request: Any) -> Any:
    require(request, Permission.PKG_READ, message="package read forbidden")
    index = request.context.index
    digest, _sep, filename = request.matchdict["path"].partition("/")
    handler = getattr(request.shelf.backend(index), "file_response", None)
    if handler is None or not filename or "/" in filename:
        raise APIError(404, "no such file")
    response = handler(request, "+e", digest, filename)
    if response is None:
        raise APIError(404, "no such file")
    return response


@view_config(route_name="mirror.warm", request_method="POST")
def warm_mirror(request: Any) -> Any:
    index = request.context.index
    # It makes the server download on a large scale: the mirror's owner (or root) decides.
    require(
        request,
        Permission.INDEX_MODIFY,
        message=f"only the owner of {index.fullname} and root may warm it",
    )
    if not index.is_mirror:
        raise APIError(400, f"{index.fullname} is not a mirror index; only mirrors are warmed")
    projects = parse_request(json_body(request, max_bytes=MAX_WARM_BODY))
    return result("warm", warm(request.shelf.backend(index), projects))
