"""Upstream's project list kept compactly: sorted, newline-terminated normalised names (about
13 MB for a million names, against several hundred MB as a Python set), read through a
read-only memory map of the stored blob (or from a bytes object, for small lists and tests).

Membership is a binary search over byte offsets; iteration yields the names in order, a slice
at a time, so a listing can be streamed without building it in memory. With a map, only the
pages a search touches become resident, and the pages a listing walked through are given back
(``MADV_DONTNEED``: they stay in the system's page cache) as it goes on, so serving the whole
list does not grow the process.

When a walk through the whole list ends, the C library is asked to hand the free memory of its
heaps back (``malloc_trim``, glibc only): each worker thread has its own malloc arena, and the
batches of a listing left ~1.7 MB of free but resident fragments in the arena of every thread
that served one (with 16 threads, up to ~27 MB).

A map stays valid when its blob is replaced or deleted (the store never rewrites a file in
place; an unlinked file lives on while mapped), so a listing that started on an older list
finishes on it. The map is closed when the last user lets go of the list (or by :meth:`close`).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..memory import release_free_memory

SLICE = 256 * 1024
_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)


def encode_names(names: Iterable[str]) -> bytes:
    """The blob for ``names``, which must already be sorted, unique and normalised."""
    return "".join(name + "\n" for name in names).encode("utf-8")


class NameList:
    def __init__(self, data: bytes | mmap.mmap, count: int | None = None) -> None:
        if isinstance(data, bytes) and data and not data.endswith(b"\n"):
            data += b"\n"
        self.data: bytes | mmap.mmap = data
        self._count = count

    @classmethod
    def open(cls, path: Path, count: int | None = None) -> NameList:
        """The list stored in the file ``path`` (newline-terminated), mapped read-only."""
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:  # an empty file cannot be mapped
                return cls(b"", 0)
            # The map holds its own reference to the file; the handle can go.
            data = mmap.mmap(handle.fileno(), size, access=mmap.ACCESS_READ)
        return cls(data, count)

    @property
    def mapped(self) -> bool:
        return isinstance(self.data, mmap.mmap)

    def close(self) -> None:
        """Unmap the blob now (later use raises ValueError)."""
        if isinstance(self.data, mmap.mmap):
            self.data.close()

    def __len__(self) -> int:
        if self._count is None:
            data = self.data
            self._count = sum(
                data[position:position + SLICE].count(b"\n")
                for position in range(0, len(data), SLICE)
            )
            self._release(0, len(data))
        return self._count

    def _release(self, start: int, end: int) -> None:
        """Let the map's pages in [start, end) go from this process's resident memory."""
        data = self.data
        if _DONTNEED is None or not isinstance(data, mmap.mmap):
            return
        start -= start % mmap.PAGESIZE
        if end >= len(data):
            end = len(data)
        else:
            end -= end % mmap.PAGESIZE
        if end > start:
            try:
                data.madvise(_DONTNEED, start, end - start)
            except (OSError, ValueError):
                pass

    def _first_at_least(self, target: bytes) -> int:
        """The offset of the first line >= ``target`` (the end when there is none)."""
        data = self.data
        lo, hi = 0, len(data)
        # Invariant: lo is the start of a line, hi is the start of a line (or the end), and the
        # first line >= target starts in [lo, hi].
        while lo < hi:
            mid = (lo + hi) // 2
            newline = data.rfind(b"\n", lo, mid)
            start = lo if newline < 0 else newline + 1
            end = data.find(b"\n", start)
            if data[start:end] < target:
                lo = end + 1
            else:
                hi = start
        return lo

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or not name or "\n" in name:
            return False
        target = name.encode("utf-8")
        data = self.data
        start = self._first_at_least(target)
        return data[start:start + len(target) + 1] == target + b"\n"

    def with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` names starting with ``prefix``, in order: a binary search for the
        first one, then a short walk (the web plugin's name lookup)."""
        if not prefix or "\n" in prefix or limit <= 0:
            return []
        target = prefix.encode("utf-8")
        data = self.data
        lo = self._first_at_least(target)
        found: list[str] = []
        while lo < len(data) and len(found) < limit:
            end = data.find(b"\n", lo)
            line = data[lo:end]
            if not line.startswith(target):
                break
            found.append(line.decode("utf-8"))
            lo = end + 1
        return found

    def iter_chunks(self) -> Iterator[list[bytes]]:
        """The names as lists of bytes, a slice of the blob at a time."""
        data = self.data
        position = 0
        try:
            while position < len(data):
                end = data.find(b"\n", min(position + SLICE, len(data) - 1))
                chunk = data[position:end]
                self._release(position, end + 1)
                if chunk:
                    yield chunk.split(b"\n")
                position = end + 1
        finally:
            if position > SLICE:  # a long walk (a listing), not a glance at a small list
                release_free_memory()

    def __iter__(self) -> Iterator[str]:
        for chunk in self.iter_chunks():
            for name in chunk:
                yield name.decode("utf-8")
