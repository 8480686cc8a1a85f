"""Ordering versions the way people expect (PEP 440), with unparseable versions last."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from packaging.version import InvalidVersion, Version


def sort_key(version: str) -> tuple[int, Any]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        # Legacy version strings sort below every valid one, among themselves by text.
        return (0, version)


def newest_first(versions: Iterable[str]) -> list[str]:
    return sorted(versions, key=sort_key, reverse=True)


def is_prerelease(version: str) -> bool:
    try:
        return Version(version).is_prerelease
    except InvalidVersion:
        return False


def latest(versions: Iterable[str], *, stable: bool = False) -> str | None:
    """The newest version; with ``stable``, the newest that is not a pre-release."""
    candidates = [v for v in versions if not (stable and is_prerelease(v))]
    return max(candidates, key=sort_key) if candidates else None


def preferred(versions: Iterable[str]) -> str | None:
    """The version a project is best described by: the newest stable one, else the newest."""
    versions = list(versions)
    return latest(versions, stable=True) or latest(versions)
