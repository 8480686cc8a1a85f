"""Core metadata: reading it from files (pkginfo) and shaping it as devpi's versiondata."""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pkginfo

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


class MetadataTooLarge(MetadataError):
    """The archive's metadata file is larger than any real one; reading it could cost
    gigabytes of memory (a 200 KB gzip can hold 200 MB of PKG-INFO)."""


_METADATA_NAMES = ("PKG-INFO", "METADATA")


def check_metadata_sizes(path: Path, filename: str) -> None:
    """Refuse an archive whose metadata files are larger than ``MAX_METADATA_BYTES`` before
    anything reads them whole. Sizes are the archive's own: a zip member is never decompressed
    past its declared size, and a tar member's size is exact. Unreadable archives pass: the
    metadata reader reports those."""
    sizes: list[tuple[str, int]] = []
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                sizes = [(member.filename, member.file_size) for member in archive.infolist()]
        elif filename.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")):
            with tarfile.open(path) as archive:
                for member in archive:
                    sizes.append((member.name, member.size))
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, ValueError):
        return
    for name, size in sizes:
        if name.rsplit("/", 1)[-1] in _METADATA_NAMES and size > MAX_METADATA_BYTES:
            raise MetadataTooLarge(
                f"{filename}: {name} is larger than the allowed {MAX_METADATA_BYTES} bytes"
            )


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


def from_file(path: Path, filename: str, scratch_dir: Path) -> dict[str, Any]:
    """Metadata read from a wheel or sdist; raises MetadataError if the file is not one."""
    if filename.endswith(".whl"):
        reader: Any = pkginfo.Wheel
    elif filename.endswith((".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz", ".tar")):
        reader = pkginfo.SDist
    else:
        return {}
    check_metadata_sizes(path, filename)
    # pkginfo decides the archive format by the file name's extension, and blobs are stored
    # under their hash: give it a hard link with the real name.
    with tempfile.TemporaryDirectory(dir=scratch_dir) as scratch:
        named = Path(scratch) / filename
        os.link(path, named)
        try:
            info = reader(str(named))
        except (ValueError, OSError, zipfile.BadZipFile, EOFError, tarfile.TarError) as error:
            message = str(error).replace(str(named), filename)
            raise MetadataError(f"cannot read metadata of {filename}: {message}") from None
    return _fields(info)


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


def wheel_metadata_file(path: Path) -> bytes | None:
    """The ``*.dist-info/METADATA`` of a wheel (PEP 658), or None."""
    try:
        with zipfile.ZipFile(path) as wheel:
            for member in wheel.infolist():
                parts = member.filename.split("/")
                if (
                    len(parts) == 2
                    and parts[0].endswith(".dist-info")
                    and parts[1] == "METADATA"
                    and member.file_size <= MAX_METADATA_BYTES
                ):
                    return wheel.read(member)
    except (zipfile.BadZipFile, OSError, EOFError):
        return None
    return None


def is_zipfile_bytes(data: bytes) -> bool:
    return zipfile.is_zipfile(io.BytesIO(data))
