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
        digest = hashlib.sha256()
        size = 0
        fd, tmpname = tempfile.mkstemp(dir=self.tmpdir, prefix="blob-")
        tmp = Path(tmpname)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise BlobTooLarge(f"more than {max_size} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                if durable:
                    os.fsync(out.fileno())
            sha256 = digest.hexdigest()
            if expected_sha256 is not None and expected_sha256.lower() != sha256:
                raise BlobHashMismatch(expected_sha256.lower(), sha256)
            target = self.path(sha256)
            if target.exists():
                tmp.unlink()
                return StoredBlob(sha256, size, target, created=False)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            if durable:
                _fsync_dir(target.parent)
            return StoredBlob(sha256, size, target, created=True)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def temporary(self, prefix: str = "blob-") -> Path:
        """A new empty file in the store's temporary directory, for :meth:`adopt`."""
        fd, name = tempfile.mkstemp(dir=self.tmpdir, prefix=prefix)
        os.close(fd)
        return Path(name)

    def adopt(self, path: Path, *, sha256: str, size: int) -> StoredBlob:
        """Move ``path`` (a complete, fsynced file in the temporary directory whose sha256 the
        caller computed while writing it) into the store, without copying it again."""
        target = self.path(sha256)
        if target.exists():
            path.unlink(missing_ok=True)
            return StoredBlob(sha256, size, target, created=False)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        _fsync_dir(target.parent)
        return StoredBlob(sha256, size, target, created=True)

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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
