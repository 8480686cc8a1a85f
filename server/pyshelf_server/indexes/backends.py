"""What every index type's storage offers to inheritance: the contract between the hosted
stages, the mirror and plugin types on one side and the merged views (simple pages, the JSON
API) on the other."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .registry import IndexInfo


@dataclass(frozen=True)
class Link:
    """One downloadable file as a simple page lists it."""

    filename: str
    # Path below the server root, without a leading slash: "root/dev/+f/117/b344a060b017f/x.whl".
    path: str
    hashes: dict[str, str]
    stage: str
    version: str | None = None
    requires_python: str | None = None
    # False, True, or the reason (PEP 592).
    yanked: bool | str = False
    size: int | None = None
    upload_time: datetime | None = None
    # Hashes of the PEP 658 metadata file, when one is served at ``path + ".metadata"``.
    core_metadata: dict[str, str] | None = None
    # PEP 740: where the file's provenance object is, an absolute URL (a mirror passes
    # upstream's on) or a path below the server root (a hosted file's).
    provenance: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")

    @property
    def hash_fragment(self) -> str:
        for name in ("sha256", *sorted(self.hashes)):
            if name in self.hashes:
                return f"{name}={self.hashes[name]}"
        return ""


class StageBackend(Protocol):
    index: IndexInfo
    # True when the backend answers ``page_entries``: the simple-page entries its files
    # stored when they were written (hosted stages; a mirror renders its links).
    stores_page_entries: bool
    # False when the index never holds files of its own in the hosted table: its file URLs
    # are answered by ``file_response`` alone (a mirror, whose files come from upstream).
    holds_hosted_files: bool

    def project_names(self) -> Iterable[str]:
        """Normalised names of the projects this index has itself."""

    def has_project(self, name: str) -> bool | None:
        """Whether it has ``name``; None when it cannot know without asking (a mirror that
        keeps no project list)."""

    def display_name(self, name: str) -> str | None:
        """The name as first uploaded (or as upstream spells it)."""

    def links(self, name: str) -> list[Link] | None:
        """The release-file links of ``name``; None when the project does not exist here."""

    def versions(self, name: str) -> dict[str, dict[str, Any]] | None:
        """devpi's versiondata of every version of ``name``; ``+links`` hold paths below the
        server root in ``href``. None when the project does not exist here."""

    def page_entries(self, name: str, media_type: str) -> list[Any] | None:
        """Only where ``stores_page_entries``: (filename, version, entry) of each release file
        of ``name`` in upload order, None when the project does not exist here. An entry is
        None where none was stored (files from before migration 0003, or changed since)."""

    def cache_token(self, name: str) -> tuple[str | None, float | None]:
        """(token that changes whenever the project changes here, time until which that token
        may be trusted without asking again, or None for ever)."""
