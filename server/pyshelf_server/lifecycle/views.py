"""``PATCH /{user}/{index}/{project}/{version}``: yanking and un-yanking.

The body is JSON: ``{"yanked": true, "reason": "…", "filename": "…"}`` (``reason`` and
``filename`` optional; without ``filename`` every release file of the version). Anyone allowed to
upload to the index may yank, on volatile and non-volatile indexes alike: a yank changes no
file. devpi has no yank of its own; a devpi user reaches the same route with
``curl -X PATCH`` or ``pyshelf yank``.
"""

from __future__ import annotations

from typing import Any

from pyramid.view import view_config

from ..indexes.registry import IndexInfo
from ..limits import MAX_FILENAME_LENGTH
from ..names import normalize_name
from ..permissions import Permission
from ..resources import IndexContext
from ..responses import APIError, result
from ..views.helpers import begin_write, json_body, require
from .yanks import YankResult, YankService


@view_config(route_name="version", request_method="PATCH")
def yank_version(request: Any) -> Any:
    require(request, Permission.UPLOAD)
    body = json_body(request, allow_empty=False, max_bytes=64 * 1024)
    if not isinstance(body, dict) or not isinstance(body.get("yanked"), bool):
        raise APIError(400, 'the body must be a JSON object with "yanked": true or false')
    unknown = set(body) - {"yanked", "reason", "filename"}
    if unknown:
        raise APIError(400, f"unknown keys: {', '.join(sorted(unknown))}")
    reason = body.get("reason")
    project = normalize_name(request.matchdict["project"])
    version = request.matchdict["version"]
    outcome = yank(
        request,
        request.context.index,
        project,
        version,
        yanked=body["yanked"],
        reason=reason,
        filename=body.get("filename"),
    )
    return result(
        "yank",
        {
            "project": project,
            "version": version,
            "yanked": body["yanked"],
            "reason": reason if body["yanked"] else None,
            "kind": outcome.kind,
            "files": outcome.files,
        },
    )


def yank(
    request: Any,
    index: IndexInfo,
    project: str,
    version: str,
    *,
    yanked: bool,
    reason: str | None,
    filename: str | None,
) -> YankResult:
    """Yank (or un-yank) ``project==version`` through ``index``, or only its ``filename``, for
    the request's identity: the one way a yank is made (this PATCH and the plugin API's
    ``yanks(request)``). It checks the permission itself, so no caller can forget it."""
    require(request, Permission.UPLOAD, IndexContext(request, index))
    if reason is not None and not isinstance(reason, str):
        raise APIError(400, '"reason" must be a string')
    if filename is not None and (
        not isinstance(filename, str) or not filename or len(filename) > MAX_FILENAME_LENGTH
    ):
        raise APIError(400, '"filename" must be a file name')
    service = YankService(request.uow, request.shelf)
    inherited = service.inherited_files(index, project, version)
    begin_write(request)
    return service.set_yanked(
        request.shelf.require_index(index.fullname),
        project,
        version,
        inherited=inherited,
        yanked=yanked,
        reason=reason,
        filename=filename,
        who=request.authenticated_userid,
    )
