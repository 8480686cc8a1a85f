"""Download counts and last-download times, gathered in memory and written in batches.

Writing to the database on every download would turn each file request into a write
transaction; instead counts are summed here, with the time of each file's latest download, and
flushed every few seconds (and at shutdown) by one background thread. The web pages show the
counts; the retention rules (``retention``) read the last-download times.

Hosted files are counted by row id. A mirrored file is counted by its index, name and URL key:
its row appears only when its first download has been stored, so a count without a row yet
waits up to ``MIRROR_ROW_WAIT_FLUSHES`` flushes for it, then is dropped.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import update

from ..background import PeriodicThread
from ..db import utcnow
from ..mirror.models import MirrorFile
from .models import File

log = logging.getLogger(__name__)

MIRROR_ROW_WAIT_FLUSHES = 60

_files = File.__table__
_mirror_files = MirrorFile.__table__

MirroredFile = tuple[int, str, str]  # (index id, filename, key)


class DownloadCounter:
    def __init__(
        self,
        database: Any,
        *,
        interval: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.interval = interval
        self.clock = clock
        self.pending: Counter[int] = Counter()
        self.last: dict[int, datetime] = {}
        self.mirror_pending: Counter[MirroredFile] = Counter()
        self.mirror_last: dict[MirroredFile, datetime] = {}
        # Flushes a mirrored file's count has waited for its row.
        self.mirror_waits: Counter[MirroredFile] = Counter()
        self.lock = threading.Lock()
        # One flush at a time: a flush that found nothing pending because the background
        # thread's flush had just taken it would return before those counts were stored.
        self.flushing = threading.Lock()
        self.thread = PeriodicThread("download-counter", interval, self.flush)

    def count(self, file_id: int) -> None:
        now = self.clock()
        with self.lock:
            self.pending[file_id] += 1
            self.last[file_id] = now

    def count_mirrored(self, index_id: int, filename: str, key: str) -> None:
        now = self.clock()
        file = (index_id, filename, key)
        with self.lock:
            self.mirror_pending[file] += 1
            self.mirror_last[file] = now

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.thread.stop()
        self.flush()

    def flush(self) -> None:
        """Store every count made before the call (returns once they are committed)."""
        with self.flushing:
            self._flush()

    def _flush(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, Counter()
            last, self.last = self.last, {}
            mirrored, self.mirror_pending = self.mirror_pending, Counter()
            mirror_last, self.mirror_last = self.mirror_last, {}
        if not pending and not mirrored:
            return
        unmatched: list[MirroredFile] = []
        try:
            # Counting is bookkeeping, not a change clients must see: no new serial for it.
            with self.database.writing(counts_as_change=False) as uow:
                connection = uow.session.connection()
                for file_id, n in sorted(pending.items()):
                    # Rows deleted meanwhile (by a user or the retention rules) match nothing.
                    connection.execute(
                        update(_files)
                        .where(_files.c.id == file_id)
                        .values(
                            download_count=_files.c.download_count + n,
                            last_download=last[file_id],
                        )
                    )
                for file, n in sorted(mirrored.items()):
                    index_id, filename, key = file
                    done = connection.execute(
                        update(_mirror_files)
                        .where(
                            _mirror_files.c.index_id == index_id,
                            _mirror_files.c.filename == filename,
                            _mirror_files.c.key == key,
                        )
                        .values(
                            download_count=_mirror_files.c.download_count + n,
                            last_download=mirror_last[file],
                        )
                    )
                    if done.rowcount == 0:
                        unmatched.append(file)
        except Exception:
            log.exception("could not store download counts; keeping them for the next flush")
            with self.lock:
                self.pending.update(pending)
                self.mirror_pending.update(mirrored)
                for file_id, when in last.items():
                    self.last.setdefault(file_id, when)
                for file, when in mirror_last.items():
                    self.mirror_last.setdefault(file, when)
            return
        with self.lock:
            for file in unmatched:
                # Still downloading (its row comes once stored), or removed meanwhile.
                self.mirror_waits[file] += 1
                if self.mirror_waits[file] <= MIRROR_ROW_WAIT_FLUSHES:
                    self.mirror_pending[file] += mirrored[file]
                    self.mirror_last.setdefault(file, mirror_last[file])
            for file in list(self.mirror_waits):
                if file not in self.mirror_pending:
                    del self.mirror_waits[file]
