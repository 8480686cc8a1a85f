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
    """The version a project is best described by: the newest stable one, else the newest.

    One pass that keeps only the two best so far: the search indexer streams a project's
    versions (thousands for some) through it. Among equal versions ("1.0", "1.0.0") the first
    one seen wins.
    """
    newest = newest_stable = None
    newest_key = stable_key = None
    for version in versions:
        key = sort_key(version)
        if newest_key is None or key > newest_key:
            newest, newest_key = version, key
        stable = key[0] == 0 or not key[1].is_prerelease
        if stable and (stable_key is None or key > stable_key):
            newest_stable, stable_key = version, key
    return newest_stable if newest_stable is not None else newest
