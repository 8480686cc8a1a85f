"""What the pages show, read through the core's interfaces: the index snapshot, inheritance and
each index type's ``StageBackend``, plus the few file facts only the ``files`` table has
(download counts, uploader, tox results)."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, tuple_

from pyshelf_server.accounts.models import User
from pyshelf_server.indexes.registry import IndexInfo
from pyshelf_server.packages.models import File

from .versions import latest, newest_first

log = logging.getLogger(__name__)

MAX_TOXRESULT_BYTES = 1024 * 1024


@dataclass
class UserEntry:
    name: str
    title: str
    description: str
    indexes: list[IndexInfo]


def users_with_indexes(request: Any, only: str | None = None) -> list[UserEntry]:
    query = select(User.name, User.title, User.description).order_by(User.name)
    if only is not None:
        query = query.where(User.name == only)
    by_user: dict[str, list[IndexInfo]] = defaultdict(list)
    for info in request.shelf.snapshot.by_name.values():
        by_user[info.user].append(info)
    return [
        UserEntry(name, title or "", description or "", sorted(by_user[name], key=lambda i: i.name))
        for name, title, description in request.db.execute(query)
    ]


def stage_order(request: Any, index: IndexInfo) -> tuple[list[IndexInfo], list[IndexInfo]]:
    """(hosted stages, mirrors) of the index's resolution order."""
    order = request.shelf.inheritance.resolution_order(index)
    return [s for s in order if not s.is_mirror], [s for s in order if s.is_mirror]


def index_projects(request: Any, index: IndexInfo) -> list[tuple[str, str]]:
    """(project, stage it comes from) for the index's own and inherited hosted projects.

    Mirrors are left out on purpose: their list has hundreds of thousands of names, and a page
    listing them helps nobody (the page shows the mirror's settings instead).
    """
    shelf = request.shelf
    index_type = shelf.type_for(index)
    seen: dict[str, str] = {}
    for stage in stage_order(request, index)[0]:
        names = index_type.filter_projects(index, shelf.backend(stage).project_names())
        for name in names:
            seen.setdefault(name, stage.fullname)
    return sorted(seen.items())


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
    """Every version visible through ``index``, newest first, with the stage each comes from.

    The same merge as the core's ``Inheritance.versions`` (first stage wins, later ones shadow),
    keeping which stage answered, which the JSON does not say.
    """
    shelf = request.shelf
    found: dict[str, VersionEntry] = {}
    any_stage = False
    for backend in shelf.inheritance.stages_for(index, project):
        versions = backend.versions(project)
        if versions is None:
            continue
        any_stage = True
        for version, data in versions.items():
            if version in found:
                found[version].shadowed.append(backend.index.fullname)
            else:
                found[version] = VersionEntry(version, backend.index.fullname, data)
    if not any_stage:
        return None
    allowed = set(shelf.type_for(index).filter_versions(index, project, list(found)))
    return [found[v] for v in newest_first(found) if v in allowed]


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


def _stage_of(href: str) -> str:
    return "/".join(href.split("/", 2)[:2])


def file_rows(request: Any, links: list[dict[str, Any]]) -> dict[str, File]:
    """The ``files`` rows behind versiondata links, by href (mirrored files may have none)."""
    snapshot = request.shelf.snapshot
    wanted = []
    for link in links:
        info = snapshot.get(_stage_of(link.get("href", "")))
        if info is not None:
            wanted.append((info.id, link["href"].rsplit("/", 1)[-1]))
    if not wanted:
        return {}
    rows = request.db.execute(
        select(File).where(tuple_(File.index_id, File.filename).in_(wanted))
    ).scalars()
    by_key = {(row.index_id, row.filename): row for row in rows}
    found = {}
    for link in links:
        info = snapshot.get(_stage_of(link.get("href", "")))
        if info is not None:
            row = by_key.get((info.id, link["href"].rsplit("/", 1)[-1]))
            if row is not None:
                found[link["href"]] = row
    return found


def download_total(request: Any, entries: list[VersionEntry]) -> int:
    links = [link for entry in entries for link in entry.release_links]
    return sum(row.download_count or 0 for row in file_rows(request, links).values())


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
            path = request.registry.pyshelf.files.path(sha)
            with open(path, "rb") as source:
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
    # A blob is stored once however many indexes hold it: count each sha256 once.
    sizes = select(File.sha256, func.max(File.size).label("size")).group_by(File.sha256).subquery()
    blobs = request.db.execute(select(func.coalesce(func.sum(sizes.c.size), 0))).scalar_one()
    web = request.registry.pyshelf_web
    return {
        "files": int(blobs),
        "docs": web.docs.size(),
        "search": sum(p.stat().st_size for p in web.search.directory.glob("*") if p.is_file()),
    }
