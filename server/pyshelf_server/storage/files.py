"""The content-addressed file store.

A blob is stored once under its sha256 (``ab/cd/abcd…``), however many indexes hold a file with
that content. Writes go to a temporary file in the same file system, are hashed while they are
written, fsynced and then renamed into place, so a reader never sees a half-written blob and a
crash leaves at most a stray temporary file (cleaned at start).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024


class BlobTooLarge(Exception):
    """The stream was longer than the allowed size; nothing was kept."""


class BlobHashMismatch(Exception):
    """The stream's hash differs from the expected one; nothing was kept."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"expected sha256 {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    path: Path
    # False when a blob with this content was already stored before this write.
    created: bool


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmpdir = self.root / "tmp"
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        # Fan-out directories (``sha256[:2]``, ``sha256[:4]``) known to exist with their
        # entries synced.
        self._durable_dirs: set[str] = set()

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def clean_temporary(self) -> None:
        for leftover in self.tmpdir.iterdir():
            leftover.unlink(missing_ok=True)

    def put_stream(
        self,
        stream: BinaryIO,
        *,
        max_size: int | None = None,
        expected_sha256: str | None = None,
    ) -> StoredBlob:
        return self.put_chunks(
            iter(lambda: stream.read(CHUNK), b""),
            max_size=max_size,
            expected_sha256=expected_sha256,
        )

    def put_bytes(self, data: bytes, *, durable: bool = True) -> StoredBlob:
        return self.put_chunks([data], durable=durable)

    def put_chunks(
        self,
        chunks: Iterable[bytes],
        *,
        max_size: int | None = None,
        expected_sha256: str | None = None,
        durable: bool = True,
    ) -> StoredBlob:
        writer = self.writer(max_size=max_size)
        try:
            for chunk in chunks:
                writer.write(chunk)
            written = writer.finish(durable=durable)
            if expected_sha256 is not None and expected_sha256.lower() != written.sha256:
                written.path.unlink(missing_ok=True)
                raise BlobHashMismatch(expected_sha256.lower(), written.sha256)
            return self.adopt(
                written.path, sha256=written.sha256, size=written.size, durable=durable
            )
        finally:
            writer.abandon()

    def writer(self, *, max_size: int | None = None, prefix: str = "blob-") -> BlobWriter:
        """A new blob written piece by piece into the temporary directory (then :meth:`adopt`
        it), for callers that cannot hand over an iterable of chunks."""
        fd, name = tempfile.mkstemp(dir=self.tmpdir, prefix=prefix)
        return BlobWriter(Path(name), max_size, open(fd, "wb"))

    def temporary(self, prefix: str = "blob-") -> Path:
        """A new empty file in the store's temporary directory, for :meth:`adopt`."""
        fd, name = tempfile.mkstemp(dir=self.tmpdir, prefix=prefix)
        os.close(fd)
        return Path(name)

    def adopt(self, path: Path, *, sha256: str, size: int, durable: bool = True) -> StoredBlob:
        """Move ``path`` (a complete file in the temporary directory, fsynced unless it need
        not be ``durable``, whose sha256 the caller computed while writing it) into the store,
        without copying it again."""
        target = self.path(sha256)
        if target.exists():
            path.unlink(missing_ok=True)
            return StoredBlob(sha256, size, target, created=False)
        if durable:
            self._ensure_durable_parents(sha256)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, target)
        except FileNotFoundError:
            if not path.exists():
                raise
            # The fan-out directory was removed behind the server's back: make it again.
            self._durable_dirs.difference_update((sha256[:2], sha256[:4]))
            self._ensure_durable_parents(sha256)
            os.replace(path, target)
        if durable:
            _fsync_dir(target.parent)
        return StoredBlob(sha256, size, target, created=True)

    def _ensure_durable_parents(self, sha256: str) -> None:
        """Make the two fan-out directories of ``sha256`` exist with their own entries synced.

        A new directory's entry lives in its parent: syncing only the directory a blob was
        renamed into could lose the directory, and the blob with it, in a crash (ext4 without
        a journal does). A directory is remembered only once its entry was synced, by this
        thread or an earlier one; a thread that finds it present but not remembered (another
        may have made it and not synced it yet) syncs the entry itself. After that a set
        lookup replaces the ``mkdir`` call that used to find it present.
        """
        for prefix in (sha256[:2], sha256[:4]):
            if prefix not in self._durable_dirs:
                directory = self.root / prefix[:2] / prefix[2:]
                directory.mkdir(exist_ok=True)
                _fsync_dir(directory.parent)
                self._durable_dirs.add(prefix)

    def remove(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def used_bytes(self) -> int:
        total = 0
        for dirpath, _dirnames, filenames in os.walk(self.root):
            for name in filenames:
                try:
                    total += os.stat(os.path.join(dirpath, name)).st_size
                except OSError:
                    pass
        return total


@dataclass(frozen=True)
class WrittenBlob:
    """A blob complete in the temporary directory, not yet in the store."""

    path: Path
    sha256: str
    size: int


class BlobWriter:
    """Writes a blob into a temporary file, hashing it and checking its size on the way.

    :meth:`finish` syncs and closes it; :meth:`abandon` removes it unless it was finished.
    """

    def __init__(self, path: Path, max_size: int | None, out: BinaryIO | None = None) -> None:
        self.path = path
        self.max_size = max_size
        # The caller's file when it created one (no second open of the same path).
        self.out: BinaryIO | None = out if out is not None else open(path, "wb")
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray) -> None:
        self.size += len(data)
        if self.max_size is not None and self.size > self.max_size:
            raise BlobTooLarge(f"more than {self.max_size} bytes")
        self.digest.update(data)
        assert self.out is not None
        self.out.write(data)

    def finish(self, *, durable: bool = True) -> WrittenBlob:
        assert self.out is not None
        self.out.flush()
        if durable:
            os.fsync(self.out.fileno())
        self.out.close()
        self.out = None
        return WrittenBlob(self.path, self.digest.hexdigest(), self.size)

    def abandon(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None
            self.path.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
