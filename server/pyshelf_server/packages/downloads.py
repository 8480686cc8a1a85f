"""Download counts, gathered in memory and written in batches.

Counting in the database on every download would turn each file request into a write
transaction; instead counts are summed here and flushed every few seconds (and at shutdown) by
one background thread.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

from sqlalchemy import update

from ..mirror.models import MirrorFile
from .models import File

log = logging.getLogger(__name__)


# A mirrored file is counted by the key of its URL; its row appears when its first download is
# stored. A count without a row yet waits this many flushes for it, then is dropped.
MIRROR_ROW_WAIT_FLUSHES = 60


class DownloadCounter:
    def __init__(self, database: Any, *, interval: float = 5.0) -> None:
        self.database = database
        self.interval = interval
        self.pending: Counter[int] = Counter()
        # (index id, filename, key) of mirrored files -> downloads, and flushes waited.
        self.mirror_pending: Counter[tuple[int, str, str]] = Counter()
        self.mirror_waits: Counter[tuple[int, str, str]] = Counter()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def count(self, file_id: int) -> None:
        with self.lock:
            self.pending[file_id] += 1

    def count_mirrored(self, index_id: int, filename: str, key: str) -> None:
        with self.lock:
            self.mirror_pending[(index_id, filename, key)] += 1

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
            mirrored, self.mirror_pending = self.mirror_pending, Counter()
        if not pending and not mirrored:
            return
        unmatched: Counter[tuple[int, str, str]] = Counter()
        try:
            # Counting is bookkeeping, not a change clients must see: no new serial for it.
            with self.database.writing(counts_as_change=False) as uow:
                for file_id, n in sorted(pending.items()):
                    uow.session.execute(
                        update(File)
                        .where(File.id == file_id)
                        .values(download_count=File.download_count + n)
                    )
                for (index_id, filename, key), n in sorted(mirrored.items()):
                    done = uow.session.execute(
                        update(MirrorFile)
                        .where(
                            MirrorFile.index_id == index_id,
                            MirrorFile.filename == filename,
                            MirrorFile.key == key,
                        )
                        .values(download_count=MirrorFile.download_count + n)
                    )
                    if done.rowcount == 0:
                        unmatched[(index_id, filename, key)] = n
        except Exception:
            log.exception("could not store download counts; keeping them for the next flush")
            with self.lock:
                self.pending.update(pending)
                self.mirror_pending.update(mirrored)
            return
        with self.lock:
            for file, n in unmatched.items():
                # Still downloading (its row comes once stored), or removed meanwhile.
                self.mirror_waits[file] += 1
                if self.mirror_waits[file] <= MIRROR_ROW_WAIT_FLUSHES:
                    self.mirror_pending[file] += n
            for file in list(self.mirror_waits):
                if file not in self.mirror_pending:
                    del self.mirror_waits[file]
