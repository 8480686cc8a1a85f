"""The mirror's process-wide state: the upstream client, single-flight coordination, short
memories of upstream failures and unknown names, and the loaded project lists.

None of this is needed for correctness across processes (the database and the file store are
the truth); it keeps one process from asking upstream the same question many times at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from .projectlist import NameList
from .upstream import Upstream

T = TypeVar("T")

# After upstream failed for a project (or could not be reached at all), cached pages are served
# as stale for this long before upstream is asked again, so a dead upstream costs one timeout
# per this period instead of one per request.
RETRY_DELAY = 30.0
# How long "upstream does not know this name" is remembered.
NOT_FOUND_SECONDS = 60.0


class _Call:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class SingleFlight:
    """Runs a function once per key at a time; callers arriving meanwhile share its outcome."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[Hashable, _Call] = {}

    def running(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._calls

    def run(self, key: Hashable, function: Callable[[], T]) -> T:
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
        if not leader:
            call.done.wait()
            if call.error is not None:
                raise call.error
            return call.result
        try:
            call.result = function()
        except BaseException as error:
            call.error = error
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()
        return call.result


class Memory:
    """A bounded map of keys to (expiry time, value)."""

    def __init__(self, size: int = 10000) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.time():
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: Hashable, value: Any, seconds: float) -> None:
        with self._lock:
            self._entries[key] = (time.time() + seconds, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)


class MirrorRuntime:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.upstream = Upstream(timeout=float(app.settings.request_timeout))
        self.flight = SingleFlight()
        # (index id, project) -> True: upstream answered 404 recently.
        self.not_found = Memory()
        # (index id, project or None for the whole upstream) -> the failure's message.
        self.failures = Memory()
        # index id -> (blob sha256, NameList mapping that blob)
        self._lists: dict[int, tuple[str, NameList]] = {}
        self._lists_lock = threading.Lock()
        from .files import Downloads

        self.downloads = Downloads(self)

    def name_list(self, index_id: int, sha256: str, count: int | None = None) -> NameList | None:
        """The project list stored as blob ``sha256``, mapped from the store once.

        A newer list replaces the older one here; the older one's map is closed when the last
        listing still streaming from it is done (by reference counting), not while in use.
        """
        with self._lists_lock:
            loaded = self._lists.get(index_id)
            if loaded is not None and loaded[0] == sha256:
                return loaded[1]
            try:
                names = NameList.open(self.app.files.path(sha256), count)
            except (OSError, ValueError):
                return None
            self._lists[index_id] = (sha256, names)
        return names

    def close(self) -> None:
        self.upstream.close()
        with self._lists_lock:
            self._lists.clear()


_create_lock = threading.Lock()


def runtime(app: Any) -> MirrorRuntime:
    """The mirror runtime of ``app`` (an ``AppState``), created on first use."""
    found = app.__dict__.get("mirror_runtime")
    if found is None:
        with _create_lock:
            found = app.__dict__.get("mirror_runtime")
            if found is None:
                found = app.__dict__["mirror_runtime"] = MirrorRuntime(app)
    return found


def close_runtime(app: Any) -> None:
    found = app.__dict__.pop("mirror_runtime", None)
    if found is not None:
        found.close()
