"""Reading a legacy upload's multipart body in one pass.

The form fields are kept in memory, within limits; the ``content`` file part is written
straight into a temporary file of the store and hashed on the way, so that its bytes are
copied once. (WebOb's parser spooled every file part to a temporary file of its own, which the
upload then copied again.) A body cut short, without its closing boundary, is refused: it
would otherwise be taken for a complete form whose last part is the whole file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from multipart import (
    MultipartError,
    MultipartSegment,
    ParserLimitReached,
    PushMultipartParser,
    parse_options_header,
)

from ..responses import APIError
from ..storage.files import FileStore

CHUNK = 256 * 1024
# twine sends about 30 fields; the description (a project's whole README) is the largest.
MAX_PARTS = 1000
MAX_FIELD_BYTES = 8 * 1024 * 1024
MAX_FIELDS_TOTAL = 16 * 1024 * 1024


@dataclass
class ReceivedFile:
    """The ``content`` part, fsynced in the store's temporary directory."""

    filename: str
    path: Path
    sha256: str
    size: int


@dataclass
class UploadForm:
    fields: dict[str, list[str]] = field(default_factory=dict)
    content: ReceivedFile | None = None

    def discard(self) -> None:
        """Remove the received file unless the store adopted it."""
        if self.content is not None:
            self.content.path.unlink(missing_ok=True)


def read_upload_form(
    stream: BinaryIO,
    *,
    content_type: str,
    content_length: int | None,
    files: FileStore,
    max_file_size: int,
) -> UploadForm:
    _type, options = parse_options_header(content_type)
    boundary = options.get("boundary")
    if not boundary:
        raise APIError(400, "malformed multipart form data: no boundary")
    form = UploadForm()
    try:
        _parse(stream, boundary, content_length, form, files, max_file_size)
    except BaseException:
        form.discard()
        raise
    return form


def _parse(
    stream: BinaryIO,
    boundary: str,
    content_length: int | None,
    form: UploadForm,
    files: FileStore,
    max_file_size: int,
) -> None:
    length = content_length if content_length is not None else -1
    remaining = length
    fields_total = 0
    segment: MultipartSegment | None = None
    value = bytearray()
    sink: _FileSink | None = None
    try:
        parser = PushMultipartParser(
            boundary, content_length=length, max_header_count=16, max_segment_count=MAX_PARTS
        )
        while True:
            chunk = stream.read(CHUNK if remaining < 0 else min(CHUNK, remaining))
            if remaining > 0:
                remaining -= len(chunk)
            if not chunk:
                break
            for event in parser.parse(chunk):
                if isinstance(event, MultipartSegment):
                    segment = event
                    value.clear()
                    if event.filename is not None and event.name == "content" and not form.content:
                        sink = _FileSink(files, event.filename, max_file_size)
                elif event is None:
                    if sink is not None:
                        form.content = sink.finish()
                        sink = None
                    elif segment is not None and segment.filename is None:
                        form.fields.setdefault(segment.name or "", []).append(
                            value.decode("utf-8", "replace")
                        )
                    segment = None
                elif sink is not None:
                    sink.write(event)
                elif segment is not None and segment.filename is None:
                    fields_total += len(event)
                    if len(value) + len(event) > MAX_FIELD_BYTES or fields_total > MAX_FIELDS_TOTAL:
                        raise APIError(413, f"form field {segment.name!r} is too large")
                    value += event
                # Other file parts (twine's gpg_signature) are read past.
        try:
            parser.close(check_complete=True)
        except MultipartError:
            raise APIError(
                400, "truncated multipart form data: the closing boundary is missing"
            ) from None
    except ParserLimitReached as error:
        raise APIError(413, f"multipart form data over a limit: {error}") from None
    except MultipartError as error:
        raise APIError(400, f"malformed multipart form data: {error}") from None
    finally:
        if sink is not None:
            sink.abandon()


class _FileSink:
    def __init__(self, files: FileStore, filename: str, max_size: int) -> None:
        self.filename = filename
        self.max_size = max_size
        self.path = files.temporary(prefix="upload-")
        self.out = open(self.path, "wb")
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray) -> None:
        self.size += len(data)
        if self.size > self.max_size:
            raise APIError(413, f"file is larger than the allowed {self.max_size} bytes")
        self.digest.update(data)
        self.out.write(data)

    def finish(self) -> ReceivedFile:
        self.out.flush()
        os.fsync(self.out.fileno())
        self.out.close()
        received = ReceivedFile(self.filename, self.path, self.digest.hexdigest(), self.size)
        self.out = None  # type: ignore[assignment]
        return received

    def abandon(self) -> None:
        """Throw away what was written, unless :meth:`finish` handed it over."""
        if self.out is not None:
            self.out.close()
            self.path.unlink(missing_ok=True)


def receive_stream(
    files: FileStore, filename: str, stream: BinaryIO, max_size: int
) -> ReceivedFile:
    """A file that arrived some other way than a form (a push between indexes, a test)."""
    sink = _FileSink(files, filename, max_size)
    try:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            sink.write(chunk)
        return sink.finish()
    finally:
        sink.abandon()
