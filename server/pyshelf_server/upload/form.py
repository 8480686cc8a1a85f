"""Reading a legacy upload's multipart body in one pass.

The form fields are kept in memory, within limits; the ``content`` file part is written
straight into a temporary file of the store and hashed on the way, so that its bytes are
copied once. (WebOb's parser spooled every file part to a temporary file of its own, which the
upload then copied again.) A body cut short, without its closing boundary, is refused: it
would otherwise be taken for a complete form whose last part is the whole file.
"""

from __future__ import annotations

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
from ..storage.files import BlobStore, BlobTooLarge, BlobWriter

CHUNK = 256 * 1024
# twine sends about 30 fields; the description (a project's whole README) is the largest.
MAX_PARTS = 1000
MAX_FIELD_BYTES = 8 * 1024 * 1024
MAX_FIELDS_TOTAL = 16 * 1024 * 1024
# An uploaded file this small is also kept in memory, so that reading its metadata and
# checking its digests needs no more system calls (each one lets go of the interpreter lock
# and waits to get it back when uploads run side by side).
KEEP_IN_MEMORY_BYTES = 4 * 1024 * 1024


@dataclass
class ReceivedFile:
    """The ``content`` part, fsynced in the store's temporary directory."""

    filename: str
    path: Path
    sha256: str
    size: int
    # Its bytes too, when it is small (KEEP_IN_MEMORY_BYTES).
    content: bytes | None = None
    # Moved into the store (or found there already): nothing is left at ``path``.
    adopted: bool = False


@dataclass
class UploadForm:
    fields: dict[str, list[str]] = field(default_factory=dict)
    content: ReceivedFile | None = None

    def discard(self) -> None:
        """Remove the received file unless the store adopted it."""
        if self.content is not None and not self.content.adopted:
            self.content.path.unlink(missing_ok=True)


def read_upload_form(
    stream: BinaryIO,
    *,
    content_type: str,
    content_length: int | None,
    files: BlobStore,
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
    files: BlobStore,
    max_file_size: int,
) -> None:
    length = content_length if content_length is not None else -1
    remaining = length
    fields_total = 0
    segment: MultipartSegment | None = None
    value = bytearray()
    # Where the content part is being written (while ``segment`` is that part).
    sink: BlobWriter | None = None
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
                        sink = files.writer(
                            max_size=max_file_size,
                            prefix="upload-",
                            keep_up_to=KEEP_IN_MEMORY_BYTES,
                        )
                elif event is None:
                    if sink is not None and segment is not None:
                        form.content = _received(segment.filename or "", sink)
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
    except BlobTooLarge:
        raise APIError(413, f"file is larger than the allowed {max_file_size} bytes") from None
    except ParserLimitReached as error:
        raise APIError(413, f"multipart form data over a limit: {error}") from None
    except MultipartError as error:
        raise APIError(400, f"malformed multipart form data: {error}") from None
    finally:
        if sink is not None:
            sink.abandon()


def _received(filename: str, writer: BlobWriter) -> ReceivedFile:
    written = writer.finish()
    return ReceivedFile(filename, written.path, written.sha256, written.size, written.content)


def receive_stream(
    files: BlobStore, filename: str, stream: BinaryIO, max_size: int
) -> ReceivedFile:
    """A file that arrives as a plain stream rather than a form part (tests use it)."""
    writer = files.writer(max_size=max_size, prefix="upload-")
    try:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            writer.write(chunk)
        return _received(filename, writer)
    except BlobTooLarge:
        raise APIError(413, f"file is larger than the allowed {max_size} bytes") from None
    finally:
        writer.abandon()
