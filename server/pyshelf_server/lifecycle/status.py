"""What the age rules hold back, per index, for ``/+status`` and the web plugin.

An index's report covers the files of the stages of its resolution order that the rules hold
back now: hosted files (one query per stage, only files newer than the loosest threshold), and
for a mirror the links of its most recently checked cached pages (a mirror holds about a million
projects upstream; only what has been asked for is known, and only :data:`MIRROR_PAGES` pages
are read). At most :data:`LISTED` files are listed per index, with the count of all found.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..indexes.backends import Link
from ..indexes.inheritance import Inheritance
from ..indexes.registry import IndexInfo
from ..mirror.links import to_link
from ..mirror.models import MirrorProject
from ..packages.models import File, Project, Version
from .age import AgeRule, holding_rule

LISTED = 50
MIRROR_PAGES = 1000


def _newer_than(rules: tuple[AgeRule, ...], now: datetime) -> datetime | None:
    """Files uploaded after this may be held back; None when any upload time may be (a rule
    holding back files of unknown time tells nothing, but hosted files always have one)."""
    thresholds = []
    for rule in rules:
        if rule.max_age is not None:
            thresholds.append(now - timedelta(seconds=rule.max_age))
        if rule.cutoff is not None:
            thresholds.append(rule.cutoff)
    return min(thresholds) if thresholds else None


def _stage_links(session: Session, stage: IndexInfo, since: datetime | None) -> list[Any]:
    """(project, Link) of the stage's files that may be held back."""
    if stage.is_mirror:
        rows = session.execute(
            select(MirrorProject.name, MirrorProject.links)
            .where(MirrorProject.index_id == stage.id)
            .order_by(MirrorProject.checked.desc())
            .limit(MIRROR_PAGES)
        ).all()
        return [(name, to_link(stage.fullname, link)) for name, links in rows for link in links]
    query = (
        select(Project.name, File.filename, File.upload_time)
        .join(Version, Version.id == File.version_id)
        .join(Project, Project.id == Version.project_id)
        .where(File.index_id == stage.id, File.rel == "releasefile")
    )
    if since is not None:
        query = query.where(File.upload_time > since)
    return [
        (name, Link(filename=filename, path="", hashes={}, stage=stage.fullname,
                    upload_time=uploaded))
        for name, filename, uploaded in session.execute(query)
    ]  # fmt: skip


def held_back(session: Session, inheritance: Inheritance) -> dict[str, Any]:
    """Per index with age rules (its own or inherited): the rules, and the files held back."""
    now = inheritance.now()
    indexes = sorted(inheritance.snapshot.by_name.values(), key=lambda i: i.fullname)
    ruled = [(i, rules) for i in indexes if (rules := inheritance.age_rules(i))]
    # Each stage's files are read once, back to the loosest threshold of the indexes using it.
    since: dict[int, datetime | None] = {}
    stages: dict[int, IndexInfo] = {}
    for index, rules in ruled:
        threshold = _newer_than(rules, now)
        for stage in inheritance.resolution_order(index):
            stages[stage.id] = stage
            if stage.id not in since:
                since[stage.id] = threshold
            elif since[stage.id] is not None and threshold is not None:
                since[stage.id] = min(since[stage.id], threshold)  # type: ignore[type-var]
    read = {sid: _stage_links(session, stages[sid], since[sid]) for sid in stages}
    report: dict[str, Any] = {}
    for index, rules in ruled:
        held = []
        for stage in inheritance.resolution_order(index):
            for project, link in read[stage.id]:
                rule = holding_rule(rules, project, link.upload_time, now)
                if rule is not None:
                    held.append({
                        "project": project,
                        "filename": link.filename,
                        "stage": stage.fullname,
                        "upload_time": _iso(link.upload_time),
                        "held_by": rule.describe(),
                        "visible_from": _visible_from(rule, link.upload_time),
                    })  # fmt: skip
        report[index.fullname] = {
            "rules": [rule.describe() for rule in rules],
            "count": len(held),
            "files": sorted(held, key=lambda h: (h["project"], h["filename"]))[:LISTED],
        }
    return report


def _iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(UTC).isoformat() if when.tzinfo else when.isoformat() + "Z"


def _visible_from(rule: AgeRule, uploaded: datetime | None) -> str | None:
    """When the file comes of age under ``rule``; None when it never does by itself (unknown
    upload time, or after the cut-off)."""
    if uploaded is None or rule.max_age is None:
        return None
    if rule.cutoff is not None and uploaded.replace(tzinfo=uploaded.tzinfo or UTC) > rule.cutoff:
        return None
    return _iso(uploaded + timedelta(seconds=rule.max_age))
