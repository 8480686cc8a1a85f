"""The content-addressed file store.

A blob is stored once under its sha256 (``ab/abcd…``), however many indexes hold a file with
that content, in a directory (:class:`FileStore`) or under a prefix of an S3 bucket
(:class:`.s3.S3Store`), chosen by ``--storage-url``. Writes go to a temporary file on this
machine, are hashed while they are written and then moved into the store whole (a rename in a
directory, one PUT or a completed multipart upload on S3), so a reader never sees a
half-written blob and a crash leaves at most a stray temporary file (or an unfinished
multipart upload, which the orphan sweep aborts).

Each process writes its temporary files into a directory of its own under ``tmp/``
(``tmp/<host>-<pid>-<random>``), holding an advisory lock (``flock``) on that directory while
it lives. Several processes may share one store: a process cleans only the directories whose
owner is gone (the lock is free) or, where the file system cannot tell (NFS), in which nothing
changed for the grace period (:meth:`BlobStore.clean_temporary`).

The 256 fan-out directories of a directory store are made, and their entries synced, when the
store opens: a blob renamed into a directory made on the way could be lost with that
directory's entry in a crash unless the parent were synced too, which cost a second fsync for
most uploads to a young store. Stores written before 2026-11-22 kept blobs one level deeper
(``ab/cd/abcd…``); in such a store a blob missing from its place is looked for there, until
``pyshelf-server --migrate`` moves them (:meth:`FileStore.flatten`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import socket
import stat
import tempfile
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

CHUNK = 1024 * 1024
FAN_OUT = [f"{n:02x}" for n in range(256)]


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
    # False when a blob with this content was already stored before this write.
    created: bool


class BlobStore(ABC):
    """What every store does: blobs are written into a temporary directory of this process
    (hashed on the way), then moved into the store (:meth:`adopt`), and read back by sha256.

    Subclasses say where stored blobs live: :class:`FileStore` (a directory) or
    :class:`.s3.S3Store` (an S3 bucket). The temporary directory is always on this machine's
    disk, ``tmp/<host>-<pid>-<random>`` under ``spool_root``."""

    def __init__(self, spool_root: Path) -> None:
        self.tmproot = Path(spool_root)
        self.tmproot.mkdir(parents=True, exist_ok=True)
        host = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"
        self.tmpdir = self.tmproot / f"{host}-{os.getpid()}-{secrets.token_hex(4)}"
        self._spool_lock: weakref.finalize[Any, Any] | None = None
        self._open_spool()

    # -- what a store keeps ----------------------------------------------------------------

    @abstractmethod
    def adopt(self, path: Path, *, sha256: str, size: int, durable: bool = True) -> StoredBlob:
        """Move ``path`` (a complete file in the temporary directory, fsynced unless it need
        not be ``durable``, whose sha256 the caller computed while writing it) into the store.
        The blob becomes visible under its name only once it is complete."""

    @abstractmethod
    def exists(self, sha256: str) -> bool:
        """Whether blob ``sha256`` is stored."""

    @abstractmethod
    def size(self, sha256: str) -> int:
        """The stored blob's size; ``FileNotFoundError`` when it is not stored."""

    @abstractmethod
    def touch(self, sha256: str) -> bool:
        """Claim a stored blob for a row about to be committed: its modification time becomes
        now, so the orphan sweep (which removes only blobs untouched for its grace period)
        leaves it alone. False when the blob is not there (any more)."""

    @abstractmethod
    def local_path(self, sha256: str) -> Path:
        """A file on this machine's disk holding the blob, for readers that need one (a zip
        opened at random places, a map of the mirror's name list); ``FileNotFoundError``
        when it is not stored. Never written to."""

    def open(self, sha256: str) -> BinaryIO:
        """The blob opened for reading (seekable); ``FileNotFoundError`` when not stored."""
        return open(self.local_path(sha256), "rb")

    @abstractmethod
    def response(self, request: Any, sha256: str, content_type: str, filename: str) -> Any:
        """The answer that carries the blob's bytes (a Pyramid response, ranges honoured);
        ``FileNotFoundError`` when it is not stored. The caller adds the caching headers."""

    @abstractmethod
    def remove(self, sha256: str) -> None:
        """Remove blob ``sha256`` (nothing when it is not stored)."""

    @abstractmethod
    def remove_if_older(self, sha256: str, cutoff: float) -> bool:
        """Remove blob ``sha256`` unless it was modified (:meth:`touch`) since ``cutoff``."""

    def blobs_older_than(self, cutoff: float, batch: int) -> Iterator[list[str]]:
        """The stored blobs last modified before ``cutoff`` (a ``time.time()``), in lists of
        at most ``batch`` names."""
        found: list[str] = []
        for name in self._names_older_than(cutoff):
            found.append(name)
            if len(found) >= batch:
                yield found
                found = []
        if found:
            yield found

    @abstractmethod
    def _names_older_than(self, cutoff: float) -> Iterator[str]:
        """The names of the stored blobs last modified before ``cutoff``."""

    def flatten(self) -> int:
        """Move blobs of an older layout into today's (``--migrate``); how many moved."""
        return 0

    # -- this process's temporary directory -----------------------------------------------

    def _open_spool(self) -> None:
        """Make this process's temporary directory and hold the lock that says it is alive
        (until :meth:`close`, or until this store is garbage)."""
        self.tmpdir.mkdir(exist_ok=True)
        fd = os.open(self.tmpdir, os.O_RDONLY | os.O_DIRECTORY)
        with contextlib.suppress(OSError):  # no locks here: the grace rule holds instead
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if self._spool_lock is not None:
            self._spool_lock()
        self._spool_lock = weakref.finalize(self, os.close, fd)

    def close(self) -> None:
        """Remove this process's temporary directory (at shutdown)."""
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        if self._spool_lock is not None:
            self._spool_lock()

    def clean_temporary(self, grace_seconds: float, now: float) -> int:
        """Remove other processes' temporary directories whose owner is gone, or, where that
        cannot be told, in which nothing changed for ``grace_seconds``; and loose temporary
        files of older versions as old. Returns how many entries went."""
        cutoff = now - grace_seconds
        removed = 0
        for entry in os.scandir(self.tmproot):
            path = Path(entry.path)
            if path == self.tmpdir:
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if _spool_abandoned(path, cutoff):
                        shutil.rmtree(path, ignore_errors=True)
                        removed += 1
                elif entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:
                continue  # cleaned by another process first, or not ours to clean
        return removed

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

    def writer(
        self, *, max_size: int | None = None, prefix: str = "blob-", keep_up_to: int = 0
    ) -> BlobWriter:
        """A new blob written piece by piece into the temporary directory (then :meth:`adopt`
        it), for callers that cannot hand over an iterable of chunks. A blob of at most
        ``keep_up_to`` bytes is also kept in memory (``WrittenBlob.content``)."""
        fd, name = self._mkstemp(prefix)
        return BlobWriter(Path(name), max_size, open(fd, "wb"), keep_up_to=keep_up_to)

    def temporary(self, prefix: str = "blob-") -> Path:
        """A new empty file in the store's temporary directory, for :meth:`adopt`."""
        fd, name = self._mkstemp(prefix)
        os.close(fd)
        return Path(name)

    def _mkstemp(self, prefix: str) -> tuple[int, str]:
        try:
            return tempfile.mkstemp(dir=self.tmpdir, prefix=prefix)
        except FileNotFoundError:
            # Removed by another process that took this one for gone (a file system without
            # locks and a process idle for the grace period): make it again.
            self._open_spool()
            return tempfile.mkstemp(dir=self.tmpdir, prefix=prefix)


class FileStore(BlobStore):
    """Blobs in a directory (``ab/<sha256>``), with the temporary directory inside it
    (``tmp/``), so that a finished blob is renamed into place without being copied."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        super().__init__(self.root / "tmp")
        self._make_fan_out(set(os.listdir(self.root)))
        self._nested = self._holds_nested_blobs()

    def _make_fan_out(self, present: set[str]) -> None:
        missing = [name for name in FAN_OUT if name not in present]
        for name in missing:
            (self.root / name).mkdir(exist_ok=True)
        if missing:
            _fsync_dir(self.root)

    def _holds_nested_blobs(self) -> bool:
        return any(_may_hold_directories(self.root / name) for name in FAN_OUT)

    def path(self, sha256: str) -> Path:
        flat = self.root / sha256[:2] / sha256
        if self._nested and not flat.exists():
            nested = self.root / sha256[:2] / sha256[2:4] / sha256
            if nested.exists():
                return nested
        return flat

    def local_path(self, sha256: str) -> Path:
        path = self.path(sha256)
        if not path.exists():
            raise FileNotFoundError(path)
        return path

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def size(self, sha256: str) -> int:
        return self.path(sha256).stat().st_size

    def response(self, request: Any, sha256: str, content_type: str, filename: str) -> Any:
        from pyramid.response import FileResponse

        # sendfile from the store's own file; WebOb answers ranges and If-Range.
        response = FileResponse(str(self.path(sha256)), request=request, content_type=None)
        response.headers["Content-Type"] = content_type
        return response

    def touch(self, sha256: str) -> bool:
        try:
            os.utime(self.path(sha256))
        except FileNotFoundError:
            return False
        return True

    def _names_older_than(self, cutoff: float) -> Iterator[str]:
        """The flat layout's blobs only (the nested one waits for ``--migrate``)."""
        for outer in FAN_OUT:
            with contextlib.suppress(FileNotFoundError), os.scandir(self.root / outer) as entries:
                for entry in entries:
                    if not _is_blob_name(entry.name):
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        info = entry.stat(follow_symlinks=False)
                        if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                            yield entry.name

    def remove_if_older(self, sha256: str, cutoff: float) -> bool:
        path = self.root / sha256[:2] / sha256
        try:
            if os.stat(path).st_mtime >= cutoff:
                return False
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def adopt(self, path: Path, *, sha256: str, size: int, durable: bool = True) -> StoredBlob:
        target = self.path(sha256)
        if self.touch(sha256):
            path.unlink(missing_ok=True)
            return StoredBlob(sha256, size, created=False)
        try:
            os.replace(path, target)
        except FileNotFoundError:
            if not path.exists():
                raise
            # The fan-out directory was removed behind the server's back: make it again.
            self._make_fan_out(set(os.listdir(self.root)))
            os.replace(path, target)
        if durable:
            _fsync_dir(target.parent)
        return StoredBlob(sha256, size, created=True)

    def flatten(self) -> int:
        """Move the blobs of the nested layout to their flat places (``pyshelf-server
        --migrate``, with the server stopped); return how many moved. Each move is a rename,
        and a directory is removed only after the new entries are synced, so an interrupted
        run leaves every blob in one of the two places a lookup tries."""
        moved = 0
        for outer in FAN_OUT:
            outer_dir = self.root / outer
            inner_dirs = [
                entry for entry in os.scandir(outer_dir) if entry.is_dir(follow_symlinks=False)
            ]
            for inner in inner_dirs:
                for entry in os.scandir(inner.path):
                    if not _is_blob_name(entry.name) or not entry.is_file(follow_symlinks=False):
                        continue
                    target = outer_dir / entry.name
                    if target.exists():
                        os.unlink(entry.path)
                    else:
                        os.replace(entry.path, target)
                        moved += 1
                _fsync_dir(outer_dir)
                with contextlib.suppress(OSError):  # not empty: something else lives there
                    os.rmdir(inner.path)
        self._nested = self._holds_nested_blobs()
        return moved

    def remove(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)


def open_store(settings: Any) -> BlobStore:
    """The store ``settings`` name (``--storage-url``): a directory, or an S3 bucket whose
    temporary directory is ``tmp`` in the server directory. ``StorageError`` when it cannot
    be used."""
    from ..settings import S3Location

    location = settings.storage
    if isinstance(location, S3Location):
        from .s3 import S3Store

        return S3Store.connect(
            location,
            spool_root=settings.serverdir / "tmp",
            endpoint_url=settings.s3_endpoint_url or None,
            redirect=settings.s3_redirect,
            connections=settings.threads + 4,
        )
    if settings.s3_redirect:
        raise StorageError("--s3-redirect needs an s3:// --storage-url")
    return FileStore(location)


class StorageError(Exception):
    """The store cannot be used as configured; the message says why."""


@dataclass(frozen=True)
class WrittenBlob:
    """A blob complete in the temporary directory, not yet in the store."""

    path: Path
    sha256: str
    size: int
    # The bytes, when the writer was asked to keep a blob this small.
    content: bytes | None = None


class BlobWriter:
    """Writes a blob into a temporary file, hashing it and checking its size on the way.

    :meth:`finish` syncs and closes it; :meth:`abandon` removes it unless it was finished.
    """

    def __init__(
        self,
        path: Path,
        max_size: int | None,
        out: BinaryIO | None = None,
        *,
        keep_up_to: int = 0,
    ) -> None:
        self.path = path
        self.max_size = max_size
        # The caller's file when it created one (no second open of the same path).
        self.out: BinaryIO | None = out if out is not None else open(path, "wb")
        self.digest = hashlib.sha256()
        self.size = 0
        self.keep_up_to = keep_up_to
        self.kept: list[bytes] | None = [] if keep_up_to > 0 else None

    def write(self, data: bytes | bytearray) -> None:
        self.size += len(data)
        if self.max_size is not None and self.size > self.max_size:
            raise BlobTooLarge(f"more than {self.max_size} bytes")
        self.digest.update(data)
        assert self.out is not None
        self.out.write(data)
        if self.kept is not None:
            if self.size <= self.keep_up_to:
                self.kept.append(bytes(data))  # a copy: the caller may reuse its buffer
            else:
                self.kept = None

    def finish(self, *, durable: bool = True) -> WrittenBlob:
        assert self.out is not None
        self.out.flush()
        if durable:
            os.fsync(self.out.fileno())
        self.out.close()
        self.out = None
        content = b"".join(self.kept) if self.kept is not None else None
        return WrittenBlob(self.path, self.digest.hexdigest(), self.size, content)

    def abandon(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None
            self.path.unlink(missing_ok=True)


_HEX = frozenset("0123456789abcdef")


def _spool_abandoned(spool: Path, cutoff: float) -> bool:
    """Whether a temporary directory's owner is gone: its lock is free, or, when the lock
    cannot be tested, nothing in it changed since ``cutoff``."""
    fd = os.open(spool, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError:
        pass  # no locks on directories here: decide by age
    finally:
        os.close(fd)
    newest = os.stat(spool).st_mtime
    for entry in os.scandir(spool):
        with contextlib.suppress(FileNotFoundError):
            newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
    return newest < cutoff


def _is_blob_name(name: str) -> bool:
    return len(name) == 64 and set(name) <= _HEX


def _may_hold_directories(path: Path) -> bool:
    """False only when ``path`` surely has no subdirectory: a directory's link count is 2
    plus its subdirectories on ext4 and XFS; file systems that do not count (btrfs says 1)
    get the nested lookups, which cost only a second look for a blob that is missing."""
    return os.stat(path).st_nlink != 2


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
