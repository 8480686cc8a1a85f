"""Core metadata: reading it from files (pkginfo) and shaping it as devpi's versiondata."""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pkginfo

from .. import limits

LIST_FIELDS = (
    "platform",
    "classifiers",
    "supported_platform",
    "provides",
    "requires",
    "obsoletes",
    "project_urls",
    "provides_dist",
    "obsoletes_dist",
    "requires_dist",
    "requires_external",
    "provides_extras",
    "dynamic",
    "license_file",
)
TEXT_FIELDS = (
    "metadata_version",
    "name",
    "version",
    "summary",
    "home_page",
    "author",
    "author_email",
    "maintainer",
    "maintainer_email",
    "license",
    "license_expression",
    "description",
    "description_content_type",
    "keywords",
    "download_url",
    "requires_python",
)
ALL_FIELDS = TEXT_FIELDS + LIST_FIELDS
# The names some upload tools use for the same fields.
FIELD_ALIASES = {"platforms": "platform", "supported_platforms": "supported_platform"}
MAX_METADATA_BYTES = 5 * 1024 * 1024


class MetadataError(ValueError):
    """The file's metadata cannot be read."""


class ArchiveOverLimit(MetadataError):
    """The archive is over a bound of :mod:`..limits`: reading it would cost memory or time out
    of proportion to any real release file. The upload is refused."""


class MetadataTooLarge(ArchiveOverLimit):
    """The archive's metadata file is larger than any real one; reading it could cost
    gigabytes of memory (a 200 KB gzip can hold 200 MB of PKG-INFO)."""


_METADATA_NAMES = ("PKG-INFO", "METADATA")


def empty_metadata() -> dict[str, Any]:
    data: dict[str, Any] = dict.fromkeys(TEXT_FIELDS, "")
    data.update({key: [] for key in LIST_FIELDS})
    return data


def clean_value(key: str, value: Any) -> Any:
    if key in LIST_FIELDS:
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        return [_text(v) for v in value if v not in (None, "", "UNKNOWN")]
    if value is None or value == "UNKNOWN":
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return _text(value)


def _text(value: Any) -> str:
    # PostgreSQL can't store NUL in text or JSON; no metadata field has a use for it.
    return str(value).replace("\x00", "")


def from_form(fields: dict[str, list[str]]) -> dict[str, Any]:
    """The metadata keys present in an upload form (only those sent)."""
    data: dict[str, Any] = {}
    for raw_key, values in fields.items():
        key = FIELD_ALIASES.get(raw_key, raw_key)
        if key not in ALL_FIELDS:
            continue
        data[key] = clean_value(key, values if key in LIST_FIELDS else values[-1])
    return data


def from_file(source: Path | bytes, filename: str) -> dict[str, Any]:
    """Metadata read from a wheel or sdist (its path, or its bytes when they are at hand);
    raises MetadataError if the file is not one.

    The archive is opened once: its listing gives both the size check and the metadata file,
    which is then parsed by pkginfo."""
    if filename.endswith(".whl"):
        data = wheel_metadata(source, filename)
        if data is None:
            raise MetadataError(f"cannot read metadata of {filename}: no METADATA file")
        return from_metadata_bytes(data)
    if not filename.endswith((".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz", ".tar")):
        return {}
    try:
        data = _sdist_pkg_info(source, filename)
    except (OSError, zipfile.BadZipFile, EOFError, tarfile.TarError, ValueError) as error:
        if isinstance(error, MetadataError):
            raise
        raise MetadataError(f"cannot read metadata of {filename}: {error}") from None
    return from_metadata_bytes(data)


def _archive(source: Path | bytes) -> Path | io.BytesIO:
    return io.BytesIO(source) if isinstance(source, bytes) else source


def _sdist_pkg_info(source: Path | bytes, filename: str) -> bytes:
    """The PKG-INFO pkginfo's own sdist reader would choose: among the members with PKG-INFO
    in their path, the one of fewest path parts (then by name) that holds a Metadata-Version."""
    if zipfile.is_zipfile(_archive(source)):
        with _open_zip(source, filename) as archive:
            members = [(m.filename, m.file_size, m) for m in archive.infolist()]
            _refuse_large_metadata(members, filename)
            return _first_pkg_info(members, filename, lambda m: archive.read(m))
    opened = (
        tarfile.open(fileobj=io.BytesIO(source))
        if isinstance(source, bytes)
        else tarfile.open(source)
    )
    with opened as archive:
        # Listing a compressed tar means reading it through once; the chosen member is
        # usually among the first, so reading it afterwards seeks back only a little.
        members = _tar_files(archive, filename)
        _refuse_large_metadata(members, filename)

        def read(member: tarfile.TarInfo) -> bytes:
            extracted = archive.extractfile(member)
            return extracted.read() if extracted is not None else b""

        return _first_pkg_info(members, filename, read)


def _tar_files(archive: tarfile.TarFile, filename: str) -> list[tuple[str, int, Any]]:
    """(name, size, member) of the tar's regular files, refused over the member and size
    bounds while the headers are read, before the listing (or the decompression) grows."""
    files = []
    for count, member in enumerate(archive, start=1):
        if count > limits.MAX_ARCHIVE_MEMBERS:
            raise ArchiveOverLimit(
                f"{filename} has more than the allowed {limits.MAX_ARCHIVE_MEMBERS} members"
            )
        if member.offset_data + member.size > limits.MAX_TAR_UNPACKED_BYTES:
            raise ArchiveOverLimit(
                f"{filename} unpacks to more than the allowed "
                f"{limits.MAX_TAR_UNPACKED_BYTES} bytes"
            )
        if member.isfile():
            files.append((member.name, member.size, member))
    return files


def _open_zip(source: Path | bytes, filename: str) -> zipfile.ZipFile:
    """The zip, refused over the member bound before its listing is read into memory (the
    count and size of the central directory are in its end record), and after (they may
    lie)."""
    with open(source, "rb") if isinstance(source, Path) else io.BytesIO(source) as stream:
        recorded = _zip_directory_record(stream)
    if recorded is not None:
        entries, directory_bytes = recorded
        if entries > limits.MAX_ARCHIVE_MEMBERS:
            raise ArchiveOverLimit(
                f"{filename} has more than the allowed {limits.MAX_ARCHIVE_MEMBERS} members"
            )
        if directory_bytes > limits.MAX_ZIP_DIRECTORY_BYTES:
            raise ArchiveOverLimit(
                f"{filename} has a listing larger than the allowed "
                f"{limits.MAX_ZIP_DIRECTORY_BYTES} bytes"
            )
    archive = zipfile.ZipFile(_archive(source))
    if len(archive.infolist()) > limits.MAX_ARCHIVE_MEMBERS:
        archive.close()
        raise ArchiveOverLimit(
            f"{filename} has more than the allowed {limits.MAX_ARCHIVE_MEMBERS} members"
        )
    return archive


_END = struct.Struct("<4s4H2LH")
_END_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")


def _zip_directory_record(stream: io.BufferedIOBase | io.BytesIO) -> tuple[int, int] | None:
    """(entries, central directory bytes) from a zip's end record (zip64 included), or None
    when there is none to read; the zip module then says what is wrong."""
    size = stream.seek(0, io.SEEK_END)
    tail_start = max(0, size - _END.size - 0xFFFF)
    stream.seek(tail_start)
    tail = stream.read()
    position = tail.rfind(_END_SIGNATURE)
    if position < 0 or len(tail) - position < _END.size:
        return None
    fields = _END.unpack_from(tail, position)
    entries, directory_bytes = fields[4], fields[5]
    if entries != 0xFFFF and directory_bytes != 0xFFFFFFFF:
        return entries, directory_bytes
    locator_at = tail_start + position - _ZIP64_LOCATOR.size
    if locator_at < 0:
        return None
    stream.seek(locator_at)
    locator = _ZIP64_LOCATOR.unpack(stream.read(_ZIP64_LOCATOR.size))
    if locator[0] != b"PK\x06\x07":
        return None
    stream.seek(locator[2])
    record = stream.read(_ZIP64_END.size)
    if len(record) < _ZIP64_END.size:
        return None
    end64 = _ZIP64_END.unpack(record)
    if end64[0] != b"PK\x06\x06":
        return None
    return end64[7], end64[8]


def _refuse_large_metadata(members: list[tuple[str, int, Any]], filename: str) -> None:
    for name, size, _member in members:
        if name.rsplit("/", 1)[-1] in _METADATA_NAMES and size > MAX_METADATA_BYTES:
            raise MetadataTooLarge(
                f"{filename}: {name} is larger than the allowed {MAX_METADATA_BYTES} bytes"
            )


def _first_pkg_info(
    members: list[tuple[str, int, Any]], filename: str, read: Callable[[Any], bytes]
) -> bytes:
    candidates = sorted(
        (len(name.split("/")), name.split("/"), size, member)
        for name, size, member in members
        if "PKG-INFO" in name
    )
    budget = limits.MAX_METADATA_READ_BYTES
    for _depth, _parts, size, member in candidates:
        if size > MAX_METADATA_BYTES:
            continue
        budget -= size
        if budget < 0:
            break
        data = read(member)
        if b"Metadata-Version" in data:
            return data
    raise MetadataError(f"cannot read metadata of {filename}: no PKG-INFO found in the archive")


def from_metadata_bytes(data: bytes) -> dict[str, Any]:
    """Metadata from the bytes of a METADATA or PKG-INFO file."""
    info = pkginfo.Distribution()
    info.parse(data)
    return _fields(info)


def _fields(info: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in ALL_FIELDS:
        attr = {"platform": "platforms", "supported_platform": "supported_platforms"}.get(key, key)
        value = getattr(info, attr, None)
        if value not in (None, "", (), []):
            data[key] = clean_value(key, value)
    return data


def wheel_metadata(source: Path | bytes, filename: str) -> bytes | None:
    """The ``*.dist-info/METADATA`` of a wheel (PEP 658; its path or its bytes), or None;
    raises MetadataTooLarge when a metadata member of the wheel is larger than any real one."""
    try:
        with _open_zip(source, filename) as wheel:
            members = wheel.infolist()
            _refuse_large_metadata([(m.filename, m.file_size, m) for m in members], filename)
            for member in members:
                parts = member.filename.split("/")
                if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                    return wheel.read(member)
    except (zipfile.BadZipFile, OSError, EOFError):
        return None
    return None


def wheel_metadata_file(path: Path) -> bytes | None:
    """The ``*.dist-info/METADATA`` of a stored wheel, or None (also when it is too large)."""
    try:
        return wheel_metadata(path, path.name)
    except ArchiveOverLimit:
        return None


def is_zipfile_bytes(data: bytes) -> bool:
    return zipfile.is_zipfile(io.BytesIO(data))
