"""Storing uploaded release files, registrations and documentation.

The rules are those of devpi's legacy upload (protocol notes, section 7.2): the file name must
parse as a wheel or sdist of the form's project and version, a re-upload to a non-volatile index
is accepted only when it is byte-identical, and the answer's message travels in the reason
phrase.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from typing import Any

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .. import limits
from ..indexes.models import Index
from ..indexes.registry import IndexInfo
from ..lifecycle.provenance import checked_attestations, provenance_json
from ..names import filename_error, normalize_name, project_name_error, version_error
from ..packages.metadata import (
    ArchiveOverLimit,
    MetadataError,
    from_file,
    from_metadata_bytes,
    wheel_metadata,
)
from ..packages.models import File
from ..packages.services import FileInfo, FileRecord, PackageService, log_entry
from ..responses import APIError
from ..storage.files import BlobStore, StoredBlob
from ..storage.references import require_blobs
from ..unit_of_work import UnitOfWork
from .form import ReceivedFile

RELEASE_SUFFIXES = (".whl", ".tar.gz", ".zip")


@dataclass
class PreparedRelease:
    """A release file stored and read, not yet recorded in the database."""

    name: str
    version: str
    filename: str
    blob: StoredBlob
    metadata_blob: StoredBlob | None
    meta: dict[str, Any]
    # PEP 740 attestations sent with the file, checked against it.
    attestations: list[dict[str, Any]] | None = None


@dataclass
class UploadOutcome:
    file: FileInfo | None
    reason: str = "OK"


def check_release_filename(filename: str, name: str, version: str) -> None:
    error = filename_error(filename)
    if error:
        raise APIError(400, error)
    try:
        if filename.endswith(".whl"):
            file_name, file_version, _build, _tags = parse_wheel_filename(filename)
        elif filename.endswith((".tar.gz", ".zip")):
            file_name, file_version = parse_sdist_filename(filename)
        else:
            raise APIError(400, f"{filename!r} is not a valid archive name")
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        raise APIError(400, f"{filename!r} is not a valid archive name") from None
    if canonicalize_name(file_name) != canonicalize_name(name):
        raise APIError(400, f"filename {filename!r} does not match project name {name!r}")
    try:
        same_version = Version(version) == file_version
    except InvalidVersion:
        escaped = re.sub(r"[^\w\d.]+", "_", version)
        same_version = version in filename or escaped in filename
    if not same_version:
        raise APIError(400, f"filename {filename!r} does not contain version {version!r}")


def check_digests(
    blob: StoredBlob,
    fields: dict[str, list[str]],
    files: BlobStore,
    content: bytes | None = None,
) -> None:
    """Compare the digests the client sent (twine sends sha256 and blake2b) with the file's
    (``content``: its bytes, when they are at hand)."""
    sent_sha256 = _single(fields, "sha256_digest")
    if sent_sha256 and sent_sha256.lower() != blob.sha256:
        raise APIError(400, "sha256_digest does not match the uploaded content")
    others = {
        "md5_digest": lambda: hashlib.md5(usedforsecurity=False),
        "blake2_256_digest": lambda: hashlib.blake2b(digest_size=32),
    }
    for field, make in others.items():
        sent = _single(fields, field)
        if not sent:
            continue
        digest = make()
        if content is not None:
            digest.update(content)
        else:
            with files.open(blob.sha256) as stored:
                for chunk in iter(lambda: stored.read(1024 * 1024), b""):
                    digest.update(chunk)
        if sent.lower() != digest.hexdigest():
            raise APIError(400, f"{field} does not match the uploaded content")


def _single(fields: dict[str, list[str]], key: str) -> str:
    values = fields.get(key) or [""]
    return values[-1].strip() if isinstance(values[-1], str) else ""


class UploadService:
    def __init__(self, packages: PackageService, files: BlobStore) -> None:
        self.packages = packages
        self.files = files

    def register(self, index: Index, name: str, version: str, meta: dict[str, Any]) -> None:
        _check_name_version(name, version)
        project = self.packages.ensure_project(index, name)
        self.packages.ensure_version(project, version, meta, replace=True)

    def store_release(
        self,
        index: Index | IndexInfo,
        prepared: PreparedRelease,
        uploader: str,
        *,
        publisher: dict[str, Any] | None = None,
    ) -> UploadOutcome:
        """Record ``prepared``; ``publisher``: the trusted publisher (and run) whose minted
        token uploads it, kept in the file's log entry."""
        return self._store(
            index=index,
            name=prepared.name,
            version=prepared.version,
            filename=prepared.filename,
            blob=prepared.blob,
            meta=prepared.meta,
            uploader=uploader,
            rel="releasefile",
            metadata_blob=prepared.metadata_blob,
            publisher=publisher,
            provenance=(
                provenance_json(prepared.attestations, uploader)
                if prepared.attestations
                else None
            ),
        )

    def upload_docs(
        self,
        *,
        index: Index,
        name: str,
        version: str | None,
        received: ReceivedFile,
        uploader: str,
    ) -> UploadOutcome:
        error = project_name_error(name)
        if error:
            raise APIError(400, f"invalid metadata: {error}")
        project = self.packages.project(index.id, name)
        if not version:
            if project is None or not project.versions:
                raise APIError(
                    400,
                    f"doczip has no version and {name!r} has no releases to derive one from",
                )
            version = _latest_version([v.version for v in project.versions])
        _check_name_version(name, version)
        blob = self.files.adopt(received.path, sha256=received.sha256, size=received.size)
        self.packages.uow.discard_if_rolled_back(self.files, blob)
        with self.files.open(blob.sha256) as stored:
            is_zip = zipfile.is_zipfile(stored)
        if not is_zip:
            raise APIError(400, "documentation upload must be a zip file")
        display = project.display_name if project else name
        filename = f"{display}-{version}.doc.zip"
        return self._store(
            index=index,
            name=name,
            version=version,
            filename=filename,
            blob=blob,
            meta={},
            uploader=uploader,
            rel="doczip",
        )

    def _store(
        self,
        *,
        index: Index | IndexInfo,
        name: str,
        version: str,
        filename: str,
        blob: StoredBlob,
        meta: dict[str, Any],
        uploader: str,
        rel: str,
        metadata_blob: StoredBlob | None = None,
        publisher: dict[str, Any] | None = None,
        provenance: str | None = None,
    ) -> UploadOutcome:
        existing = self.packages.file_by_name(index.id, filename)
        via = {"publisher": publisher} if publisher else {}
        log = [log_entry("upload", uploader, index.fullname, **via)]
        reason = "OK"
        if existing is not None:
            if existing.sha256 == blob.sha256 and not index.volatile:
                return UploadOutcome(None, "Upload of identical file to non volatile index.")
            if not index.volatile:
                raise APIError(409, f"{filename} already exists in non-volatile index")
            count = sum(1 for e in existing.log or [] if e.get("what") == "overwrite") + 1
            log = [
                *(existing.log or []),
                log_entry("overwrite", uploader, index.fullname, count=count, **via),
            ]
        require_blobs(
            self.files,
            [blob.sha256] + ([metadata_blob.sha256] if metadata_blob else []),
        )
        project = self.packages.ensure_project(index, name)
        version_row = self.packages.ensure_version(project, version, meta)
        row = self.packages.add_file(
            index=index,
            version=version_row,
            filename=filename,
            replacing=existing,
            blob=blob,
            rel=rel,
            uploader=uploader,
            log=log,
            requires_python=(version_row.meta or {}).get("requires_python") or None,
            metadata_blob=metadata_blob,
            provenance=provenance,
        )
        return UploadOutcome(file_info(index, project.name, version, row), reason)


def prepare_release(
    files: BlobStore,
    uow: UnitOfWork,
    *,
    name: str,
    version: str,
    filename: str,
    received: ReceivedFile,
    form_meta: dict[str, Any],
    fields: dict[str, list[str]],
) -> PreparedRelease:
    """Check, store and read the file: everything an upload does without the database, so
    that it happens outside the database's write lock. The received file is moved into the
    store (or removed, when the store holds its content already). The blobs this creates go
    again unless ``uow`` (the request's) commits a row referring to them."""
    _check_name_version(name, version)
    check_release_filename(filename, name, version)
    blob = files.adopt(received.path, sha256=received.sha256, size=received.size)
    received.adopted = True
    uow.discard_if_rolled_back(files, blob)
    check_digests(blob, fields, files, received.content)
    sent_attestations = _single(fields, "attestations")
    attestations = (
        checked_attestations(sent_attestations, filename, blob.sha256)
        if sent_attestations
        else None
    )
    # Read from memory when the upload was small enough to keep there.
    source = (
        received.content if received.content is not None else files.local_path(blob.sha256)
    )
    metadata_blob = None
    if filename.endswith(".whl"):
        try:
            metadata_bytes = wheel_metadata(source, filename)
        except MetadataError as error:
            raise APIError(400, str(error)) from None
        if metadata_bytes is None:
            raise APIError(400, f"{filename!r} is not a valid wheel: no METADATA file")
        file_meta = from_metadata_bytes(metadata_bytes)
        # Derived from the wheel, and extracted again should a crash ever lose it
        # (files_views): it needs no fsync of its own.
        metadata_blob = files.put_bytes(metadata_bytes, durable=False)
        uow.discard_if_rolled_back(files, metadata_blob)
    else:
        try:
            file_meta = from_file(source, filename)
        except MetadataError as error:
            if isinstance(error, ArchiveOverLimit):
                raise APIError(400, str(error)) from None
            file_meta = {}
    requires_python = form_meta.get("requires_python") or file_meta.get("requires_python")
    if requires_python and len(requires_python) > limits.MAX_REQUIRES_PYTHON_LENGTH:
        # Its column's length: PostgreSQL would refuse it where SQLite kept it.
        raise APIError(
            400,
            f"requires_python may be at most {limits.MAX_REQUIRES_PYTHON_LENGTH} characters long",
        )
    meta = {**file_meta, **form_meta}
    meta.pop("name", None)
    meta.pop("version", None)
    return PreparedRelease(name, version, filename, blob, metadata_blob, meta, attestations)


def file_info(
    index: Index | IndexInfo, project: str, version: str, row: File | FileRecord
) -> FileInfo:
    return FileInfo(
        index=index.fullname,
        project=project,
        version=version,
        filename=row.filename,
        sha256=row.sha256,
        size=row.size,
        rel=row.rel,
        uploader=row.uploader,
    )


def _check_name_version(name: str, version: str) -> None:
    error = project_name_error(name) or version_error(version)
    if error:
        raise APIError(400, f"invalid metadata: {error}")


def _latest_version(versions: list[str]) -> str:
    def key(v: str) -> tuple[int, Any]:
        try:
            return (1, Version(v))
        except InvalidVersion:
            return (0, v)

    return max(versions, key=key)


def normalized(name: str) -> str:
    return normalize_name(name)
