"""Answering a request for a mirrored file (``+f/…`` or ``+e/…``, release file or ``.metadata``):
from the store when it is there, else by finding its link on the cached project page and
downloading it (see ``mirror.files``)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from pyramid.httpexceptions import HTTPFound
from sqlalchemy import bindparam, delete, select

from ..lifecycle.age import refuse_if_held_back, rules_for
from ..metrics import metrics_of
from ..names import normalize_name
from ..responses import APIError, result
from ..simple.negotiation import wants_api_json
from ..unit_of_work import end_read_transaction
from . import files
from .backend import upstream_api_error
from .files import (
    FileRecord,
    record_file,
    stored_response,
    streamed_response,
    verified_response,
)
from .links import METADATA_SUFFIX, file_key, parse_upload_time, url_key, verifying_hash
from .models import MirrorFile
from .upstream import UpstreamError, safe_url

_mirror_files = MirrorFile.__table__
_STORED_FILE = select(_mirror_files.c.id, _mirror_files.c.sha256, _mirror_files.c.stored).where(
    _mirror_files.c.index_id == bindparam("index_id"),
    _mirror_files.c.filename == bindparam("filename"),
    _mirror_files.c.key == bindparam("key"),
)


# Answers that count as a download, as for hosted files: the file, a part of it, or the
# client's copy confirmed (304).
DOWNLOADED = frozenset({200, 206, 304})


def serve_file(backend: Any, request: Any, first: str, second: str, filename: str) -> Any:
    """The answer for one file of ``backend``'s mirror, or None when the mirror has no such
    file (the caller answers 404). Downloads of release files are counted as hosted ones."""
    if first == "+e":
        kind, first, second = "+e", second, ""
    else:
        kind = "+f"
    key = file_key(first, second)
    rules = rules_for([backend.index])
    if rules:
        _refuse_if_held_back(backend, rules, kind, first, second, filename)
    response = _answer(backend, request, kind, first, second, key, filename)
    if (
        response is not None
        and request.method == "GET"
        and getattr(response, "status_code", None) in DOWNLOADED
        and not filename.endswith(METADATA_SUFFIX)
        and not wants_api_json(request)
    ):
        backend.app.downloads.count_mirrored(backend.index.id, filename, key)
    return response


def _answer(
    backend: Any, request: Any, kind: str, first: str, second: str, key: str, filename: str
) -> Any:
    index, app = backend.index, backend.app
    # Core, not the ORM: a stored file is the answer to most requests here, and loading an
    # object for it cost more than the rest of that answer.
    row = backend.session.connection().execute(
        _STORED_FILE, {"index_id": index.id, "filename": filename, "key": key}
    ).first()
    count_file = metrics_of(app).mirror_file
    if row is not None and not wants_api_json(request):
        if app.files.exists(row.sha256):
            response = stored_response(request, app.files, row.sha256, filename, row.stored)
            count_file(index.fullname, "hit", response.content_length or 0)
            return response
        # The blob went missing (removed from the store by hand): fetch it again.
        _forget_row(app, row.id)
    found = find_link(backend, kind, first, second, filename)
    if found is None:
        return None
    project, link = found
    if wants_api_json(request):
        return _file_meta(project, link, row.stored if row is not None else None)
    downloads = backend.runtime.downloads
    record = FileRecord(
        index_id=index.id, project=project, filename=filename, key=key,
        version=link.get("version"), url=link["url"],
    )
    # The rest records a row in a session of its own or waits for upstream: no connection
    # of the request's is held meanwhile.
    end_read_transaction(backend.session)
    completed = downloads.completed.get((index.id, filename, key))
    if completed and app.files.exists(completed):
        response = stored_response(request, app.files, completed, filename, None)
        count_file(index.fullname, "hit", response.content_length or 0)
        return response
    sha256 = (link.get("hashes") or {}).get("sha256")
    if sha256 and app.files.touch(sha256):
        # The same content is stored already (another index has it): no download needed.
        # Touched, as an upload of stored content is, so the orphan sweep leaves it be.
        record_file(app, record, sha256, app.files.size(sha256))
        response = stored_response(request, app.files, sha256, filename, None)
        count_file(index.fullname, "hit", response.content_length or 0)
        return response
    if backend.offline:
        raise APIError(404, f"{filename} is not cached and the server is in offline mode")
    if index.options.get("mirror_use_external_urls"):
        return HTTPFound(location=link["url"])
    try:
        give_back = backend.runtime.places.take(link["url"])
    except UpstreamError as error:
        count_file(index.fullname, "error")
        raise upstream_api_error(index, error) from None
    try:
        try:
            download = downloads.start_or_join(record, link.get("hashes") or {})
        except UpstreamError as error:
            count_file(index.fullname, "error")
            raise upstream_api_error(index, error) from None
        limit = float(app.settings.request_timeout) * 2 + 10
        download.wait(lambda: download.answered, limit)
        # HEAD (uv asks before downloading) waits for the whole file so its headers are final.
        wait = limit if request.method == "HEAD" else files.STREAM_AFTER
        download.wait(download.ready, wait)
        handle = download.reader()
        if handle is None:
            count_file(index.fullname, "error")
            raise APIError(502, f"{index.fullname}: {download.error}")
        count_file(index.fullname, "miss")
        if download.verified:
            return verified_response(request, download, handle, filename)
        # Passing the file on as it arrives waits on upstream too: the place is given back
        # when the answer ends.
        response = streamed_response(request, download, handle, give_back)
        give_back = None
        return response
    finally:
        if give_back is not None:
            give_back()


def _refuse_if_held_back(
    backend: Any, rules: Any, kind: str, first: str, second: str, filename: str
) -> None:
    """A file the mirror's age rules hold back is not served, whether stored or not (a lock
    file may pin its URL)."""
    release = filename.removesuffix(METADATA_SUFFIX)
    found = find_link(backend, kind, first, second, release)
    if found is None:
        # Not on upstream's page (any more): its upload time is unknown.
        found = (_likely_project(release) or "", {})
    project, link = found
    now = datetime.fromtimestamp(backend.app.clock(), UTC)
    refuse_if_held_back(rules, project, parse_upload_time(link.get("upload_time")), now, filename)


def find_link(
    backend: Any, kind: str, first: str, second: str, filename: str
) -> tuple[str, dict[str, Any]] | None:
    """(project, link) of the file at this URL, from the cached project pages. A file asked
    for before its page (a URL remembered by a client) makes the page be fetched."""
    metadata = filename.endswith(METADATA_SUFFIX)
    release = filename[: -len(METADATA_SUFFIX)] if metadata else filename
    pages = backend.pages.cached_links(backend.session, _candidates(release))
    if not pages and not backend.offline:
        guess = _likely_project(release)
        state = backend.page(guess) if guess else None
        if state is not None:
            pages = [(state.name, state.links)]
    for name, links in pages:
        for link in links:
            if link.get("filename") != release or url_key(link) != (kind, first, second):
                continue
            if not metadata:
                return name, link
            core = link.get("core_metadata")
            if not isinstance(core, dict) or not core:
                return None
            return name, {
                "filename": filename,
                "url": link["url"] + METADATA_SUFFIX,
                "hashes": core,
                "version": link.get("version"),
            }
    return None


def _candidates(filename: str) -> list[str]:
    """Every project name a distribution file name can start with."""
    names = {normalize_name(filename[:i]) for i, c in enumerate(filename) if c == "-" and i}
    return sorted(names)[:50]


def _likely_project(filename: str) -> str | None:
    if filename.endswith(".whl"):
        return normalize_name(filename.split("-")[0])
    for position, char in enumerate(filename[:-1]):
        if char == "-" and filename[position + 1].isdigit() and position:
            return normalize_name(filename[:position])
    return None


def _file_meta(project: str, link: dict[str, Any], stored: datetime | None) -> Any:
    data: dict[str, Any] = {
        "last_modified": format_datetime(
            (stored or datetime.now(UTC)).astimezone(UTC), usegmt=True
        ),
        "project": project,
        "version": link.get("version"),
        "url": safe_url(link["url"]),
    }
    found = verifying_hash(link.get("hashes") or {})
    if found is not None:
        data["hash_spec"] = f"{found[0]}={found[1]}"
        data["hashes"] = dict(link["hashes"])
    return result("releasefilemeta", data)


def _forget_row(app: Any, row_id: int) -> None:
    with app.database.writing(counts_as_change=False) as uow:
        uow.session.execute(delete(MirrorFile).where(MirrorFile.id == row_id))
