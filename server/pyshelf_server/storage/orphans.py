"""Removing blobs that no row refers to, left behind by a crash.

A blob is stored before the row that refers to it is committed; a process killed in between
(or a transaction lost with its server) leaves the blob with no row, and the removal that a
rolled-back request would do never runs. The sweep walks the store (lists the bucket, on S3),
and for blobs not modified for the grace period asks the database whether any row refers to
them: first in a read, then,
for those that look unreferenced, again under the write lock, where they are removed unless
modified since. An upload that finds its content already stored refreshes the blob's
modification time (``BlobStore.touch``) before its row commits, so a blob about to be referred
to looks new to the sweep; and the committing request checks under the same lock that its blobs
still exist (``references.require_blobs``), so even the one race left (the touch landing between
the sweep's last look at the time and its removal) ends in a refused upload, never in a row
without its bytes.

The grace period must be longer than any request takes from storing a blob to committing its
row. Several processes on one database and store may sweep: every removal is decided under the
database's write lock, so they never disagree, at worst they walk the store twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ..background import PeriodicThread
from .files import BlobStore
from .references import discard_unreferenced, referenced_blobs

log = logging.getLogger(__name__)

# Names asked about per query; far below every database's limit on bound parameters.
BATCH = 500


def sweep_orphans(database: Any, files: BlobStore, *, grace_seconds: float, now: float) -> int:
    """Remove the blobs nothing refers to that were not modified in the ``grace_seconds``
    before ``now`` (a ``time.time()``); return how many went."""
    cutoff = now - grace_seconds
    removed = 0
    for names in files.blobs_older_than(cutoff, BATCH):
        # Most old blobs are in use: a read finds them without taking the write lock.
        with database.reading() as session:
            suspects = set(names) - referenced_blobs(session, names)
        if suspects:
            removed += len(
                discard_unreferenced(database, files, suspects, untouched_since=cutoff)
            )
    return removed


class OrphanSweeper:
    """Runs the sweep, and cleans abandoned temporary directories, at start and then every
    grace period, in a background thread."""

    def __init__(
        self,
        database: Any,
        files: BlobStore,
        *,
        grace_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.files = files
        self.grace_seconds = grace_seconds
        self.clock = clock
        self.thread = PeriodicThread("orphan-sweeper", grace_seconds, self.sweep, at_start=True)

    def sweep(self) -> int:
        now = self.clock()
        self.files.clean_temporary(self.grace_seconds, now)
        removed = sweep_orphans(
            self.database, self.files, grace_seconds=self.grace_seconds, now=now
        )
        if removed:
            log.warning("removed %d stored files no row referred to", removed)
        return removed

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.thread.stop()
