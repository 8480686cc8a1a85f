"""Names: normalisation of project names and the rules for user, index and project names."""

from __future__ import annotations

import re
import string

from .limits import MAX_FILENAME_LENGTH, MAX_NAME_LENGTH, MAX_VERSION_LENGTH

_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")
# devpi blocks every ASCII punctuation character except "-", ".", "@" and "_".
_BLOCKED = set(string.punctuation) - set("-.@_")
_PROJECT_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_VERSION_FORBIDDEN = set('<>%#"')


def normalize_name(name: str) -> str:
    """devpi's normalisation: every run of non-alphanumerics becomes "-", then lower case.

    It folds more than PEP 503 (which only folds "-_."), and is what devpi uses for URLs and
    storage; for every name a valid distribution can have, the two agree.
    """
    return _NON_ALNUM.sub("-", name).lower()


def user_or_index_name_error(name: str) -> str | None:
    """Why ``name`` is not acceptable as a user or index name, or None."""
    if not name:
        return "name must not be empty"
    if len(name) > MAX_NAME_LENGTH:
        return "name is too long"
    # "_": the host-wide trusted publishing routes (/_/oidc/…) live under it.
    if name in (".", "..", "_") or name.startswith("+"):
        return f"name {name!r} is reserved"
    for char in name:
        if char in _BLOCKED or char.isspace() or ord(char) < 32 or ord(char) == 127:
            return f"name {name!r} contains characters that aren't allowed"
    return None


def project_name_error(name: str) -> str | None:
    if not name or not _PROJECT_NAME.match(name) or len(name) > MAX_NAME_LENGTH:
        return f"invalid project name {name!r}"
    return None


def version_error(version: str) -> str | None:
    if not version or len(version) > MAX_VERSION_LENGTH:
        return f"invalid version {version!r}"
    if any(c in _VERSION_FORBIDDEN for c in version):
        return f"invalid version {version!r}"
    if version.strip() != version or "/" in version or "\\" in version:
        return f"invalid version {version!r}"
    if any(ord(c) < 32 or ord(c) == 127 for c in version):
        return f"invalid version {version!r}"
    return None


def filename_error(filename: str) -> str | None:
    """Refuse anything that could escape a directory or confuse a URL."""
    if (
        not filename
        or len(filename) > MAX_FILENAME_LENGTH
        or "/" in filename
        or "\\" in filename
        or filename in (".", "..")
        or filename.startswith(".")
        or any(ord(c) < 32 or ord(c) == 127 for c in filename)
        or any(c in '<>%#"?*:|' for c in filename)
    ):
        return f"invalid filename {filename!r}"
    return None
