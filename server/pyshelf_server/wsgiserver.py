"""The waitress server pyshelf runs in, with one change to how answers leave.

waitress sends every write of the application as it comes: the status line and headers in one
``send()``, the body in another. Each ``send()`` lets go of the GIL and then waits to get it back
from the other worker threads, so under 16 concurrent connections a cached simple page spent more
time in those waits than in everything else (~1,600 req/s). Here writes are buffered up to
``SEND_BUFFER_BYTES``. When the answer is complete and no other answer is being made, the worker
sends it in one piece at once (the quiet case, where latency counts); otherwise the I/O thread
sends it together with the others (the busy case: ~3,300 req/s on the same page). Larger answers
(files, the mirror's project list) still stream: the buffer is sent each time it fills.

Work a request need not finish before its answer (storing a mirrored page fetched for it) can be
handed to :func:`after_send`: the worker does it once the answer is on its way, while the client
reads it, and before it takes the connection's next request.

Connections are watched with ``poll()``, not waitress's default ``select()``: ``select()`` cannot
watch a descriptor past 1023 and ends the server's loop when one appears, which some hundreds of
idle connections brought about. How many connections are taken at once follows from the
open-files limit (:func:`connection_limit`); more wait in the listening socket's backlog, and
connections without a request are closed after the idle timeout.
"""

from __future__ import annotations

import logging
import resource
import threading
from collections.abc import Callable
from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import WSGITask

SEND_BUFFER_BYTES = 64 * 1024
OUTBUF_IN_MEMORY_BYTES = 4 * 1024 * 1024
# Connections taken at once when the open-files limit allows; each costs a few KiB of memory.
DEFAULT_CONNECTION_LIMIT = 10_000

log = logging.getLogger(__name__)
_after_send = threading.local()


def after_send(work: Callable[[], object]) -> None:
    """Run ``work`` once the current request's answer has been handed to the socket (or to the
    I/O thread); at once when no request of this server is being answered in this thread (tests
    that call the application directly, background threads)."""
    queue = getattr(_after_send, "queue", None)
    if queue is None:
        work()
    else:
        queue.append(work)


class OneSendTask(WSGITask):
    def service(self) -> None:
        _after_send.queue = queue = []
        try:
            super().service()
        finally:
            _after_send.queue = None
            if queue:
                self._run_after_send(queue)

    def _run_after_send(self, queue: list[Callable[[], object]]) -> None:
        channel = self.channel
        if channel.total_outbufs_len and channel.connected:
            # What the worker did not send goes out now, not after the work (waitress wakes the
            # I/O thread only when the whole task is over).
            channel.server.pull_trigger()
        for work in queue:
            try:
                work()
            except Exception:
                log.exception("work done after an answer failed")

    def finish(self) -> None:
        super().finish()
        channel = self.channel
        if not (channel.total_outbufs_len and channel.connected):
            return
        dispatcher = channel.server.task_dispatcher
        if dispatcher.active_count > 1 or dispatcher.queue:
            # The I/O thread, which the channel wakes after every task, sends it.
            return
        with channel.outbuf_lock:
            # A failure is left to the I/O thread too: it closes the connection the way waitress
            # always does.
            channel._flush_exception(channel._flush_some, do_close=False)


class OneSendChannel(HTTPChannel):
    task_class = OneSendTask


class ConnectionLimitError(Exception):
    pass


def own_descriptors(threads: int) -> int:
    """Descriptors kept free for the server's own use besides client connections: its database
    connections, files being stored or served, upstream connections, a plugin's search index."""
    return 256 + 8 * threads


def raise_open_files_limit(wanted: int) -> int:
    """Raise this process's soft limit of open files towards ``wanted``, as far as the hard
    limit allows; return the soft limit in force afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as error:
            log.warning("could not raise the open-files limit to %d: %s", target, error)
    return wanted if soft == resource.RLIM_INFINITY else soft


def connection_limit(requested: int, threads: int) -> int:
    """How many client connections the server takes at once: ``requested`` if the open-files
    limit leaves room for it (raised when allowed), else :class:`ConnectionLimitError`; for 0,
    ``DEFAULT_CONNECTION_LIMIT`` or as many as the limit leaves room for."""
    reserve = own_descriptors(threads)
    available = raise_open_files_limit((requested or DEFAULT_CONNECTION_LIMIT) + reserve)
    if requested:
        if requested + reserve > available:
            raise ConnectionLimitError(
                f"--connection-limit {requested} needs {requested + reserve} open files "
                f"(with {reserve} for the server itself), but only {available} are allowed; "
                "raise the limit (ulimit -n) or lower --connection-limit"
            )
        return requested
    return min(DEFAULT_CONNECTION_LIMIT, max(available - reserve, available // 2))


def make_server(
    app: Any, *, connection_limit: int = 100, idle_timeout: int = 120, **options: Any
) -> Any:
    server = create_server(
        app,
        asyncore_use_poll=True,
        connection_limit=connection_limit,
        channel_timeout=idle_timeout,
        # Idle connections are looked for this often; waitress's 30 s would let a short idle
        # timeout run several times over.
        cleanup_interval=max(1, min(30, idle_timeout // 2)),
        **options,
    )
    server.channel_class = OneSendChannel
    # Set on the adjustments rather than passed to create_server: waitress warns that the
    # option may go, and then this line is merely without effect.
    server.adj.send_bytes = SEND_BUFFER_BYTES
    # waitress moves an answer of over 1 MiB from memory into a temporary file before sending
    # it; a simple page of a few thousand files is that big, and is in memory anyway (a
    # 3,000-file page's first fetch: 30-50 ms with the file, 27-38 without). Kept at a few MiB:
    # a slow client of a streamed download holds up to this much of it in memory.
    server.adj.outbuf_overflow = OUTBUF_IN_MEMORY_BYTES
    return server
