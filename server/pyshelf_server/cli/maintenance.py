"""The runs of ``pyshelf-server`` that do one job on the database and the store and exit:
``--migrate``, ``--sweep-orphans`` and ``--cleanup``."""

from __future__ import annotations

import json
from typing import Any

from ..settings import ServerSettings
from .problems import fail


def migrate_once(settings: ServerSettings, engine: Any) -> None:
    from .. import migrations
    from ..db import vacuum_incrementally

    migrations.upgrade(engine)
    print("database schema is up to date")
    if vacuum_incrementally(engine):
        print("the SQLite database now gives the space of deleted rows back to the disk")
    files = _open_store(settings)
    moved = files.flatten()
    files.close()
    if moved:
        print(f"moved {moved} stored files to the flat layout")


def sweep_once(settings: ServerSettings, engine: Any) -> None:
    from ..storage.orphans import OrphanSweeper
    from ..unit_of_work import Database

    files = _open_store(settings)
    try:
        sweeper = OrphanSweeper(
            Database(engine), files, grace_seconds=settings.orphan_grace_seconds
        )
        removed = sweeper.sweep()
    finally:
        files.close()
        engine.dispose()
    print(f"removed {removed} stored files no row referred to")


def cleanup_once(
    settings: ServerSettings, engine: Any, *, dry_run: bool, force: bool, as_json: bool
) -> None:
    from ..retention.cleanup import run_cleanup
    from ..unit_of_work import Database

    files = _open_store(settings)
    try:
        report = run_cleanup(Database(engine), files, dry_run=dry_run, force=force)
    finally:
        files.close()
        engine.dispose()
    if as_json:
        print(json.dumps(report.as_json()))
        return
    would = "would " if dry_run else ""
    for cleanup in report.indexes:
        if cleanup.skipped:
            print(f"{cleanup.index}: skipped ({cleanup.skipped})")
            continue
        if dry_run:
            for removal in cleanup.removals:
                print(
                    f"{cleanup.index}: {removal.rule}: {removal.filename} "
                    f"({removal.size} bytes)"
                )
        print(
            f"{cleanup.index}: {would}delete {cleanup.files} files, {would}free "
            f"{cleanup.bytes_freed} bytes ({cleanup.blobs_removed} stored files)"
        )
    print(f"total: {would}delete {report.files} files, {would}free {report.bytes_freed} bytes")
    if report.database_bytes_freed:
        print(f"the database file gave {report.database_bytes_freed} bytes back to the disk")


def _open_store(settings: ServerSettings) -> Any:
    from ..storage.files import StorageError, open_store

    try:
        return open_store(settings)
    except StorageError as error:
        fail(str(error))

