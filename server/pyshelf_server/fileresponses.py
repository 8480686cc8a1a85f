"""Answers that carry a stored file: hosted and mirrored files alike are content-addressed
and never change, so their ETag is the sha256 and they may be cached for ever."""

from __future__ import annotations

import mimetypes
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from pyramid.response import FileResponse, Response

from .responses import APIError

IMMUTABLE = "max-age=365000000, immutable, public"


def content_type(filename: str) -> str:
    if filename.endswith(".whl"):
        return "application/octet-stream"
    if filename.endswith((".tar.gz", ".tgz")):
        return "application/x-tar"
    if filename.endswith(".metadata"):
        return "text/plain; charset=utf-8"
    guessed, _encoding = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def not_modified(request: Any, sha256: str) -> bool:
    """Whether the client holds this content already. WebOb's matcher holds the tags
    unquoted, so the bare digest is what it is asked about."""
    return sha256 in request.if_none_match


def immutable_headers(response: Response, sha256: str, modified: datetime | None) -> Response:
    response.headers["ETag"] = f'"{sha256}"'
    response.headers["Cache-Control"] = IMMUTABLE
    stamp = (modified or datetime.now(UTC)).astimezone(UTC)
    response.headers["Last-Modified"] = format_datetime(stamp, usegmt=True)
    return response


def blob_response(
    request: Any, path: Path, sha256: str, filename: str, modified: datetime | None
) -> Response:
    """A stored file (or 304), with the headers of an immutable file."""
    if not_modified(request, sha256):
        response = Response(status=304)
    elif (prefix := request.registry.pyshelf.settings.x_accel_redirect) and request.method == "GET":
        # nginx in front sends the bytes from the store itself; permission was checked here.
        files = request.registry.pyshelf.files
        try:
            relative = path.relative_to(files.root).as_posix()
        except ValueError:  # not in the store (cannot happen for blobs): send it ourselves
            relative = None
        if relative is None or not path.exists():
            return _file_response(request, path, filename, sha256, modified)
        response = Response(status=200)
        response.headers["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + relative
        response.headers["Content-Type"] = content_type(filename)
    else:
        return _file_response(request, path, filename, sha256, modified)
    return immutable_headers(response, sha256, modified)


def _file_response(
    request: Any, path: Path, filename: str, sha256: str, modified: datetime | None
) -> Response:
    try:
        response = FileResponse(str(path), request=request, content_type=None)
    except FileNotFoundError:
        raise APIError(404, "file content is missing from the store") from None
    response.headers["Content-Type"] = content_type(filename)
    return immutable_headers(response, sha256, modified)
