"""The scheduled clean-up: every server process has the timer, one of them runs it.

Each process wakes every ``interval`` seconds and claims the lease ``retention-cleanup`` for
one interval (``leases``); the process whose claim lands runs the clean-up and keeps the lease
until it runs out, so the others skip that interval. A run longer than the interval may meet
the next one: both delete by row id and decide every blob removal under the write lock, so
they only repeat each other's work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..background import PeriodicThread
from ..db import utcnow
from ..leases import THIS_PROCESS, claim
from .cleanup import CleanupReport, run_cleanup

log = logging.getLogger(__name__)

LEASE = "retention-cleanup"


class RetentionJob:
    def __init__(
        self,
        database: Any,
        files: Any,
        *,
        interval: float,
        holder: str = THIS_PROCESS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.files = files
        self.interval = interval
        self.holder = holder
        self.clock = clock
        # Not at start: a start (or a restart of every process) should not wait on it.
        self.thread = PeriodicThread("retention", interval, self.run_once)

    def run_once(self) -> CleanupReport | None:
        """Clean up if this process wins the interval's lease; the report, or None when
        another process has it."""
        now = self.clock()
        if not claim(self.database.engine, LEASE, self.holder, self.interval, now=now):
            return None
        report = run_cleanup(self.database, self.files, now=now)
        if report.files:
            log.warning(
                "retention: deleted %d files, freed %d bytes of the store and %d of the "
                "database", report.files, report.bytes_freed, report.database_bytes_freed,
            )
        return report

    def start(self) -> None:
        if self.interval > 0:
            self.thread.start()

    def stop(self) -> None:
        self.thread.stop()
