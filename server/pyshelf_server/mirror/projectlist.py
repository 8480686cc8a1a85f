"""Upstream's project list kept compactly: one bytes object of sorted, newline-terminated
normalised names (about 11 MB for a million names, against several hundred MB as a Python set).

Membership is a binary search over byte offsets; iteration yields the names in order, a slice
at a time, so a listing can be streamed without building it in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

SLICE = 256 * 1024


def encode_names(names: Iterable[str]) -> bytes:
    """The blob for ``names``, which must already be sorted, unique and normalised."""
    return "".join(name + "\n" for name in names).encode("utf-8")


class NameList:
    def __init__(self, data: bytes) -> None:
        if data and not data.endswith(b"\n"):
            data += b"\n"
        self.data = data

    def __len__(self) -> int:
        return self.data.count(b"\n")

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or not name or "\n" in name:
            return False
        target = name.encode("utf-8")
        data = self.data
        lo, hi = 0, len(data)
        # Invariant: lo is the start of a line, hi is the start of a line (or the end), and the
        # name, if present, starts in [lo, hi).
        while lo < hi:
            mid = (lo + hi) // 2
            newline = data.rfind(b"\n", lo, mid)
            start = lo if newline < 0 else newline + 1
            end = data.find(b"\n", start)
            line = data[start:end]
            if line == target:
                return True
            if line < target:
                lo = end + 1
            else:
                hi = start
        return False

    def with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` names starting with ``prefix``, in order: a binary search for the
        first one, then a short walk (the web plugin's name lookup)."""
        if not prefix or "\n" in prefix or limit <= 0:
            return []
        target = prefix.encode("utf-8")
        data = self.data
        lo, hi = 0, len(data)
        # As in __contains__, lo and hi are line starts; this finds the first line >= target.
        while lo < hi:
            mid = (lo + hi) // 2
            newline = data.rfind(b"\n", lo, mid)
            start = lo if newline < 0 else newline + 1
            end = data.find(b"\n", start)
            if data[start:end] < target:
                lo = end + 1
            else:
                hi = start
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
        while position < len(data):
            end = data.find(b"\n", min(position + SLICE, len(data) - 1))
            chunk = data[position:end]
            if chunk:
                yield chunk.split(b"\n")
            position = end + 1

    def __iter__(self) -> Iterator[str]:
        for chunk in self.iter_chunks():
            for name in chunk:
                yield name.decode("utf-8")
