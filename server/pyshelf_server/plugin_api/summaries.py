"""Project summaries: one chosen version of a project of one index, as a search entry
describes it (``ShelfReader.project_summary``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..indexes.registry import IndexInfo
from ..packages.models import File, Project, Version


@dataclass(frozen=True)
class ProjectSummary:
    """A project of one index (its own versions, not inherited ones), as a search entry
    describes it: one chosen version's data and where its docs are."""

    stage: str
    name: str
    # The chosen version and its versiondata (``name`` is the name as uploaded).
    version: str
    data: dict[str, Any]
    # sha256 of the first docs zip of each version that has one.
    doc_zips: dict[str, str]


def hosted_summary(
    session: Session,
    stage: IndexInfo,
    project: str,
    choose: Callable[[Iterable[str]], str | None],
) -> ProjectSummary | None:
    row = session.execute(
        select(Project.id, Project.display_name).where(
            Project.index_id == stage.id, Project.name == project
        )
    ).first()
    if row is None:
        return None
    project_id, display_name = row
    # Streamed in id order, as the backend's versions are ordered.
    chosen = choose(
        session.execute(
            select(Version.version)
            .where(Version.project_id == project_id)
            .order_by(Version.id)
            .execution_options(yield_per=500)
        ).scalars()
    )
    if chosen is None:
        return None
    meta = session.execute(
        select(Version.meta).where(Version.project_id == project_id, Version.version == chosen)
    ).scalar_one()
    data = dict(meta or {})
    data["name"] = data.get("name") or display_name
    data["version"] = chosen
    # Few versions have docs: only theirs are read, the first zip of each as in ``+links``.
    zips: dict[str, str] = {}
    for version, sha256 in session.execute(
        select(Version.version, File.sha256)
        .join(File, File.version_id == Version.id)
        .where(Version.project_id == project_id, File.rel == "doczip")
        .order_by(Version.id, File.id)
    ):
        if sha256:
            zips.setdefault(version, sha256)
    return ProjectSummary(stage.fullname, project, chosen, data, zips)


def summary_from_versions(
    stage: IndexInfo,
    project: str,
    versions: dict[str, dict[str, Any]],
    choose: Callable[[Iterable[str]], str | None],
) -> ProjectSummary | None:
    if not versions:
        return None
    chosen = choose(list(versions)) or next(iter(versions))
    zips: dict[str, str] = {}
    for version, data in versions.items():
        for link in data.get("+links", []):
            sha256 = (link.get("hashes") or {}).get("sha256")
            if link.get("rel") == "doczip" and sha256:
                zips.setdefault(version, sha256)
    return ProjectSummary(stage.fullname, project, chosen, dict(versions[chosen]), zips)
