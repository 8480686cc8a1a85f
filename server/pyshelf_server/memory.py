"""Keeping the process's resident memory flat: two calls into the C library's allocator (glibc
on Linux; elsewhere they do nothing and say so)."""

from __future__ import annotations

import sys
from functools import cache
from typing import Any

# glibc's M_MMAP_THRESHOLD (malloc.h).
_M_MMAP_THRESHOLD = -3


@cache
def _libc_function(name: str) -> Any:
    """``name`` from the C library, or None where there is no such call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None


def fix_mmap_threshold(threshold: int = 128 * 1024) -> bool:
    """Keep glibc from raising its mmap threshold as the process runs.

    By default the first large block freed raises the threshold (up to 32 MB), and from then on
    large blocks (the pieces of a streamed listing, of a download, of an upload) come from the
    worker thread's own malloc arena. With 16 threads each arena keeps a few tens of MB of
    fragments: streaming the mirror's project list grew the process by ~20 MB per thread that
    served it. With a fixed threshold such blocks are mapped and unmapped, and resident memory
    stays flat. Returns whether the setting was applied.
    """
    mallopt = _libc_function("mallopt")
    return mallopt is not None and bool(mallopt(_M_MMAP_THRESHOLD, threshold))


def release_free_memory() -> bool:
    """Give the free memory of every malloc arena back to the system (glibc's
    ``malloc_trim(0)``); False where there is no such call.

    For work that briefly holds a lot and runs in a long-lived thread: the walk through the
    mirror's project list, a search indexing batch."""
    malloc_trim = _libc_function("malloc_trim")
    if malloc_trim is None:
        return False
    malloc_trim(0)
    return True
