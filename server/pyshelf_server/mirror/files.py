"""Mirrored files: served from the store once downloaded; the first request downloads them.

One download per file at a time, whatever the number of requests: the download runs in a
thread of its own, writing into a temporary file of the store while hashing; every request
for that file reads the temporary file as it grows (bytes are passed on as they arrive). The
last byte is held back from the clients until the whole file is verified against upstream's
hash, so no client ever receives a complete but wrong file. A download verified within
``STREAM_AFTER`` seconds is answered like a stored file (or with a 502 when it failed); a longer
one is streamed, and a failure then cuts the connection short, which every installer reports as
a broken download.

Once verified, the clients are answered at once; making the file durable (fsync), moving it
into the store and recording it in the database follow in the download's thread, off their
critical path. Requests arriving meanwhile join the download and read the same verified file.

A client that disconnects does not stop the download: the next request finds the file stored.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from pyramid.response import Response
from sqlalchemy.exc import IntegrityError

from ..db import utcnow
from ..fileresponses import blob_response, content_type, immutable_headers, not_modified
from ..storage.files import CHUNK
from .links import verifying_hash
from .models import MirrorFile
from .runtime import Memory
from .upstream import UpstreamBusy, UpstreamError, host_of, safe_url

log = logging.getLogger(__name__)

# How long the first request waits for a download to finish before it starts streaming.
STREAM_AFTER = 1.0
# How long a finished download is remembered in memory: requests whose database snapshot
# predates the download's row still find the stored file.
REMEMBER_SECONDS = 600.0


class DownloadFailed(Exception):
    """Raised inside a streamed answer whose download failed: the connection is cut."""


@dataclass(frozen=True)
class FileRecord:
    """What is written to ``mirror_files`` once the download is verified."""

    index_id: int
    project: str
    filename: str
    key: str
    version: str | None
    url: str


@dataclass
class Download:
    tmp: Path
    # ``host:port`` of the file's URL (see ``upstream.host_of``).
    host: str = ""
    cond: threading.Condition = field(default_factory=threading.Condition)
    written: int = 0
    length: int | None = None
    content_type: str | None = None
    answered: bool = False
    # All bytes are there and match upstream's hash (or upstream gave none and the length is
    # right): clients may have the last byte.
    verified: bool = False
    finished: bool = False
    error: str | None = None
    sha256: str | None = None
    # Where the bytes are: ``tmp`` until the file is moved into the store.
    path: Path | None = None

    def wait(self, predicate: Any, timeout: float | None) -> None:
        with self.cond:
            self.cond.wait_for(predicate, timeout)

    def ready(self) -> bool:
        """Whether the outcome is known: verified, or failed."""
        return self.verified or self.finished

    def reader(self) -> Any:
        """An open handle on the file (growing, verified, or stored by now), or None when the
        download failed before it was verified."""
        with self.cond:
            if self.error is not None and not self.verified:
                return None
            return open(self.path or self.tmp, "rb")  # closed by chunks()

    def _more_than(self, sent: int) -> bool:
        return self.verified or self.finished or self.written - 1 > sent

    def chunks(self, handle: Any, done: Callable[[], None] | None = None) -> Iterator[bytes]:
        """The file's bytes as they arrive; the last byte only once it is verified. ``done``
        is called when they end (sent, failed, or the client went away)."""
        sent = 0
        try:
            while True:
                with self.cond:
                    self.cond.wait_for(partial(self._more_than, sent), 60)
                    verified, error, written = self.verified, self.error, self.written
                if not verified and error is not None:
                    raise DownloadFailed(error)
                limit = written if verified else written - 1
                while sent < limit:
                    data = handle.read(min(CHUNK, limit - sent))
                    if not data:
                        break
                    sent += len(data)
                    yield data
                if verified and sent >= written:
                    return
        finally:
            handle.close()
            if done is not None:
                done()


class Downloads:
    """The downloads running in this process, by file."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self._lock = threading.Lock()
        self._active: dict[tuple[int, str, str], Download] = {}
        # (index id, filename, key) -> sha256 of a download that finished lately.
        self.completed = Memory()

    def start_or_join(self, record: FileRecord, hashes: dict[str, str]) -> Download:
        key = (record.index_id, record.filename, record.key)
        host = host_of(record.url)
        with self._lock:
            download = self._active.get(key)
            if download is not None:
                return download
            # A download goes on after the requests for it have gone: without this bound,
            # requests for ever new files of a stalled host would pile up threads.
            running = sum(1 for active in self._active.values() if active.host == host)
            if running >= self.runtime.places.limit:
                raise UpstreamBusy(
                    f"upstream {host} is busy: {running} downloads from it are running already; "
                    "try again shortly"
                )
            download = Download(tmp=self.runtime.app.files.temporary(prefix="mirror-"), host=host)
            self._active[key] = download
        thread = threading.Thread(
            target=self._run, args=(key, download, record, hashes), daemon=True,
            name=f"mirror-download-{record.filename}",
        )
        thread.start()
        return download

    def settle(self, timeout: float) -> bool:
        """Wait until the downloads running now are stored (or failed); False on timeout."""
        with self._lock:
            running = list(self._active.values())
        for download in running:
            download.wait(lambda d=download: d.finished, timeout)
        return all(download.finished for download in running)

    def _run(
        self, key: Any, download: Download, record: FileRecord, hashes: dict[str, str]
    ) -> None:
        try:
            sha256, size = self._fetch(download, record, hashes)
            record_file(self.runtime.app, record, sha256, size)
            self.completed.put(key, sha256, REMEMBER_SECONDS)
        except Exception as error:
            if not isinstance(error, UpstreamError | DownloadFailed):
                log.exception("downloading %s failed", safe_url(record.url))
            message = str(error) or type(error).__name__
            download.tmp.unlink(missing_ok=True)
            with download.cond:
                download.error = message
        finally:
            with self._lock:
                self._active.pop(key, None)
            with download.cond:
                download.finished = True
                download.answered = True
                download.cond.notify_all()

    def _fetch(
        self, download: Download, record: FileRecord, hashes: dict[str, str]
    ) -> tuple[str, int]:
        expected = verifying_hash(hashes)
        digest = hashlib.sha256()
        check = hashlib.new(expected[0]) if expected and expected[0] != "sha256" else None
        size = 0
        where = safe_url(record.url)
        with self.runtime.upstream.stream(record.url) as response:
            length = response.headers.get("content-length")
            with download.cond:
                download.content_type = response.headers.get("content-type")
                download.length = int(length) if length and length.isdigit() else None
                download.answered = True
                download.cond.notify_all()
            with open(download.tmp, "wb") as out:
                try:
                    # Pieces as they come off the connection (not gathered into CHUNK-sized
                    # ones), so the clients get them as soon as upstream sends them.
                    for chunk in response.iter_raw():
                        digest.update(chunk)
                        if check is not None:
                            check.update(chunk)
                        out.write(chunk)
                        out.flush()
                        size += len(chunk)
                        with download.cond:
                            download.written = size
                            download.cond.notify_all()
                except UpstreamError:
                    raise
                except Exception as error:
                    raise DownloadFailed(f"download from {where} broke off: {error}") from None
                if download.length is not None and size != download.length:
                    raise DownloadFailed(
                        f"download from {where} broke off after {size} of {download.length} bytes"
                    )
                sha256 = digest.hexdigest()
                actual = sha256 if check is None else check.hexdigest()
                if expected is not None and actual != expected[1]:
                    raise DownloadFailed(
                        f"{record.filename} from {where} does not match its {expected[0]} "
                        f"(expected {expected[1]}, got {actual})"
                    )
                with download.cond:
                    download.sha256 = sha256
                    download.verified = True
                    download.cond.notify_all()
                # The clients have their answer; what follows only keeps the file.
                os.fsync(out.fileno())
        with download.cond:
            blob = self.runtime.app.files.adopt(download.tmp, sha256=sha256, size=size)
            download.path = self.runtime.app.files.local_path(blob.sha256)
        return sha256, size


def record_file(app: Any, record: FileRecord, sha256: str, size: int) -> None:
    """Remember a verified file in ``mirror_files``, in a short transaction of its own."""
    session = app.sessions(write=True)
    try:
        session.add(
            MirrorFile(
                index_id=record.index_id, project=record.project, filename=record.filename,
                key=record.key, sha256=sha256, size=size, version=record.version,
                url=record.url, stored=utcnow(),
            )
        )
        session.flush()
        # Storing a downloaded file changes nothing a client sees: no new serial.
        session.info["wrote"] = False
        session.commit()
    except IntegrityError:
        session.rollback()  # recorded by another process first
    finally:
        session.close()


def stored_response(request: Any, files: Any, sha256: str, filename: str,
                    modified: datetime | None) -> Response:
    return blob_response(request, files, sha256, filename, modified)


def verified_response(request: Any, download: Download, handle: Any, filename: str) -> Response:
    """A verified file that is still being stored: the headers of a stored file, the bytes
    from the handle opened on it."""
    assert download.sha256 is not None
    if not_modified(request, download.sha256):
        handle.close()
        response = Response(status=304)
    else:
        response = Response(content_type=None)
        response.headers["Content-Type"] = content_type(filename)
        response.content_length = download.written
        if request.method == "HEAD":
            handle.close()
        else:
            response.app_iter = download.chunks(handle)
    return immutable_headers(response, download.sha256, None)


def streamed_response(
    request: Any, download: Download, handle: Any, done: Callable[[], None]
) -> Response:
    """The first answer for a file still downloading: upstream's type and length, bytes as
    they arrive, no caching headers. ``done`` is called once the answer has ended."""
    response = Response(content_type=None)
    response.headers["Content-Type"] = download.content_type or "application/octet-stream"
    if download.length is not None:
        response.content_length = download.length
    response.headers["X-Accel-Buffering"] = "no"
    if request.method == "HEAD":
        handle.close()
        done()
        return response
    response.app_iter = download.chunks(handle, done)
    return response
