"""When each version of a stage was created, in a dump: the retention rule
``drop_prereleases_after`` counts from it, so a restored server must not restart the count.
An object in the index's entry of ``dataindex.json`` under ``pyshelf`` (devpi ignores the
key), by normalised project name and version::

    "pyshelf": {"versions_created": {"tool-kit": {"2.0": "2026-01-02T03:04:05Z"}}}

A dump without it (devpi's) leaves the versions created at the import.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..accounts.services import iso
from ..indexes.models import Index
from ..limits import MAX_NAME_LENGTH, MAX_VERSION_LENGTH
from ..names import normalize_name
from ..packages.models import Project, Version

KEY = "versions_created"

Dates = dict[tuple[str, str], datetime]


class MalformedDates(ValueError):
    """The dump's version dates of an index are not what an export writes; says why."""


def exported(session: Session, index: Index) -> dict[str, dict[str, str | None]]:
    dates: dict[str, dict[str, str | None]] = defaultdict(dict)
    for project, version, created in session.execute(
        select(Project.name, Version.version, Version.created)
        .join(Project, Version.project_id == Project.id)
        .where(Project.index_id == index.id)
        .order_by(Project.name, Version.id)
    ):
        dates[project][version] = iso(created)
    return dict(dates)


def read(facts: dict[str, Any]) -> Dates:
    """The version dates of an index's ``pyshelf`` facts, checked; {} when there are none."""
    projects = facts.get(KEY)
    if projects is None:
        return {}
    if not isinstance(projects, dict):
        raise MalformedDates(f'"pyshelf"."{KEY}" must be an object')
    dates: Dates = {}
    for project, versions in projects.items():
        if not project or len(project) > MAX_NAME_LENGTH or not isinstance(versions, dict):
            raise MalformedDates(
                f'"{KEY}": {project[:MAX_NAME_LENGTH]!r} must be a project name (at most '
                f"{MAX_NAME_LENGTH} characters) with an object of its versions"
            )
        for version, created in versions.items():
            if not version or len(version) > MAX_VERSION_LENGTH:
                raise MalformedDates(f'"{KEY}": {project}: {version[:MAX_VERSION_LENGTH]!r} is '
                                     f"not a version (at most {MAX_VERSION_LENGTH} characters)")
            if created is None:
                continue
            try:
                when = datetime.fromisoformat(created)
            except (TypeError, ValueError):
                raise MalformedDates(
                    f'"{KEY}": {project} {version}: {created!r} is not an ISO date'
                ) from None
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            dates[(normalize_name(project), version)] = when
    return dates


def restore(session: Session, index: Index, dates: Dates) -> None:
    if not dates:
        return
    ids = {
        (project, version): version_id
        for version_id, project, version in session.execute(
            select(Version.id, Project.name, Version.version)
            .join(Project, Version.project_id == Project.id)
            .where(Project.index_id == index.id)
        )
    }
    unknown = sorted(set(dates) - set(ids))
    if unknown:
        project, version = unknown[0]
        raise MalformedDates(f'"{KEY}" names {project} {version}, which the dump does not hold')
    session.execute(
        update(Version), [{"id": ids[key], "created": when} for key, when in dates.items()]
    )
