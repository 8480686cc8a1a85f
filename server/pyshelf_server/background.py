"""Background work of one server process: a daemon thread that does one piece of work every
interval until the server stops (download counts, the orphan sweep, the retention clean-up, the
node heartbeat). Work shared by several processes takes a lease inside ``work`` (``leases``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class PeriodicThread:
    def __init__(
        self,
        name: str,
        interval: float,
        work: Callable[[], Any],
        *,
        at_start: bool = False,
    ) -> None:
        self.name = name
        self.interval = interval
        self.work = work
        # Whether the work runs once as the thread starts, before the first interval.
        self.at_start = at_start
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self.thread.start()

    def stop(self, timeout: float = 10) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=timeout)

    def _run(self) -> None:
        if self.at_start:
            self._once()
        while not self.stopped.wait(self.interval):
            self._once()

    def _once(self) -> None:
        try:
            self.work()
        except Exception:  # the next interval tries again
            log.exception("background work %r failed", self.name)
