"""The mirror's process-wide state: the upstream client, single-flight coordination, short
memories of upstream failures and unknown names, the loaded project lists, and the deferred
background fetches of those lists.

None of this is needed for correctness across processes (the database and the file store are
the truth); it keeps one process from asking upstream the same question many times at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..lru import WeighedLRU
from ..metrics import metrics_of
from .projectlist import NameList
from .upstream import Upstream, UpstreamBusy, host_of

T = TypeVar("T")

# After upstream failed for a project (or could not be reached at all), cached pages are served
# as stale for this long before upstream is asked again, so a dead upstream costs one timeout
# per this period instead of one per request.
RETRY_DELAY = 30.0
# How long "upstream does not know this name" is remembered.
NOT_FOUND_SECONDS = 60.0
# A project list that is missing or expired is fetched in the background once its mirror has
# had no request for LIST_QUIET seconds, and at the latest LIST_MAX_DELAY seconds after it was
# first wanted. Downloading and parsing ~a million names costs seconds of CPU (in this process
# and in the parsing child); started by the first page request of a pip run, it took those
# seconds from that very run.
LIST_QUIET = 10.0
LIST_MAX_DELAY = 300.0


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


class RecentLinks:
    """The links of the pages fetched or read lately, by (index id, project) and change token.

    An installer asks for a file right after its page: the file's link is then found here
    instead of in the page's stored links, which would have to be decoded again (1 MB of JSON
    for a project of 2,500 files). Bounded by the number of links held, oldest out first.
    """

    def __init__(self, max_links: int = 10000) -> None:
        self._entries: WeighedLRU[tuple[str, list[dict[str, Any]]]] = WeighedLRU(
            max_links, lambda entry: len(entry[1])
        )

    def get(self, key: Hashable, token: str) -> list[dict[str, Any]] | None:
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] == token else None

    def put(self, key: Hashable, token: str, links: list[dict[str, Any]]) -> None:
        self._entries.put(key, (token, links))

    def forget(self, key: Hashable) -> None:
        self._entries.forget(key)


class UpstreamPlaces:
    """How many worker threads are waiting on each upstream host, at most ``limit`` per host.

    A thread takes a place for as long as it waits on the host: fetching a page itself, waiting
    for the same page fetched by another request, or passing on a file as it downloads. When
    the host has no place left the request is not made to wait for one (waiting would hold a
    worker just the same): :class:`UpstreamBusy` at once, and the caller serves what it has
    cached or answers 503. So a stalled or hostile upstream holds at most ``limit`` workers,
    and the others keep answering everything else.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._taken: dict[str, int] = {}

    def take(self, url: str) -> Callable[[], None]:
        """Take a place for the host of ``url``; returns the function that gives it back
        (calling it again does nothing)."""
        host = host_of(url)
        with self._lock:
            taken = self._taken.get(host, 0)
            if taken >= self.limit:
                raise UpstreamBusy(
                    f"upstream {host} is busy: {taken} requests are waiting on it already; "
                    "try again shortly"
                )
            self._taken[host] = taken + 1
        given_back = threading.Event()

        def give_back() -> None:
            with self._lock:
                if given_back.is_set():
                    return
                given_back.set()
                left = self._taken[host] - 1
                if left:
                    self._taken[host] = left
                else:
                    del self._taken[host]

        return give_back

    @contextmanager
    def held(self, url: str) -> Iterator[None]:
        give_back = self.take(url)
        try:
            yield
        finally:
            give_back()


class MirrorRuntime:
    def __init__(self, app: Any) -> None:
        self.app = app
        settings = app.settings
        self.upstream = Upstream(
            timeout=float(settings.request_timeout),
            connect_timeout=float(settings.connect_timeout),
            observe=metrics_of(app).upstream,
        )
        self.places = UpstreamPlaces(settings.upstream_thread_limit)
        self.flight = SingleFlight()
        # (index id, project) -> True: upstream answered 404 recently.
        self.not_found = Memory()
        # (index id, project or None for the whole upstream) -> the failure's message.
        self.failures = Memory()
        # (index id, project) -> the links of its page as last fetched or read.
        self.recent = RecentLinks()
        # index id -> (blob sha256, NameList mapping that blob)
        self._lists: dict[int, tuple[str, NameList]] = {}
        self._lists_lock = threading.Lock()
        # index id -> time.monotonic() of its last request (see LIST_QUIET)
        self._activity: dict[int, float] = {}
        self._deferred: set[Hashable] = set()
        self._deferred_lock = threading.Lock()
        self._closed = threading.Event()
        from .files import Downloads

        self.downloads = Downloads(self)

    def touch(self, index_id: int) -> None:
        """Note a request involving the mirror ``index_id`` (it is not quiet)."""
        self._activity[index_id] = time.monotonic()

    def when_quiet(self, key: Hashable, index_id: int, function: Callable[[], Any]) -> bool:
        """Run ``function`` in a background thread once the mirror ``index_id`` has been quiet
        for LIST_QUIET seconds (or LIST_MAX_DELAY seconds from now at the latest). One pending
        run per ``key``: False when one is pending already."""
        with self._deferred_lock:
            if key in self._deferred or self._closed.is_set():
                return False
            self._deferred.add(key)
        threading.Thread(
            target=self._run_when_quiet, args=(key, index_id, function), daemon=True,
            name=f"mirror-deferred-{index_id}",
        ).start()
        return True

    def _run_when_quiet(self, key: Hashable, index_id: int, function: Callable[[], Any]) -> None:
        latest = time.monotonic() + LIST_MAX_DELAY
        try:
            while True:
                due = min(self._activity.get(index_id, 0.0) + LIST_QUIET, latest)
                pause = due - time.monotonic()
                if pause <= 0:
                    break
                if self._closed.wait(pause):
                    return
            function()
        finally:
            with self._deferred_lock:
                self._deferred.discard(key)

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
                names = NameList.open(self.app.files.local_path(sha256), count)
            except (OSError, ValueError):
                return None
            self._lists[index_id] = (sha256, names)
        return names

    def close(self) -> None:
        self._closed.set()
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
