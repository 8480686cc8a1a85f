"""Answers that carry a stored file: hosted and mirrored files alike are content-addressed
and never change, so their ETag is the sha256 and they may be cached for ever."""

from __future__ import annotations

import mimetypes
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from pyramid.response import Response

from .responses import APIError
from .storage.files import FileStore

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
    request: Any, files: Any, sha256: str, filename: str, modified: datetime | None
) -> Response:
    """A stored file (or 304), with the headers of an immutable file; the store decides how
    the bytes travel (``BlobStore.response``: from its own file, streamed from S3, or a
    redirect, which carries no headers of the file)."""
    if not_modified(request, sha256):
        return immutable_headers(Response(status=304), sha256, modified)
    accel = accel_response(request, files, sha256, filename)
    if accel is not None:
        return immutable_headers(accel, sha256, modified)
    try:
        response = files.response(request, sha256, content_type(filename), filename)
    except FileNotFoundError:
        raise APIError(404, "file content is missing from the store") from None
    if response.status_code != 200:
        return response
    return immutable_headers(response, sha256, modified)


def accel_response(request: Any, files: Any, sha256: str, filename: str) -> Response | None:
    """With ``--x-accel-redirect`` and a store in a directory: the answer that has nginx in
    front send the bytes from the store itself (permission was checked here), or None."""
    prefix = request.registry.pyshelf.settings.x_accel_redirect
    if not prefix or request.method != "GET" or not isinstance(files, FileStore):
        return None
    path = files.path(sha256)
    if not path.exists():
        return None  # the store's own answer is the 404
    response = Response(status=200)
    response.headers["X-Accel-Redirect"] = (
        prefix.rstrip("/") + "/" + path.relative_to(files.root).as_posix()
    )
    response.headers["Content-Type"] = content_type(filename)
    return response
