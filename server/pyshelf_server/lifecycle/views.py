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

from ..limits import MAX_FILENAME_LENGTH
from ..names import normalize_name
from ..permissions import Permission
from ..responses import APIError, result
from ..views.helpers import begin_write, json_body, require
from .yanks import YankService


@view_config(route_name="version", request_method="PATCH")
def yank_version(request: Any) -> Any:
    require(request, Permission.UPLOAD)
    body = json_body(request, allow_empty=False, max_bytes=64 * 1024)
    if not isinstance(body, dict) or not isinstance(body.get("yanked"), bool):
        raise APIError(400, 'the body must be a JSON object with "yanked": true or false')
    unknown = set(body) - {"yanked", "reason", "filename"}
    if unknown:
        raise APIError(400, f"unknown keys: {', '.join(sorted(unknown))}")
    reason, filename = body.get("reason"), body.get("filename")
    if reason is not None and not isinstance(reason, str):
        raise APIError(400, '"reason" must be a string')
    if filename is not None and (
        not isinstance(filename, str) or not filename or len(filename) > MAX_FILENAME_LENGTH
    ):
        raise APIError(400, '"filename" must be a file name')
    project = normalize_name(request.matchdict["project"])
    version = request.matchdict["version"]
    inherited = YankService(request.uow, request.shelf).inherited_files(
        request.context.index, project, version
    )
    begin_write(request)
    index = request.shelf.require_index(request.context.index.fullname)
    outcome = YankService(request.uow, request.shelf).set_yanked(
        index,
        project,
        version,
        inherited=inherited,
        yanked=body["yanked"],
        reason=reason,
        filename=filename,
        who=request.authenticated_userid,
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
