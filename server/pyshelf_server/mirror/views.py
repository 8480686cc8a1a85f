"""``/{user}/{index}/+e/{digest}/{filename}``: mirrored files whose upstream link has no hash."""

from __future__ import annotations

from typing import Any

from pyramid.view import view_config

from ..permissions import Permission
from ..responses import APIError
from ..views.helpers import require


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
