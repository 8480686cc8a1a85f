"""What the server tells its operator: a line per request, and the changes it made.

The request log (logger ``pyshelf.requests``) has one line per answer: the client's address,
the user, method, path, status, bytes sent and seconds taken; credentials never appear in it
(they travel in headers, which it does not show). The event log (``pyshelf.events``) has one
line at INFO for each upload, login (failed ones too), user and index change and for the
shutdown. Both go to stderr and, with ``--log-file``, to a file; ``--quiet`` leaves only
warnings and errors; ``--log-format json`` writes one JSON object a line for log shippers.
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

REQUESTS = logging.getLogger("pyshelf.requests")
EVENTS = logging.getLogger("pyshelf.events")
# The shelf tween leaves the request's authenticated user here for the request log.
USER_KEY = "pyshelf.user"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The fields a request's JSON line carries besides time, level, logger and message.
REQUEST_FIELDS = ("client", "user", "method", "path", "status", "bytes", "duration")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, and a request's
    fields (client, user, method, path, status, bytes, duration)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.name == REQUESTS.name and isinstance(record.args, tuple):
            fields = dict(zip(REQUEST_FIELDS, record.args, strict=True))
            fields["user"] = None if fields["user"] == "-" else fields["user"]
            fields["bytes"] = None if fields["bytes"] == "-" else int(fields["bytes"])
            fields["status"] = int(fields["status"])
            fields["duration"] = round(fields["duration"], 6)
            data.update(fields)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def configure(
    *, quiet: bool = False, debug: bool = False, log_file: str = "", log_format: str = "text"
) -> None:
    """Send the server's logs to stderr (and ``log_file``) in ``log_format``."""
    formatter: logging.Formatter = (
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    handlers = [BatchedStreamHandler(_stderr_stream())]
    if log_file:
        handlers.append(BatchedStreamHandler(open(log_file, "a", encoding="utf-8")))
    for handler in handlers:
        handler.setFormatter(formatter)
    # No line shows the thread or process: a record need not look them up.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # The threads serving requests only queue their records; one thread of the logging module
    # formats and writes them, so that a slow or stalled stderr (a full pipe to a log
    # collector) never holds up an answer.
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = BatchingListener(records, *handlers, respect_handler_level=True)
    listener.start()
    atexit.register(listener.stop)
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        handlers=[QueuedRecords(records)], force=True)
    logging.getLogger("pyshelf").setLevel(logging.WARNING if quiet else logging.INFO)
    logging.getLogger("alembic").setLevel(logging.WARNING)


class BatchingListener(logging.handlers.QueueListener):
    """Writes the queued records in batches. When the queue runs dry it writes out what its
    handlers hold and pauses before it waits for the next record: a thread waiting on the queue
    is woken by every record put there, and under load that hand-over of the interpreter per
    request cost the serving threads more than formatting and writing the line did. A line
    reaches its stream at most about ``PAUSE`` seconds after its answer (lines of the last
    ``PAUSE`` are lost if the process is killed)."""

    PAUSE = 0.02

    def dequeue(self, block: bool) -> Any:
        try:
            return self.queue.get_nowait()
        except queue.Empty:
            self.write_out()
            time.sleep(self.PAUSE)
            return self.queue.get(block)

    def write_out(self) -> None:
        for handler in self.handlers:
            if isinstance(handler, BatchedStreamHandler):
                handler.write_out()

    def stop(self) -> None:
        super().stop()
        self.write_out()


class BatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that leaves flushing to :class:`BatchingListener`: one write for a
    batch of lines instead of one for each line."""

    def flush(self) -> None:
        """Called after every record by ``emit``: the listener flushes instead."""

    def write_out(self) -> None:
        super().flush()


def _stderr_stream() -> TextIO:
    """stderr with a buffer of its own: ``sys.stderr`` writes every line out at once."""
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by an object without one
        return sys.stderr
    return open(  # open for as long as the process logs
        descriptor,
        "w",
        buffering=1 << 16,
        encoding=sys.stderr.encoding or "utf-8",
        errors="backslashreplace",
        closefd=False,
    )


class QueuedRecords(logging.handlers.QueueHandler):
    """Puts records on the queue as they are: the handlers behind the queue format them, in
    their thread (the standard QueueHandler formats them first, in the caller's)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


def event(message: str, *args: Any) -> None:
    EVENTS.info(message, *args)


def after_commit(request: Any, message: str, *args: Any) -> None:
    """Log the event once the request's changes are stored (not when they are rolled back)."""
    request.pyshelf_events.append(lambda: EVENTS.info(message, *args))


_UNPRINTABLE = {i: f"\\x{i:02x}" for i in (*range(33), 127)}
# The message of a request's line; its arguments are REQUEST_FIELDS in this order.
REQUEST_LINE = "%s %s %s %s %s %s %.3fs"


def _printable(text: str) -> str:
    # A path may hold any byte (as a latin-1 character): none may break or forge a line.
    if text.isprintable() and " " not in text:
        return text
    return text.translate(_UNPRINTABLE)


class RequestLog:
    """WSGI middleware writing the request log; the outermost layer, so that every answer is
    in it, those that never reach Pyramid (cached simple pages, probes) included."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        # Callers (the command line, tests) reach the Pyramid registry through the app.
        self.registry = getattr(app, "registry", None)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if not REQUESTS.isEnabledFor(logging.INFO):
            return self.app(environ, start_response)
        answer: list[Any] = []

        def recording_start_response(status: str, headers: list[Any], *rest: Any) -> Any:
            answer[:] = (status, headers)
            return start_response(status, headers, *rest)

        started = time.perf_counter()
        try:
            body = self.app(environ, recording_start_response)
        except BaseException:
            self.write(environ, "500", "-", time.perf_counter() - started)
            raise
        size = "-"
        if answer and environ.get("REQUEST_METHOD") != "HEAD":
            for name, value in answer[1]:
                if name.lower() == "content-length":
                    size = value
                    break
        self.write(environ, answer[0][:3] if answer else "200", size,
                   time.perf_counter() - started)
        return body

    @staticmethod
    def write(environ: dict[str, Any], status: str, size: str, seconds: float) -> None:
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING")
        if query:
            path += "?" + query
        args = (
            environ.get("REMOTE_ADDR", "-"),
            environ.get(USER_KEY) or "-",
            _printable(environ.get("REQUEST_METHOD", "")),
            _printable(path),
            status,
            size if size.isdigit() else "-",
            seconds,
        )
        # The record made directly: Logger.info would look up its caller's source line on
        # every request, a good part of the log's cost, for a line that never shows it.
        REQUESTS.handle(REQUESTS.makeRecord(REQUESTS.name, logging.INFO, "", 0, REQUEST_LINE,
                                            args, None))


def wrap(app: Any) -> RequestLog:
    return RequestLog(app)
