"""What the pages show, read through the server's plugin API: its ``ShelfReader`` over the
indexes, inheritance, versions and the stored files' records."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from pyshelf_server.plugin_api import IndexInfo, StoredFile, UserInfo, reader

from .versions import latest, newest_first

log = logging.getLogger(__name__)

MAX_TOXRESULT_BYTES = 1024 * 1024


def users_with_indexes(request: Any) -> list[UserInfo]:
    return reader(request).users()


def stage_order(request: Any, index: IndexInfo) -> tuple[list[IndexInfo], list[IndexInfo]]:
    """(hosted stages, mirrors) of the index's resolution order."""
    order = reader(request).resolution_order(index)
    return [s for s in order if not s.is_mirror], [s for s in order if s.is_mirror]


def index_projects(request: Any, index: IndexInfo) -> list[tuple[str, str]]:
    """(project, stage it comes from) for the index's own and inherited hosted projects.

    Mirrors are left out on purpose: their list has hundreds of thousands of names, and a page
    listing them helps nobody (the page shows the mirror's settings instead).
    """
    return reader(request).projects(index)


@dataclass
class VersionEntry:
    version: str
    stage: str
    data: dict[str, Any]
    shadowed: list[str] = field(default_factory=list)

    @property
    def release_links(self) -> list[dict[str, Any]]:
        return [link for link in self.data.get("+links", []) if link.get("rel") == "releasefile"]

    @property
    def yanked(self) -> bool:
        links = self.release_links
        return bool(links) and all(link.get("yanked") for link in links)

    @property
    def doczip(self) -> dict[str, Any] | None:
        for link in self.data.get("+links", []):
            if link.get("rel") == "doczip":
                return link
        return None


def project_versions(request: Any, index: IndexInfo, project: str) -> list[VersionEntry] | None:
    """Every version visible through ``index``, newest first, with the stage each comes from."""
    versions = reader(request).versions(index, project)
    if versions is None:
        return None
    found = {
        v.version: VersionEntry(v.version, v.stage, v.data, list(v.shadowed)) for v in versions
    }
    return [found[v] for v in newest_first(found)]


def resolve_version(entries: list[VersionEntry], version: str) -> VersionEntry | None:
    """A version by name, or ``latest``/``stable`` among the versions that have docs."""
    if version in ("latest", "stable"):
        with_docs = [e.version for e in entries if e.doczip]
        chosen = latest(with_docs, stable=version == "stable") or (
            latest(with_docs) if version == "stable" else None
        )
        version = chosen or ""
    for entry in entries:
        if entry.version == version:
            return entry
    return None


def file_rows(request: Any, links: list[dict[str, Any]]) -> dict[str, StoredFile]:
    """The stored files' records behind versiondata links, by href (mirrored files may have
    none)."""
    return reader(request).stored_files(link.get("href", "") for link in links)


def download_total(request: Any, entries: list[VersionEntry]) -> int:
    """Downloads of the entries' files, hosted and mirrored alike."""
    links = [link for entry in entries for link in entry.release_links]
    return sum(reader(request).download_counts(link.get("href", "") for link in links).values())


@dataclass
class ToxResult:
    filename: str
    href: str
    host: str = ""
    platform: str = ""
    envs: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""


def toxresults(request: Any, data: dict[str, Any], release_href: str) -> list[ToxResult]:
    """The tox results uploaded for one release file, read defensively (they are user input)."""
    found = []
    for link in data.get("+links", []):
        if link.get("rel") != "toxresult" or link.get("for_href") != release_href:
            continue
        result = ToxResult(filename=link["href"].rsplit("/", 1)[-1], href=link["href"])
        sha = (link.get("hashes") or {}).get("sha256", "")
        try:
            with reader(request).open_file(sha) as source:
                raw = json.loads(source.read(MAX_TOXRESULT_BYTES))
            _read_toxresult(raw, result)
        except (OSError, ValueError, TypeError, AttributeError) as error:
            result.error = f"unreadable tox result ({type(error).__name__})"
        found.append(result)
    return found


def _read_toxresult(raw: Any, result: ToxResult) -> None:
    result.host = str(raw.get("host", ""))
    result.platform = str(raw.get("platform", ""))
    for name, env in sorted((raw.get("testenvs") or {}).items()):
        if not isinstance(env, dict):
            continue
        python = env.get("python") or {}
        setup = env.get("setup") or []
        tests = env.get("test") or []
        failed_setup = any(
            isinstance(c, dict) and c.get("retcode") not in (0, "0", None) for c in setup
        )
        failed_test = any(
            isinstance(c, dict) and c.get("retcode") not in (0, "0", None) for c in tests
        )
        result.envs.append(
            {
                "name": str(name),
                "python": str(python.get("version", "")).split(" ")[0]
                if isinstance(python, dict)
                else "",
                "status": "failed"
                if failed_setup or failed_test
                else ("passed" if tests else "no tests"),
            }
        )


def storage_used(request: Any) -> dict[str, int]:
    """Bytes of stored files (each blob once), of unpacked docs and of the search index."""
    web = request.registry.pyshelf_web
    return {
        "files": reader(request).stored_bytes(),
        "docs": web.docs.size(),
        "search": sum(p.stat().st_size for p in web.search.directory.glob("*") if p.is_file()),
    }
