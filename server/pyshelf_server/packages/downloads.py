"""Download counts and last-download times, gathered in memory and written in batches.

Writing to the database on every download would turn each file request into a write
transaction; instead counts are summed here, with the time of each file's latest download, and
flushed every few seconds (and at shutdown) by one background thread. The retention rules
(``retention``) read the last-download times: of hosted files and of mirrored ones.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update

from ..db import utcnow
from ..mirror.models import MirrorFile
from .models import File

log = logging.getLogger(__name__)

_files = File.__table__
_mirror_files = MirrorFile.__table__
_SET_MIRROR_LAST_DOWNLOAD = (
    update(_mirror_files)
    .where(_mirror_files.c.id == bindparam("row_id"))
    .values(last_download=bindparam("when"))
)


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
        # Latest download per file id, of hosted files (with the counts) and mirrored ones.
        self.last: dict[int, datetime] = {}
        self.mirror_last: dict[int, datetime] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def count(self, file_id: int) -> None:
        now = self.clock()
        with self.lock:
            self.pending[file_id] += 1
            self.last[file_id] = now

    def used_mirror_file(self, row_id: int) -> None:
        now = self.clock()
        with self.lock:
            self.mirror_last[row_id] = now

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="download-counter", daemon=True)
            self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, Counter()
            last, self.last = self.last, {}
            mirror_last, self.mirror_last = self.mirror_last, {}
        if not pending and not mirror_last:
            return
        try:
            # Counting is bookkeeping, not a change clients must see: no new serial for it.
            with self.database.writing(counts_as_change=False) as uow:
                connection = uow.session.connection()
                for file_id, n in sorted(pending.items()):
                    # Rows deleted meanwhile (by a user or the retention rules) match nothing.
                    connection.execute(
                        update(_files)
                        .where(_files.c.id == file_id)
                        .values(download_count=_files.c.download_count + n,
                                last_download=last[file_id])
                    )
                if mirror_last:
                    connection.execute(
                        _SET_MIRROR_LAST_DOWNLOAD,
                        [{"row_id": i, "when": w} for i, w in sorted(mirror_last.items())],
                    )
        except Exception:
            log.exception("could not store download counts; keeping them for the next flush")
            with self.lock:
                self.pending.update(pending)
                for file_id, when in last.items():
                    self.last.setdefault(file_id, when)
                for row_id, when in mirror_last.items():
                    self.mirror_last.setdefault(row_id, when)
