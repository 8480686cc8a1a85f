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

from .models import File

log = logging.getLogger(__name__)


class DownloadCounter:
    def __init__(self, database: Any, *, interval: float = 5.0) -> None:
        self.database = database
        self.interval = interval
        self.pending: Counter[int] = Counter()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def count(self, file_id: int) -> None:
        with self.lock:
            self.pending[file_id] += 1

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
        if not pending:
            return
        try:
            # Counting is bookkeeping, not a change clients must see: no new serial for it.
            with self.database.writing(counts_as_change=False) as uow:
                for file_id, n in sorted(pending.items()):
                    uow.session.execute(
                        update(File)
                        .where(File.id == file_id)
                        .values(download_count=File.download_count + n)
                    )
        except Exception:
            log.exception("could not store download counts; keeping them for the next flush")
            with self.lock:
                self.pending.update(pending)
