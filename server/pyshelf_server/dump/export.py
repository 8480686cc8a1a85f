"""``pyshelf-export DIR``: the server's users, indexes, projects, versions and files, as one
consistent snapshot, in devpi's dump layout (dump version 2)::

    DIR/dataindex.json
    DIR/<user>/<index>/<project>/<version>/<file>                    release files
    DIR/<user>/<index>/<project>/sha256=<hash>/<release>.toxresult…   tox results
    DIR/<user>/<index>/<project>-<version>.doc.zip                    documentation

The rows are read in one read transaction (a snapshot on SQLite; REPEATABLE READ on
PostgreSQL), so a server may go on serving meanwhile. Stored files never change (they are named
by their hash); one deleted after the snapshot and removed from the store before it was copied
is left out and named in the report.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import __version__
from ..accounts.models import User
from ..accounts.services import user_json
from ..indexes.models import Index
from ..packages.models import File, Project, Version
from ..storage.files import CHUNK, BlobStore, FileStore
from . import inherited_yanks, version_dates

DUMP_VERSION = "2"


@dataclass
class ExportReport:
    users: int = 0
    indexes: int = 0
    files: int = 0
    bytes: int = 0
    # Files deleted while the export ran (their content was gone before it was copied).
    missing: list[str] = field(default_factory=list)


def http_date(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def snapshot_session(sessions: Any) -> Session:
    session = sessions()
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    return session


def index_config(index: Index, bases: list[str], is_mirror: bool) -> dict[str, Any]:
    config: dict[str, Any] = {"type": index.type, "volatile": index.volatile}
    if not is_mirror:
        config["bases"] = bases
    config.update(index.options or {})
    return config


def export(
    session: Session, files: BlobStore, target: Path, *, mirror_types: set[str],
    include_mirrors: bool = False,
) -> ExportReport:
    """Write the dump of everything ``session`` sees into ``target`` (new or empty)."""
    if target.exists() and any(target.iterdir()):
        raise ValueError(f"{target} is not empty; export into a new or empty directory")
    target.mkdir(parents=True, exist_ok=True)
    report = ExportReport()
    users = {}
    for user in session.scalars(select(User).order_by(User.name)):
        record = user_json(user)
        record["pwhash"] = user.password_hash
        users[user.name] = record
    report.users = len(users)
    indexes: dict[str, Any] = {}
    all_indexes = session.scalars(select(Index).order_by(Index.id)).unique().all()
    for index in all_indexes:
        is_mirror = index.type in mirror_types
        bases = [link.base.fullname for link in index.base_links]
        entry: dict[str, Any] = {"indexconfig": index_config(index, bases, is_mirror)}
        indexes[index.fullname] = entry
        if is_mirror:
            if include_mirrors:
                entry.update(_mirror_contents(session, index, files, target, report))
            continue
        entry.update(_stage_contents(session, index, files, target, report))
        entry["pyshelf"] = {
            inherited_yanks.KEY: inherited_yanks.exported(session, index),
            version_dates.KEY: version_dates.exported(session, index),
        }
    report.indexes = len(indexes)
    data = {
        "dumpversion": DUMP_VERSION,
        "pythonversion": list(sys.version_info),
        "pyshelf_server": __version__,
        "users": users,
        "indexes": indexes,
    }
    (target / "dataindex.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return report


def _copy(files: BlobStore, sha256: str, destination: Path, report: ExportReport) -> bool:
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        if isinstance(files, FileStore):
            try:
                # A hard link when the dump is on the store's file system: blobs never change.
                os.link(files.path(sha256), destination)
            except FileNotFoundError:
                raise
            except OSError:
                shutil.copyfile(files.path(sha256), destination)
        else:
            with files.open(sha256) as source, open(destination, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
    except FileNotFoundError:
        return False
    report.files += 1
    report.bytes += destination.stat().st_size
    return True


def _stage_contents(
    session: Session, index: Index, files: BlobStore, target: Path, report: ExportReport
) -> dict[str, Any]:
    projects: dict[str, dict[str, Any]] = defaultdict(dict)
    descriptors: list[dict[str, Any]] = []
    rows = session.execute(
        select(Project, Version)
        .join(Version, Version.project_id == Project.id, isouter=True)
        .where(Project.index_id == index.id)
        .order_by(Project.name, Version.id)
    ).all()
    for project, version in rows:
        # Keyed by the name as uploaded, which a project without versions (kept too) has
        # nowhere else.
        versions = projects.setdefault(project.display_name, {})
        if version is not None:
            meta = dict(version.meta or {})
            meta["name"] = meta.get("name") or project.display_name
            meta["version"] = version.version
            versions[version.version] = meta
    file_rows = session.execute(
        select(File, Version.version, Project.display_name)
        .join(Version, File.version_id == Version.id)
        .join(Project, Version.project_id == Project.id)
        .where(File.index_id == index.id)
        .order_by(File.id)
    ).all()
    paths: dict[int, str] = {}
    releases = [row for row in file_rows if row[0].rel == "releasefile"]
    others = [row for row in file_rows if row[0].rel != "releasefile"]
    for row, version, display in releases + others:
        base = f"{index.fullname}/{display}"
        descriptor: dict[str, Any] = {
            "type": row.rel, "projectname": display, "version": version,
        }
        if row.rel == "doczip":
            relpath = f"{index.fullname}/{display}-{version}.doc.zip"
        elif row.rel == "toxresult":
            release_path = paths.get(row.for_file_id or -1)
            if release_path is None:
                continue
            release = next(r for r, _v, _d in releases if r.id == row.for_file_id)
            relpath = f"{base}/sha256={release.sha256}/{row.filename}"
            descriptor["for_entrypath"] = release_path
        else:
            relpath = f"{base}/{version}/{row.filename}"
        if not _copy(files, row.sha256, target / relpath, report):
            report.missing.append(f"{index.fullname}/{row.filename}")
            continue
        paths[row.id] = relpath
        descriptor["relpath"] = relpath
        descriptor["entrymapping"] = {
            "hash_spec": f"sha256={row.sha256}",
            "hashes": {"sha256": row.sha256},
            "last_modified": http_date(row.upload_time),
            "pyshelf": {
                "filename": row.filename,
                "yanked": row.yanked,
                "yanked_reason": row.yanked_reason,
                "uploader": row.uploader,
                "upload_time": row.upload_time.isoformat() if row.upload_time else None,
                "download_count": row.download_count,
                "provenance": row.provenance,
            },
        }
        descriptor["log"] = list(row.log or [])
        descriptors.append(descriptor)
    return {"projects": dict(projects), "files": descriptors}


def _mirror_contents(
    session: Session, index: Index, files: BlobStore, target: Path, report: ExportReport
) -> dict[str, Any]:
    from ..mirror.models import MirrorFile

    descriptors = []
    for row in session.scalars(
        select(MirrorFile).where(MirrorFile.index_id == index.id).order_by(MirrorFile.id)
    ):
        project, version = row.project, row.version or "unknown"
        relpath = f"{index.fullname}/{project}/{version}/{row.filename}"
        if not _copy(files, row.sha256, target / relpath, report):
            report.missing.append(f"{index.fullname}/{row.filename}")
            continue
        descriptors.append({
            "type": "releasefile", "projectname": project, "version": version,
            "relpath": relpath,
            "entrymapping": {
                "hash_spec": f"sha256={row.sha256}", "url": row.url,
                "last_modified": http_date(row.stored),
                "pyshelf": {"filename": row.filename, "key": row.key},
            },
        })
    return {"projects": {}, "files": descriptors}
