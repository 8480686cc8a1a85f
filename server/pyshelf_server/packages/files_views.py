"""``/{user}/{index}/+f/…``: downloading, describing and deleting stored files, and posting tox
results about them."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from pyramid.response import Response
from pyramid.view import view_config

from ..fileresponses import blob_response
from ..lifecycle.age import refuse_if_held_back
from ..lifecycle.provenance import MEDIA_TYPE as PROVENANCE_TYPE
from ..lifecycle.provenance import SUFFIX as PROVENANCE_SUFFIX
from ..limits import MAX_FILENAME_LENGTH
from ..permissions import Permission
from ..responses import APIError, message, result
from ..simple.negotiation import wants_api_json
from ..storage.files import StoredBlob
from ..views.helpers import flag, json_body, require
from .backend import file_path
from .metadata import wheel_metadata_file
from .models import File
from .services import PackageService, log_entry

METADATA_SUFFIX = ".metadata"


def _lookup(request: Any) -> tuple[Any, File | None, str]:
    info = request.context.index
    a, b, filename = request.matchdict["a"], request.matchdict["b"], request.matchdict["filename"]
    packages = PackageService(request.uow, request.registry.pyshelf.files)
    row = packages.file_by_name(info.id, filename)
    if row is not None and (row.sha256[:3] != a or row.sha256[3:16] != b):
        row = None
    return info, row, a + b


def _gone_or_missing(request: Any, info: Any, filename: str, prefix: str) -> APIError:
    packages = PackageService(request.uow)
    if packages.deleted_file(info.id, filename, prefix) is not None:
        return APIError(410, "file existed, deleted in later serial")
    return APIError(404, "no such file")


def _blob_response(request: Any, sha256: str, filename: str, modified: datetime) -> Response:
    return blob_response(request, request.registry.pyshelf.files, sha256, filename, modified)


@view_config(route_name="files.entry", request_method=("GET", "HEAD"))
def download(request: Any) -> Response:
    require(request, Permission.PKG_READ, message="package read forbidden")
    info = request.context.index
    filename = request.matchdict["filename"]
    if not getattr(request.shelf.backend(info), "holds_hosted_files", True):
        # Its own files answer, without asking the hosted table first.
        response = _backend_answer(request, filename)
        if response is None:
            raise APIError(404, "no such file")
        return response
    if filename.endswith(METADATA_SUFFIX) and not _has_own_file(request, info, filename):
        return _core_metadata(request, filename[: -len(METADATA_SUFFIX)])
    if filename.endswith(PROVENANCE_SUFFIX) and not _has_own_file(request, info, filename):
        return _provenance(request, filename[: -len(PROVENANCE_SUFFIX)])
    info, row, prefix = _lookup(request)
    if row is None:
        response = _backend_answer(request, filename)
        if response is not None:
            return response
        raise _gone_or_missing(request, info, filename, prefix)
    _refuse_if_held_back(request, row)
    if wants_api_json(request):
        return result(
            "releasefilemeta",
            {
                "last_modified": format_datetime(row.upload_time.astimezone(UTC), usegmt=True),
                "hash_spec": f"sha256={row.sha256}",
                "hashes": {"sha256": row.sha256},
                "project": row.version.project.name,
                "version": row.version.version,
            },
        )
    if request.method == "GET":
        request.registry.pyshelf.downloads.count(row.id)
    return _blob_response(request, row.sha256, row.filename, row.upload_time)


def _backend_answer(request: Any, filename: str) -> Response | None:
    """The index backend's own answer for ``filename`` at this URL (a mirror's file, a plugin
    backend's), or None when it has none."""
    handler = getattr(request.shelf.backend(request.context.index), "file_response", None)
    if handler is None:
        return None
    return handler(request, request.matchdict["a"], request.matchdict["b"], filename)


def _refuse_if_held_back(request: Any, row: File) -> None:
    """A release file that the age rules of the index in its URL hold back is not served."""
    inheritance = request.shelf.inheritance
    rules = inheritance.age_rules(request.context.index)
    if rules and row.rel == "releasefile":
        project = row.version.project.name
        refuse_if_held_back(rules, project, row.upload_time, inheritance.now(), row.filename)


def _has_own_file(request: Any, info: Any, filename: str) -> bool:
    return PackageService(request.uow).file_by_name(info.id, filename) is not None


def _core_metadata(request: Any, filename: str) -> Response:
    info = request.context.index
    row = PackageService(request.uow).file_by_name(info.id, filename)
    a, b = request.matchdict["a"], request.matchdict["b"]
    if row is None or row.sha256[:3] != a or row.sha256[3:16] != b:
        response = _backend_answer(request, filename + METADATA_SUFFIX)
        if response is not None:
            return response
        raise APIError(404, "no such file")
    _refuse_if_held_back(request, row)
    if not row.metadata_sha256:
        raise APIError(404, "no core metadata for this file")
    _restore_core_metadata(request.registry.pyshelf.files, row)
    response = _blob_response(
        request, row.metadata_sha256, filename + METADATA_SUFFIX, row.upload_time
    )
    if response.status_code == 200:
        response.content_type = "text/plain"
        response.charset = "utf-8"
    return response


def _provenance(request: Any, filename: str) -> Response:
    """PEP 740: the provenance object of a hosted file."""
    info = request.context.index
    row = PackageService(request.uow).file_by_name(info.id, filename)
    a, b = request.matchdict["a"], request.matchdict["b"]
    if row is None or row.sha256[:3] != a or row.sha256[3:16] != b or not row.provenance:
        raise APIError(404, f"No provenance available for {filename}")
    _refuse_if_held_back(request, row)
    response = Response(body=row.provenance.encode("utf-8"), content_type=None)
    response.headers["Content-Type"] = PROVENANCE_TYPE
    return response


def _restore_core_metadata(files: Any, row: File) -> None:
    """The METADATA blob is stored without fsync (it is derived from the wheel); should a crash
    have lost it, extract it again."""
    if files.exists(row.metadata_sha256):
        return
    data = wheel_metadata_file(files.local_path(row.sha256))
    if data is not None and hashlib.sha256(data).hexdigest() == row.metadata_sha256:
        files.put_bytes(data, durable=False)


@view_config(route_name="files.entry", request_method="DELETE")
def delete_file(request: Any) -> Any:
    require(request, Permission.DELETE_ENTRY)
    info, row, prefix = _lookup(request)
    if row is None:
        raise _gone_or_missing(request, info, request.matchdict["filename"], prefix)
    if not info.volatile and not flag(request, "force") and "force" not in request.GET:
        raise APIError(403, f"cannot delete file on non-volatile index {info.fullname}")
    path = file_path(info.fullname, row.sha256, row.filename)
    project, version = row.version.project.name, row.version.version
    PackageService(request.uow, request.registry.pyshelf.files).delete_file(row)
    hook = request.registry.pyshelf.pm.hook.pyshelf_on_remove
    request.pyshelf_events.append(
        lambda: hook(request=request, index=info, project=project, version=version)
    )
    return message(f"package {path!r} deleted")


@view_config(route_name="files.entry", request_method="POST")
def post_toxresult(request: Any) -> Any:
    require(
        request,
        Permission.TOXRESULT_UPLOAD,
        message="No permission to upload tox results. You can use the devpi test --no-upload "
        "option to skip the upload.",
    )
    info, row, _prefix = _lookup(request)
    if row is None or row.rel != "releasefile":
        raise APIError(404, "no release file at this URL")
    data = json_body(request, allow_empty=False, allow_nul=True)
    if not isinstance(data, dict):
        raise APIError(400, "tox result must be a JSON object")
    app = request.registry.pyshelf
    packages = PackageService(request.uow, app.files)
    content = json.dumps(data, sort_keys=True).encode("utf-8")
    blob: StoredBlob = app.files.put_bytes(content)
    request.uow.discard_if_rolled_back(app.files, blob)
    existing = sum(1 for f in row.version.files if f.for_file_id == row.id)
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    suffix = f".toxresult-{stamp}-{existing}"
    # Cut to the column's length (a release file's name may take all of it); the suffix keeps
    # the names of one file's results apart.
    filename = row.filename[: MAX_FILENAME_LENGTH - len(suffix)] + suffix
    from ..indexes.services import IndexService

    index_row = IndexService(request.uow, app).require(info.user, info.name)
    stored = packages.add_file(
        index=index_row,
        version=row.version,
        filename=filename,
        replacing=packages.file_by_name(index_row.id, filename),
        blob=blob,
        rel="toxresult",
        uploader=request.authenticated_userid,
        log=[log_entry("upload", request.authenticated_userid, info.fullname)],
        for_file=row,
    )
    path = file_path(info.fullname, stored.sha256, stored.filename)
    return result("toxresultpath", f"{path}#sha256={stored.sha256}")
