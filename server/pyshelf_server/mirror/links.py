"""From upstream's links to what the mirror offers: the local URL path of each file, the
version a file belongs to, and the :class:`Link` objects inheritance merges.

A file whose upstream link carries a sha256 lives at ``{user}/{index}/+f/{h[:3]}/{h[3:16]}/{name}``
as devpi lays it out; without a sha256 the first other hash upstream gave is used the same way;
without any hash the file lives at ``{user}/{index}/+e/{digest}/{name}``, the digest being the
first 16 hex digits of the sha256 of its upstream URL.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from ..indexes.backends import Link
from ..limits import MAX_VERSION_LENGTH
from ..names import normalize_name

# Hashes a mirror can check a download against, strongest first.
ALGORITHMS = ("sha256", "sha512", "sha384", "blake2b", "sha224", "sha1", "md5")
ARCHIVE_SUFFIXES = (
    ".tar.gz", ".tar.bz2", ".tar.xz", ".tar.z", ".tgz", ".tbz", ".tbz2", ".txz", ".tar",
    ".zip", ".egg", ".exe", ".msi", ".rpm", ".dmg",
)
METADATA_SUFFIX = ".metadata"


def verifying_hash(hashes: dict[str, str]) -> tuple[str, str] | None:
    """(algorithm, hex digest) to check a download against, or None when upstream gave none
    that hashlib knows."""
    for algorithm in ALGORITHMS:
        if algorithm in hashes:
            return algorithm, hashes[algorithm]
    return None


def url_key(link: dict[str, Any]) -> tuple[str, str, str]:
    """(route segment, first directory, second directory) of a link's local path: ``+f`` with
    the hash split 3/13, or ``+e`` with the URL digest and an empty second part."""
    found = verifying_hash(link.get("hashes") or {})
    if found is not None:
        digest = found[1]
        return "+f", digest[:3], digest[3:16]
    return "+e", hashlib.sha256(link["url"].encode("utf-8")).hexdigest()[:16], ""


def local_path(fullname: str, link: dict[str, Any]) -> str:
    kind, first, second = url_key(link)
    if kind == "+e":
        return f"{fullname}/+e/{first}/{link['filename']}"
    return f"{fullname}/+f/{first}/{second}/{link['filename']}"


def file_key(first: str, second: str) -> str:
    """The ``key`` column of a stored file for the two directories of its URL."""
    return f"{first}{second}" if second else f"e:{first}"


def guess_version(project: str, filename: str) -> str | None:
    """The version in a distribution's file name, as written there; None when it cannot tell,
    or when it is longer than a version can be (``names.MAX_VERSION_LENGTH``, its column's
    length).

    Wheels have a fixed layout; for sdists and older formats the project's own name is
    matched first, because names may themselves contain dashes.
    """
    version = _version_in(project, filename)
    return version if version and len(version) <= MAX_VERSION_LENGTH else None


def _version_in(project: str, filename: str) -> str | None:
    lower = filename.lower()
    if lower.endswith(".whl"):
        parts = filename[:-4].split("-")
        return parts[1] if len(parts) >= 5 else None
    for suffix in ARCHIVE_SUFFIXES:
        if lower.endswith(suffix):
            stem = filename[: -len(suffix)]
            break
    else:
        return None
    if suffix == ".egg":
        parts = stem.split("-")
        return parts[1] if len(parts) > 1 else None
    target = normalize_name(project)
    for position, char in enumerate(stem):
        if char == "-" and normalize_name(stem[:position]) == target:
            return stem[position + 1 :] or None
    if "-" in stem:
        return stem.rsplit("-", 1)[1] or None
    return None


def parse_upload_time(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_link(fullname: str, link: dict[str, Any]) -> Link:
    core = link.get("core_metadata")
    return Link(
        filename=link["filename"],
        path=local_path(fullname, link),
        hashes=dict(link.get("hashes") or {}),
        stage=fullname,
        version=link.get("version"),
        requires_python=link.get("requires_python"),
        yanked=link.get("yanked", False),
        size=link.get("size"),
        upload_time=parse_upload_time(link.get("upload_time")),
        # A metadata file is offered only when its hash is known: it is verified on download
        # like every other file.
        core_metadata=dict(core) if isinstance(core, dict) and core else None,
        provenance=link.get("provenance"),
    )


def version_data(fullname: str, display_name: str, links: list[dict[str, Any]]) -> dict[str, Any]:
    """devpi's versiondata of a mirrored project: name, version, requires_python, yanked and
    ``+links`` of rel ``releasefile`` (paths below the server root)."""
    versions: dict[str, dict[str, Any]] = {}
    for link in links:
        version = link.get("version")
        if not version:
            continue
        data = versions.setdefault(
            version, {"name": display_name, "version": version, "+links": []}
        )
        if link.get("requires_python") and "requires_python" not in data:
            data["requires_python"] = link["requires_python"]
        found = verifying_hash(link.get("hashes") or {})
        entry: dict[str, Any] = {"rel": "releasefile", "href": local_path(fullname, link)}
        if found is not None:
            entry["hash_spec"] = f"{found[0]}={found[1]}"
            entry["hashes"] = dict(link["hashes"])
        if link.get("yanked"):
            entry["yanked"] = link["yanked"]
            data["yanked"] = True
        data["+links"].append(entry)
    for data in versions.values():
        # A version is yanked only when all of its files are.
        if data.get("yanked") and not all(e.get("yanked") for e in data["+links"]):
            del data["yanked"]
    return versions
