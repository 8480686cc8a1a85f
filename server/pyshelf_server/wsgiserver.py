"""The waitress server pyshelf runs in.

waitress hands every write of the application to its I/O thread as it comes (its ``send_bytes``
is 1): the status line and headers, then the body, each a ``send()`` of its own, and each wake of
the I/O thread a wait for the GIL among the worker threads. With ``send_bytes`` at
``SEND_BUFFER_BYTES`` an answer smaller than that leaves in one ``send()`` once the worker is
done with it, and larger answers (files, the mirror's project list) stream as the buffer fills.
``send_bytes`` is a documented adjustment that waitress marks as deprecated; should it go, the
server stays correct and only the small answers' throughput drops (bench/README.md).

Connections are watched with ``poll()``, not waitress's default ``select()``: ``select()`` cannot
watch a descriptor past 1023 and ends the server's loop when one appears, which some hundreds of
idle connections brought about. How many connections are taken at once follows from the
open-files limit (:func:`connection_limit`); more wait in the listening socket's backlog, and
connections without a request are closed after the idle timeout.
"""

from __future__ import annotations

import logging
import resource
import warnings
from typing import Any

from waitress.server import create_server

SEND_BUFFER_BYTES = 64 * 1024
OUTBUF_IN_MEMORY_BYTES = 4 * 1024 * 1024
# Connections taken at once when the open-files limit allows; each costs a few KiB of memory.
DEFAULT_CONNECTION_LIMIT = 10_000

log = logging.getLogger(__name__)


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
    with warnings.catch_warnings():
        # "send_bytes will be removed in a future release": see the module's docstring.
        warnings.simplefilter("ignore", DeprecationWarning)
        return create_server(
            app,
            asyncore_use_poll=True,
            connection_limit=connection_limit,
            channel_timeout=idle_timeout,
            # Idle connections are looked for this often; waitress's 30 s would let a short
            # idle timeout run several times over.
            cleanup_interval=max(1, min(30, idle_timeout // 2)),
            send_bytes=SEND_BUFFER_BYTES,
            # waitress moves an answer of over 1 MiB from memory into a temporary file before
            # sending it; a simple page of a few thousand files is that big, and is in memory
            # anyway. Kept at a few MiB: a slow client of a streamed download holds up to this
            # much of it in memory.
            outbuf_overflow=OUTBUF_IN_MEMORY_BYTES,
            **options,
        )
