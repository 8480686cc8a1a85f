"""The plain values the read facade answers: users, versions and stored files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..indexes.registry import IndexInfo


@dataclass(frozen=True)
class UserInfo:
    name: str
    title: str
    description: str
    # The user's indexes, by name.
    indexes: tuple[IndexInfo, ...]


@dataclass(frozen=True)
class VersionInfo:
    """One version as seen through an index: the first stage of the resolution order that has
    it answers, later stages that have it too are ``shadowed``."""

    version: str
    # Full name of the index the data comes from.
    stage: str
    # devpi's versiondata: core metadata, ``name``, ``version`` and ``+links`` (each with
    # ``rel``, ``href`` below the server root, ``hashes``, ``log``, and ``for_href`` for tox
    # results).
    data: dict[str, Any]
    shadowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredFile:
    """What the server records about a file stored in an index (mirrored files that were never
    fetched have none)."""

    index: str
    filename: str
    rel: str
    sha256: str
    size: int
    upload_time: datetime | None
    uploader: str | None
    download_count: int
    yanked: bool
