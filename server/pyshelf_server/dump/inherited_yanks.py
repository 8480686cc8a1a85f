"""A stage's yanks of releases it only inherits (``lifecycle.models.InheritedYank``) in a dump:
a list in the index's entry of ``dataindex.json`` under ``pyshelf`` (devpi ignores the key)::

    "pyshelf": {"inherited_yanks": [
        {"project": "six", "version": "1.16.0", "filename": "", "reason": "CVE-…",
         "who": "alice", "created": "2026-01-02T03:04:05+00:00"}]}

``filename`` "" yanks every file of the version. A yank naming a project or version that no
base holds after the import is kept all the same: the base is often a mirror, which fetches
the release again when it is asked for it, and the stage's yank must then apply as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..accounts.services import iso
from ..indexes.models import Index
from ..lifecycle.models import InheritedYank
from ..limits import (
    MAX_DESCRIPTION_LENGTH,
    MAX_FILENAME_LENGTH,
    MAX_NAME_LENGTH,
    MAX_VERSION_LENGTH,
)
from ..names import normalize_name

KEY = "inherited_yanks"


@dataclass(frozen=True)
class YankRecord:
    project: str
    version: str
    filename: str
    reason: str | None
    who: str | None
    created: datetime | None


def exported(session: Session, index: Index) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(InheritedYank).where(InheritedYank.index_id == index.id).order_by(InheritedYank.id)
    )
    return [
        {
            "project": row.project,
            "version": row.version,
            "filename": row.filename,
            "reason": row.reason,
            "who": row.who,
            "created": iso(row.created),
        }
        for row in rows
    ]


class MalformedYanks(ValueError):
    """The dump's inherited yanks of an index are not what an export writes; says why."""


def read(facts: dict[str, Any]) -> list[YankRecord]:
    """The inherited yanks of an index's ``pyshelf`` facts, checked; [] when there are none (a
    devpi dump, or an export from before they were kept)."""
    records = facts.get(KEY)
    if records is None:
        return []
    if not isinstance(records, list):
        raise MalformedYanks(f'"pyshelf"."{KEY}" must be a list')
    seen: set[tuple[str, str, str]] = set()
    yanks = []
    for number, record in enumerate(records, 1):
        try:
            yank = _record(record)
        except MalformedYanks as error:
            raise MalformedYanks(f"inherited yank {number}: {error}") from None
        key = (yank.project, yank.version, yank.filename)
        if key in seen:
            raise MalformedYanks(
                f"inherited yank {number}: {yank.project} {yank.version} "
                f"{yank.filename or '(every file)'} is listed twice"
            )
        seen.add(key)
        yanks.append(yank)
    return yanks


def _record(record: Any) -> YankRecord:
    if not isinstance(record, dict):
        raise MalformedYanks("must be an object")
    unknown = set(record) - {"project", "version", "filename", "reason", "who", "created"}
    if unknown:
        raise MalformedYanks(f"unknown keys {', '.join(sorted(unknown))}")
    project = _text(record, "project", MAX_NAME_LENGTH, required=True)
    version = _text(record, "version", MAX_VERSION_LENGTH, required=True)
    filename = _text(record, "filename", MAX_FILENAME_LENGTH) or ""
    if "/" in filename or "\\" in filename:
        raise MalformedYanks('"filename" must be a file name')
    created = _text(record, "created", 64)
    when = None
    if created is not None:
        try:
            when = datetime.fromisoformat(created)
        except ValueError:
            raise MalformedYanks(f'"created" is not an ISO date: {created!r}') from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    return YankRecord(
        project=normalize_name(project or ""),
        version=version or "",
        filename=filename,
        reason=_text(record, "reason", MAX_DESCRIPTION_LENGTH) or None,
        who=_text(record, "who", MAX_NAME_LENGTH),
        created=when,
    )


def _text(record: dict[str, Any], key: str, limit: int, *, required: bool = False) -> str | None:
    value = record.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise MalformedYanks(f'"{key}" must be a {"non-empty " if required else ""}string')
    if len(value) > limit:
        raise MalformedYanks(f'"{key}" may be at most {limit} characters')
    return value


def restore(session: Session, index: Index, yanks: list[YankRecord]) -> None:
    for yank in yanks:
        row = InheritedYank(
            index_id=index.id, project=yank.project, version=yank.version,
            filename=yank.filename, reason=yank.reason, who=yank.who,
        )
        if yank.created is not None:
            row.created = yank.created
        session.add(row)
